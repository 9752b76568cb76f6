"""The portfolio import (docs/import-format.md): a hand-written portfolio whose balances are worked
out by hand, the same as XLSX, re-import, one test per kind of bad row, the command."""

import codecs
import copy
import csv
import datetime as dt
import hashlib
import io
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import openpyxl
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.utils import translation

from borrowers.models import (
    Chapter,
    Commune,
    GroupMembership,
    Household,
    HouseholdCategory,
    Office,
    SavingsGroup,
    Village,
)
from loans import selectors, services
from loans.models import (
    ClosedMonth,
    ImportBatch,
    Instalment,
    Loan,
    LoanTransaction,
    Programme,
    ProgrammeRule,
)
from loans.money import MAX_AMOUNT
from loans.selectors import ledger_mismatches
from seeding.importer import (
    FIELD_LIMIT,
    FILES,
    ImportFailed,
    import_portfolio,
    in_memory,
    read_portfolio,
)

from ..conftest import key
from ..factories import VillageFactory

GOOD = Path(__file__).parent / "import_fixtures" / "good"
ERROR_LINE = re.compile(r"^[a-z]+\.csv:\d+: [a-z_\-]+: \S.*$")
M = 1_000_000

# loan: (outstanding, overdue, frozen, disbursed, status, first disbursed on), worked out by hand
EXPECTED_LOANS = {
    # 50 M disbursed, 5 M repaid in 2020 and 5 M in 2021.
    "L1": (40 * M, 0, 0, 50 * M, "active", dt.date(2019, 3, 15)),
    # 40 M disbursed, 5 M repaid, a second 5 M entered twice and reversed.
    "L2": (35 * M, 0, 0, 40 * M, "active", dt.date(2020, 1, 20)),
    # Two tranches of 20 + 10 M; 5 M to overdue, then 3 M repaid from the overdue part first.
    "L3": (27 * M, 2 * M, 0, 30 * M, "active", dt.date(2019, 6, 10)),
    # 150 M for two workers (cap 2 × 100 M); interest entered, reversed, entered again.
    "L4": (150 * M, 0, 0, 150 * M, "active", dt.date(2020, 8, 15)),
    # 20 M, 4 M repaid, 4 M to overdue, the remaining 16 M written off (overdue first).
    "L5": (0, 0, 0, 20 * M, "written_off", dt.date(2018, 9, 20)),
    # Disbursed and the disbursement reversed: approved, never (effectively) disbursed.
    "L6": (0, 0, 0, 0, "approved", None),
    # 10 M disbursed and repaid in full (the repayment comes first in the file).
    "L7": (0, 0, 0, 10 * M, "settled", dt.date(2018, 4, 10)),
}


@pytest.fixture(autouse=True)
def english():
    """The messages are asserted word for word in English (the default language is Vietnamese)."""
    with translation.override("en"):
        yield


def good_tables() -> dict[str, list[dict[str, str]]]:
    return read_portfolio(GOOD)


def run_import(office, tables, **kwargs):
    summary = import_portfolio(office=office, tables=tables, **kwargs)
    # The deferred cache-equals-ledger trigger fires at commit; a test never commits, so fire it.
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    return summary


def row_counts() -> dict[str, int]:
    models = [
        Commune,
        Village,
        Chapter,
        SavingsGroup,
        Household,
        HouseholdCategory,
        GroupMembership,
        Loan,
        LoanTransaction,
        Instalment,
    ]
    return {model.__name__: model.objects.count() for model in models}


def assert_good_portfolio(office) -> None:
    assert ledger_mismatches() == []
    loans = {loan.number: loan for loan in Loan.objects.filter(office=office)}
    assert set(loans) == set(EXPECTED_LOANS)
    for number, expected in EXPECTED_LOANS.items():
        loan = loans[number]
        actual = (
            loan.outstanding,
            loan.overdue,
            loan.frozen,
            loan.disbursed,
            loan.status,
            loan.first_disbursed_on,
        )
        assert actual == expected, number
        assert loan.approved_on == loan.applied_on
    assert loans["L4"].workers_employed == 2
    assert loans["L6"].group is None
    assert loans["L1"].household.full_name == "Nguyễn Thị Hằng"

    entries = {e.reference: e for e in LoanTransaction.objects.filter(office=office)}
    assert len(entries) == 25
    p5 = entries["P5"]
    assert (p5.d_outstanding, p5.d_overdue, p5.d_frozen) == (-3 * M, -3 * M, 0)
    w1 = entries["W1"]
    assert (w1.d_outstanding, w1.d_overdue, w1.d_frozen) == (-16 * M, -4 * M, 0)
    assert (entries["T1"].d_outstanding, entries["T1"].d_overdue) == (0, 5 * M)
    assert entries["I1"].d_outstanding == 0
    r1, r3 = entries["R1"], entries["R3"]
    assert (r1.reverses, r1.counted_kind, r1.d_outstanding) == (
        entries["P4"],
        "principal_repayment",
        5 * M,
    )
    assert (r3.reverses, r3.counted_kind, r3.d_outstanding) == (
        entries["D6"],
        "disbursement",
        -10 * M,
    )
    assert entries["D1"].idempotency_key == f"import:{office.code}:D1"

    # Schedules (decision 0007): HN every 6 months over 60, due dates as schedule_rebuild's;
    # the four instalments due by the business date are what the records show repaid by each
    # (P1 5 M on 05/03/2020, P2 5 M on 05/03/2021), the other 40 M spread over the six to come.
    l1 = list(loans["L1"].instalments.order_by("seq"))
    assert [i.principal for i in l1] == [0, 5 * M, 0, 5 * M, *[6_666_666] * 5, 6_666_670]
    assert (l1[0].due_date, l1[-1].due_date) == (dt.date(2019, 9, 15), dt.date(2024, 3, 15))
    assert all(sum(i.principal for i in loan.instalments.all()) == loan.disbursed for loan in
               loans.values() if loan.disbursed)  # fmt: skip
    # So the first daily overdue run finds no arrears the records do not show (L3's 2 M
    # overdue came in the file, as transfer T1 less the 3 M repaid after it).
    assert not list(selectors.overdue_candidates(office, office.business_date))
    assert loans["L3"].overdue == 2 * M
    assert not loans["L6"].instalments.exists()
    assert Instalment.objects.filter(loan__office=office).count() == 10 + 6 + 6 + 10 + 10 + 10

    # The category is certified for every year of the history (2018 to the business date).
    hang = Household.objects.get(citizen_id="001180000101")
    assert sorted(hang.categories.values_list("year", "category")) == [
        (2018, "poor"),
        (2019, "poor"),
        (2020, "poor"),
        (2021, "poor"),
    ]
    assert hang.memberships.get().joined_on == dt.date(2018, 4, 1)
    assert hang.group.chapter.organisation.code == "women"
    assert Household.objects.get(citizen_id="001203000106").group is None
    assert Chapter.objects.filter(office=office).count() == 3
    assert Commune.objects.get(office=office, code="HM").transaction_day == 12


# --- a whole portfolio -------------------------------------------------------------------------


def test_good_portfolio_loads_whole(office_a):
    summary = run_import(office_a, good_tables())
    assert summary.created == {
        "communes": 2,
        "villages": 3,
        "groups": 3,
        "borrowers": 6,
        "loans": 7,
        "transactions": 25,
    }
    assert summary.new_rows == 46
    assert_good_portfolio(office_a)
    assert row_counts() == {
        "Commune": 2,
        "Village": 3,
        "Chapter": 3,
        "SavingsGroup": 3,
        "Household": 6,
        "HouseholdCategory": 24,
        "GroupMembership": 5,
        "Loan": 7,
        "LoanTransaction": 25,
        "Instalment": 52,
    }


def write_workbook(path: Path, tables) -> None:
    """The portfolio as a spreadsheet would hold it: numbers and dates as typed cells."""
    workbook = openpyxl.Workbook()
    workbook.remove(workbook.active)
    numeric = {"approved_amount", "term_months", "amount", "transaction_day", "works_built"}
    for name in FILES:
        rows = tables[name]
        sheet = workbook.create_sheet(name)
        header = list(rows[0])
        sheet.append(header)
        for row in rows:
            values = []
            for column in header:
                value = row[column]
                if column in numeric and value:
                    value = int(value)
                elif column in ("approved_on", "value_date", "date_of_birth"):
                    value = dt.datetime.fromisoformat(value)
                values.append(value)
            sheet.append(values)
        sheet.append([None] * len(header))  # the empty rows spreadsheets leave behind
    workbook.save(path)


def test_same_portfolio_as_xlsx_loads_the_same(office_a, tmp_path):
    path = tmp_path / "portfolio.xlsx"
    write_workbook(path, good_tables())
    tables = read_portfolio(path)
    assert tables == good_tables()
    run_import(office_a, tables)
    assert_good_portfolio(office_a)


def test_xlsx_keeps_leading_zeros_of_a_numeric_citizen_id(tmp_path):
    tables = good_tables()
    path = tmp_path / "portfolio.xlsx"
    write_workbook(path, tables)
    workbook = openpyxl.load_workbook(path)
    workbook["borrowers"]["A2"] = 1180000101  # what Excel makes of 001180000101
    workbook.save(path)
    assert read_portfolio(path)["borrowers"][0]["citizen_id"] == "001180000101"


def test_xlsx_numbers_beyond_range_are_errors_of_their_cells(office_a, tmp_path):
    path = tmp_path / "portfolio.xlsx"
    write_workbook(path, good_tables())
    workbook = openpyxl.load_workbook(path)
    workbook["transactions"]["E3"] = 1e20  # a number cell: read as the text 100000000000000000000
    workbook["loans"]["I5"] = 2**40  # workers_employed
    workbook["communes"]["C2"] = 12.5
    workbook.save(path)
    with pytest.raises(ImportFailed) as failed:
        import_portfolio(office=office_a, tables=read_portfolio(path))
    assert failed.value.errors == [
        "communes.csv:2: transaction_day: '12.5' is not a whole number.",
        "loans.csv:5: workers_employed: The number is too large (at most 10.000).",
        "transactions.csv:3: amount: The number is too large (at most 999.999.999.999.999).",
    ]
    assert set(row_counts().values()) == {0}


def test_second_import_changes_nothing(office_a):
    run_import(office_a, good_tables())
    before = row_counts()
    summary = run_import(office_a, good_tables())
    assert summary.new_rows == 0
    assert summary.unchanged == {
        "communes": 2,
        "villages": 3,
        "groups": 3,
        "borrowers": 6,
        "loans": 7,
        "transactions": 25,
    }
    assert row_counts() == before
    assert_good_portfolio(office_a)


def test_reimport_with_a_changed_row_is_an_error_not_an_overwrite(office_a):
    run_import(office_a, good_tables())
    tables = good_tables()
    tables["communes"][1]["name"] = "Xã Hạ Mỗ"
    tables["loans"][0]["term_months"] = "48"
    with pytest.raises(ImportFailed) as failed:
        run_import(office_a, tables)
    assert failed.value.errors == [
        "communes.csv:3: name: Differs from the row already imported (Hạ Mỗ); "
        "nothing is overwritten.",
        "loans.csv:2: term_months: Differs from the row already imported (60); "
        "nothing is overwritten.",
    ]
    assert Commune.objects.get(code="HM").name == "Hạ Mỗ"


def test_later_import_adds_history_to_imported_loans(office_a):
    run_import(office_a, good_tables())
    tables = good_tables()
    tables["transactions"] += [
        row("P9", "L1", "principal_repayment", "2021-06-05", "5000000"),
        row("D8", "L6", "disbursement", "2021-06-10", "10000000"),
    ]
    summary = run_import(office_a, tables)
    assert summary.created["transactions"] == 2
    assert summary.unchanged["transactions"] == 25
    assert ledger_mismatches() == []
    l1, l6 = Loan.objects.get(number="L1"), Loan.objects.get(number="L6")
    assert (l1.outstanding, l6.outstanding, l6.status) == (35 * M, 10 * M, "active")
    assert l6.first_disbursed_on == dt.date(2021, 6, 10)
    assert l6.instalments.count() == 6
    # L1 keeps the instalments its records paid; P9 (before the next due date) is paid ahead.
    l1_schedule = [i.principal for i in l1.instalments.order_by("seq")]
    assert l1_schedule[:4] == [0, 5 * M, 0, 5 * M] and sum(l1_schedule) == 50 * M
    assert not list(selectors.overdue_candidates(office_a, office_a.business_date))


def test_loans_may_refer_to_households_already_in_the_database(office_a, household_a):
    tables = {name: [] for name in FILES}
    tables["loans"] = [
        {
            "loan_number": "X1",
            "citizen_id": household_a.citizen_id,
            "programme": "HN",
            "group_code": household_a.group.code,
            "approved_amount": "30000000",
            "term_months": "36",
            "approved_on": "2021-02-01",
        }
    ]
    tables["transactions"] = [row("X1-D", "X1", "disbursement", "2021-02-10", "30000000")]
    run_import(office_a, tables)
    loan = Loan.objects.get(number="X1")
    assert (loan.household, loan.outstanding, loan.status) == (household_a, 30 * M, "active")


def test_services_work_on_imported_loans(office_a, staff_a):
    run_import(office_a, good_tables())
    loan = Loan.objects.get(number="L3")
    services.loan_repay_principal(
        loan=loan, amount=2 * M, value_date=dt.date(2021, 6, 5), user=staff_a, idempotency_key=key()
    )
    loan.refresh_from_db()
    assert (loan.outstanding, loan.overdue) == (25 * M, 0)
    assert ledger_mismatches() == []


def test_an_import_is_one_recorded_batch_its_entries_point_at(office_a, staff_a, tmp_path):
    files = ["communes.csv", "villages.csv", "groups.csv", "borrowers.csv", "loans.csv"]
    files.append("transactions.csv")
    content = b"".join((GOOD / name).read_bytes() for name in files)
    summary = run_import(office_a, good_tables(), user=staff_a)
    batch = ImportBatch.objects.get()
    assert summary.batch == batch.pk
    assert (batch.office, batch.run_by, batch.entries, batch.files) == (
        office_a,
        staff_a,
        25,
        files,
    )
    assert batch.checksum == hashlib.sha256(content).hexdigest()
    assert batch.started_at is not None
    assert set(LoanTransaction.objects.values_list("import_batch", flat=True)) == {batch.pk}
    # The same files again: another batch (of no entry), with the same checksum.
    again = run_import(office_a, good_tables())
    assert ImportBatch.objects.get(pk=again.batch).checksum == batch.checksum
    assert ImportBatch.objects.get(pk=again.batch).entries == 0
    # One byte changed, another checksum.
    folder = good_folder(tmp_path)
    (folder / "communes.csv").write_bytes((GOOD / "communes.csv").read_bytes() + b"\n")
    assert read_portfolio(folder).checksum != batch.checksum
    # An entry posted through the services belongs to no batch.
    loan = Loan.objects.get(number="L3")
    posted = services.loan_repay_principal(
        loan=loan, amount=2 * M, value_date=dt.date(2021, 6, 5), user=staff_a, idempotency_key=key()
    )
    assert LoanTransaction.objects.get(pk=posted.pk).import_batch_id is None


def test_a_workbook_batch_names_the_workbook_and_its_sheets(office_a, tmp_path):
    path = tmp_path / "portfolio.xlsx"
    write_workbook(path, good_tables())
    tables = read_portfolio(path)
    assert tables.files == ["portfolio.xlsx", *FILES]
    assert tables.checksum == hashlib.sha256(path.read_bytes()).hexdigest()
    summary = run_import(office_a, tables)
    assert ImportBatch.objects.get(pk=summary.batch).files == ["portfolio.xlsx", *FILES]


def test_tables_built_in_memory_are_a_batch_of_their_canonical_json(office_a):
    tables = dict(good_tables())
    summary = run_import(office_a, in_memory(tables, "demo"))
    batch = ImportBatch.objects.get(pk=summary.batch)
    assert batch.files == ["demo"]
    assert batch.checksum == in_memory(copy.deepcopy(tables)).checksum
    assert batch.checksum != in_memory({**tables, "communes": []}).checksum
    assert LoanTransaction.objects.filter(import_batch=batch).count() == 25


def test_a_failed_import_records_no_batch(office_a):
    tables = good_tables()
    tables["transactions"][0]["amount"] = "-1"
    with pytest.raises(ImportFailed):
        run_import(office_a, tables)
    assert not ImportBatch.objects.exists()


# --- bad rows: each rejects everything ---------------------------------------------------------


def row(reference, loan, kind, value_date, amount, reverses=""):
    return {
        "reference": reference,
        "loan_number": loan,
        "kind": kind,
        "value_date": value_date,
        "amount": amount,
        "reverses": reverses,
    }


def setter(file, index, column, value):
    def mutate(tables):
        tables[file][index][column] = value

    return mutate


def appender(*new_rows):
    def mutate(tables):
        tables["transactions"].extend(new_rows)

    return mutate


def dropper(file, column):
    def mutate(tables):
        for r in tables[file]:
            del r[column]

    return mutate


BAD = [
    # (id, change, the exact error expected among those reported)
    ("duplicate-commune", setter("communes", 1, "code", "PH"),
     "communes.csv:3: code: PH appears again (first on row 2)."),
    ("day-29", setter("communes", 0, "transaction_day", "29"),
     "communes.csv:2: transaction_day: The day must be between 1 and 28."),
    ("day-text", setter("communes", 0, "transaction_day", "abc"),
     "communes.csv:2: transaction_day: 'abc' is not a whole number."),
    ("unknown-commune", setter("villages", 2, "commune_code", "XX"),
     "villages.csv:4: commune_code: XX is not known (neither in communes.csv nor already "
     "imported)."),
    ("duplicate-village", setter("villages", 1, "code", "PH-1"),
     "villages.csv:3: code: PH-1 appears again (first on row 2)."),
    ("organisation", setter("groups", 0, "organisation", "police"),
     "groups.csv:2: organisation: 'police' is not one of women, farmers, veterans, youth."),
    ("unknown-village", setter("groups", 1, "village_code", "PH-9"),
     "groups.csv:3: village_code: PH-9 is not known (neither in villages.csv nor already "
     "imported)."),
    ("sex", setter("borrowers", 0, "sex", "X"), "borrowers.csv:2: sex: 'X' is neither M nor F."),
    ("category", setter("borrowers", 1, "category", "rich"),
     "borrowers.csv:3: category: 'rich' is not one of poor, near_poor, recently_out, ordinary."),
    ("province", setter("borrowers", 0, "citizen_id", "999180000101"),
     "borrowers.csv:2: citizen_id: 999 is not a province code."),
    ("century-sex", setter("borrowers", 0, "citizen_id", "001080000101"),
     "borrowers.csv:2: citizen_id: The 4th digit does not match the date of birth and sex."),
    ("cid-length", setter("borrowers", 0, "citizen_id", "00118000010"),
     "borrowers.csv:2: citizen_id: A citizen ID has exactly 12 digits."),
    ("duplicate-cid", setter("borrowers", 2, "citizen_id", "001180000101"),
     "borrowers.csv:4: citizen_id: 001180000101 appears again (first on row 2)."),
    ("birth-date", setter("borrowers", 0, "date_of_birth", "17/05/1980"),
     "borrowers.csv:2: date_of_birth: '17/05/1980' is not a date written YYYY-MM-DD."),
    ("unknown-group", setter("borrowers", 0, "group_code", "T99"),
     "borrowers.csv:2: group_code: T99 is not known (neither in groups.csv nor already "
     "imported)."),
    ("group-of-another-commune", setter("borrowers", 0, "group_code", "T03"),
     "borrowers.csv:2: group_code: The group T03 meets in Hạ Mỗ: a household joins a group of "
     "its own village's commune."),
    ("amount-decimal", setter("loans", 0, "approved_amount", "1.5"),
     "loans.csv:2: approved_amount: '1.5' is not a whole number."),
    ("amount-negative", setter("loans", 0, "approved_amount", "-3"),
     "loans.csv:2: approved_amount: '-3' is not a whole number."),
    ("amount-text", setter("loans", 0, "approved_amount", "abc"),
     "loans.csv:2: approved_amount: 'abc' is not a whole number."),
    ("amount-exponent", setter("loans", 0, "approved_amount", "1e6"),
     "loans.csv:2: approved_amount: '1e6' is not a whole number."),
    ("amount-zero", setter("loans", 0, "approved_amount", "0"),
     "loans.csv:2: approved_amount: The number must be positive."),
    ("cap", setter("loans", 0, "approved_amount", "150000000"),
     "loans.csv:2: approved_amount: The amount exceeds the programme's cap of 100.000.000 VND."),
    ("cap-per-worker", setter("loans", 3, "workers_employed", "1"),
     "loans.csv:5: approved_amount: The amount exceeds the programme's cap of 100.000.000 VND."),
    ("term", setter("loans", 0, "term_months", "121"),
     "loans.csv:2: term_months: The term exceeds the programme's maximum of 120 months."),
    ("eligibility", setter("loans", 1, "citizen_id", "001082000104"),
     "loans.csv:3: programme: The household's category (ordinary in 2020) is not eligible for "
     "HCN."),
    ("programme", setter("loans", 0, "programme", "XYZ"),
     "loans.csv:2: programme: 'XYZ' is not a programme code."),
    ("unknown-borrower", setter("loans", 0, "citizen_id", "001180999999"),
     "loans.csv:2: citizen_id: 001180999999 is not known (neither in borrowers.csv nor already "
     "imported)."),
    ("approved-after-business-date", setter("loans", 5, "approved_on", "2021-06-16"),
     "loans.csv:7: approved_on: The date is after the office's business date 15/06/2021."),
    ("approved-on-format", setter("loans", 0, "approved_on", "2019-02-30"),
     "loans.csv:2: approved_on: '2019-02-30' is not a date written YYYY-MM-DD."),
    ("duplicate-loan", setter("loans", 1, "loan_number", "L1"),
     "loans.csv:3: loan_number: L1 appears again (first on row 2)."),
    ("over-approved", setter("transactions", 0, "amount", "50000001"),
     "transactions.csv:2: amount: Disbursements would exceed the approved amount "
     "(50.000.000 VND left)."),
    ("second-tranche-over-approved", setter("transactions", 10, "amount", "10000001"),
     "transactions.csv:12: amount: Disbursements would exceed the approved amount "
     "(10.000.000 VND left)."),
    ("disbursed-before-approval", setter("transactions", 0, "value_date", "2019-02-28"),
     "transactions.csv:2: value_date: A loan is disbursed on or after its approval."),
    ("repaid-over-outstanding", setter("transactions", 4, "amount", "45000001"),
     "transactions.csv:6: amount: The repayment exceeds the principal that can be repaid "
     "(45.000.000 VND)."),
    ("repaid-before-disbursed", setter("transactions", 6, "value_date", "2020-01-19"),
     "transactions.csv:8: value_date: The loan was first disbursed on 20/01/2020: an entry on "
     "its principal is dated on or after it."),
    ("repaid-after-settled", appender(row("P10", "L7", "principal_repayment", "2020-01-01", "1")),
     "transactions.csv:27: value_date: The loan has no balance to act on (status: Settled)."),
    ("overdue-over-in-term", setter("transactions", 11, "amount", "30000001"),
     "transactions.csv:13: amount: Only principal in term (30.000.000 VND) can be transferred "
     "to overdue."),
    ("written-off-over-outstanding", setter("transactions", 20, "amount", "16000001"),
     "transactions.csv:22: amount: The write-off exceeds the outstanding principal "
     "(16.000.000 VND)."),
    ("interest-before-disbursement", setter("transactions", 14, "value_date", "2020-08-14"),
     "transactions.csv:16: value_date: Interest is paid on a disbursed loan only."),
    ("value-after-business-date", setter("transactions", 4, "value_date", "2021-06-16"),
     "transactions.csv:6: value_date: The date is after the office's business date 15/06/2021."),
    ("transaction-amount-decimal", setter("transactions", 1, "amount", "275000.5"),
     "transactions.csv:3: amount: '275000.5' is not a whole number."),
    ("kind", setter("transactions", 1, "kind", "freeze"),
     "transactions.csv:3: kind: 'freeze' is not one of disbursement, principal_repayment, "
     "interest_payment, transfer_to_overdue, write_off, reversal."),
    ("duplicate-reference", setter("transactions", 1, "reference", "D1"),
     "transactions.csv:3: reference: D1 appears again (first on row 2)."),
    ("unknown-loan", setter("transactions", 1, "loan_number", "L99"),
     "transactions.csv:3: loan_number: L99 is not known (neither in loans.csv nor already "
     "imported)."),
    ("reversal-amount", setter("transactions", 8, "amount", "4000000"),
     "transactions.csv:10: amount: A reversal cancels the whole entry: the amount must be "
     "5.000.000 VND."),
    ("reversal-unknown", setter("transactions", 8, "reverses", "P404"),
     "transactions.csv:10: reverses: No entry has the reference P404."),
    ("reversal-other-loan", setter("transactions", 8, "reverses", "D1"),
     "transactions.csv:10: reverses: Entry D1 belongs to another loan (L1)."),
    ("reversal-before-entry", setter("transactions", 8, "value_date", "2020-07-11"),
     "transactions.csv:10: value_date: A reversal is dated on or after its entry."),
    ("reversal-twice", appender(row("R9", "L2", "reversal", "2020-08-01", "5000000", "P4")),
     "transactions.csv:27: reverses: This entry has already been reversed."),
    ("reversal-of-reversal", appender(row("R9", "L2", "reversal", "2020-08-01", "5000000", "R1")),
     "transactions.csv:27: reverses: A reversal cannot be reversed; post the entry again."),
    ("reversal-of-repaid-disbursement",
     appender(row("R9", "L1", "reversal", "2021-04-01", "50000000", "D1")),
     "transactions.csv:27: reverses: Part of this disbursement has been repaid or moved; "
     "reverse those entries first."),
    ("reversal-without-target", setter("transactions", 8, "reverses", ""),
     "transactions.csv:10: reverses: A reversal names the entry it cancels."),
    ("target-on-non-reversal", setter("transactions", 1, "reverses", "D1"),
     "transactions.csv:3: reverses: Only a reversal names an entry to cancel."),
    ("missing-column", dropper("loans", "term_months"),
     "loans.csv:1: term_months: The column is missing."),
    ("unknown-column", setter("borrowers", 0, "phnoe", ""),
     "borrowers.csv:1: phnoe: Unknown column."),
    # Limits (docs/import-format.md): every integer column has the range its model and CHECK
    # constraint give it (decision 0008), checked before int() is asked (it refuses more than
    # 4,300 digits) and before the database is. At a bound the column's check passes and the
    # programme's rule speaks.
    ("amount-above-max", setter("transactions", 1, "amount", str(MAX_AMOUNT + 1)),
     "transactions.csv:3: amount: The number is too large (at most 999.999.999.999.999)."),
    ("amount-beyond-bigint", setter("transactions", 1, "amount", str(2**63)),
     "transactions.csv:3: amount: The number is too large (at most 999.999.999.999.999)."),
    ("amount-5000-digits", setter("transactions", 1, "amount", "9" * 5000),
     "transactions.csv:3: amount: The number is too large (at most 999.999.999.999.999)."),
    ("approved-amount-above-max", setter("loans", 0, "approved_amount", str(10**15)),
     "loans.csv:2: approved_amount: The number is too large (at most 999.999.999.999.999)."),
    ("approved-amount-at-max", setter("loans", 0, "approved_amount", str(MAX_AMOUNT)),
     "loans.csv:2: approved_amount: The amount exceeds the programme's cap of 100.000.000 VND."),
    ("term-beyond-smallint", setter("loans", 0, "term_months", "99999999999999999999"),
     "loans.csv:2: term_months: The number is too large (at most 600)."),
    ("term-above-max", setter("loans", 0, "term_months", "601"),
     "loans.csv:2: term_months: The number is too large (at most 600)."),
    ("term-at-max", setter("loans", 0, "term_months", "600"),
     "loans.csv:2: term_months: The term exceeds the programme's maximum of 120 months."),
    ("term-zero", setter("loans", 0, "term_months", "0"),
     "loans.csv:2: term_months: The number must be positive."),
    ("workers-beyond-integer", setter("loans", 3, "workers_employed", "99999999999999"),
     "loans.csv:5: workers_employed: The number is too large (at most 10.000)."),
    ("workers-above-max", setter("loans", 3, "workers_employed", "10001"),
     "loans.csv:5: workers_employed: The number is too large (at most 10.000)."),
    ("works-beyond-smallint", setter("loans", 4, "works_built", "40000"),
     "loans.csv:6: works_built: The number is too large (at most 100)."),
    ("works-above-max", setter("loans", 4, "works_built", "101"),
     "loans.csv:6: works_built: The number is too large (at most 100)."),
    ("amount-zero-entry", setter("transactions", 1, "amount", "0"),
     "transactions.csv:3: amount: The number must be positive."),
    # ASCII digits only (str.isdigit() takes these too).
    ("amount-full-width", setter("transactions", 1, "amount", "１０００"),
     "transactions.csv:3: amount: '１０００' is not a whole number."),
    ("amount-arabic-indic", setter("transactions", 1, "amount", "٣٠٠٠"),
     "transactions.csv:3: amount: '٣٠٠٠' is not a whole number."),
    ("amount-superscript", setter("transactions", 1, "amount", "²"),
     "transactions.csv:3: amount: '²' is not a whole number."),
    ("day-5000-digits", setter("communes", 0, "transaction_day", "9" * 5000),
     "communes.csv:2: transaction_day: The day must be between 1 and 28."),
    ("day-zero", setter("communes", 0, "transaction_day", "0"),
     "communes.csv:2: transaction_day: The day must be between 1 and 28."),
    # Dates: a date of birth from 1900, an adult on the business date (the services' rule); a
    # loan's history from 1995 (categories are stored from then on), none after the business date.
    ("birth-year-1", setter("borrowers", 0, "date_of_birth", "0001-01-01"),
     "borrowers.csv:2: date_of_birth: The date of birth must be on or after 01/01/1900."),
    ("birth-before-1900", setter("borrowers", 0, "date_of_birth", "1899-12-31"),
     "borrowers.csv:2: date_of_birth: The date of birth must be on or after 01/01/1900."),
    ("birth-year-9999", setter("borrowers", 0, "date_of_birth", "9999-12-31"),
     "borrowers.csv:2: date_of_birth: The date of birth is after the business date 15/06/2021."),
    ("birth-a-minor", setter("borrowers", 0, "date_of_birth", "2003-06-16"),
     "borrowers.csv:2: date_of_birth: The household's representative must be an adult (18 or "
     "older on 15/06/2021)."),
    ("approved-year-1", setter("loans", 0, "approved_on", "0001-01-01"),
     "loans.csv:2: approved_on: The date is before 01/01/1995."),
    ("approved-before-1995", setter("loans", 0, "approved_on", "1994-12-31"),
     "loans.csv:2: approved_on: The date is before 01/01/1995."),
    ("approved-on-1995", setter("loans", 0, "approved_on", "1995-01-01"),
     "loans.csv:2: approved_on: Programme HN has no rules in force on 01/01/1995."),
    ("approved-year-9999", setter("loans", 0, "approved_on", "9999-12-31"),
     "loans.csv:2: approved_on: The date is after the office's business date 15/06/2021."),
    ("value-year-1", setter("transactions", 1, "value_date", "0001-01-01"),
     "transactions.csv:3: value_date: The date is before 01/01/1995."),
    ("value-before-1995", setter("transactions", 1, "value_date", "1994-12-31"),
     "transactions.csv:3: value_date: The date is before 01/01/1995."),
    ("value-year-9999", setter("transactions", 1, "value_date", "9999-12-31"),
     "transactions.csv:3: value_date: The date is after the office's business date 15/06/2021."),
    # Control characters: NUL cannot be stored, the others break the one-line errors. The row is
    # refused on its column; the rows that refer to it (L1 and L7 of this borrower, and their
    # entries) are not reported again.
    ("nul-in-name", setter("borrowers", 0, "full_name", "Nguyễn\x00Thị Hằng"),
     "borrowers.csv:2: full_name: The value contains the control character U+0000; remove it."),
    ("nul-in-reference", setter("transactions", 1, "reference", "I\x001"),
     "transactions.csv:3: reference: The value contains the control character U+0000; remove "
     "it."),
    ("newline-in-code", setter("loans", 1, "group_code", "T0\n1"),
     "loans.csv:3: group_code: The value contains the control character U+000A; remove it."),
    ("tab-in-code", setter("communes", 1, "code", "H\tM"),
     "communes.csv:3: code: The value contains the control character U+0009; remove it."),
    ("bell-in-purpose", setter("loans", 0, "purpose", "Chăn nuôi\x07"),
     "loans.csv:2: purpose: The value contains the control character U+0007; remove it."),
    ("nul-in-kind", setter("transactions", 1, "kind", "interest\x00payment"),
     "transactions.csv:3: kind: The value contains the control character U+0000; remove it."),
    # An over-long value is refused on its column, and quoted cut short.
    ("long-purpose", setter("loans", 0, "purpose", "x" * 501),
     "loans.csv:2: purpose: At most 500 characters."),
    ("long-kind", setter("transactions", 1, "kind", "x" * 1_000_000),
     "transactions.csv:3: kind: '" + "x" * 40 + "…' is not one of disbursement, "
     "principal_repayment, interest_payment, transfer_to_overdue, write_off, reversal."),
    ("long-unknown-loan", setter("transactions", 1, "loan_number", "L" * 41),
     "transactions.csv:3: loan_number: At most 40 characters."),
    ("long-unknown-reversal", setter("transactions", 8, "reverses", "P" * 1000),
     "transactions.csv:10: reverses: No entry has the reference " + "P" * 40 + "…."),
]  # fmt: skip


def unknown(file, row, column, value, target):
    return (
        f"{file}.csv:{row}: {column}: {value} is not known (neither in {target}.csv nor already "
        "imported)."
    )


def no_interest(row):
    return f"transactions.csv:{row}: value_date: Interest is paid on a disbursed loan only."


def no_balance(row):
    return (
        f"transactions.csv:{row}: value_date: The loan has no balance to act on (status: Approved)."
    )


# What else a bad row refuses, by the rules of the rows that depend on it: a row whose key was
# changed leaves the rows referring to the old key unknown; an entry refused leaves the loan
# undisbursed for the entries after it. Every other case refuses its one row and nothing else.
CONSEQUENCES = {
    **{
        name: [unknown("villages", 4, "commune_code", "HM", "communes")]
        for name in ("duplicate-commune", "tab-in-code")
    },
    "duplicate-village": [
        unknown("groups", 3, "village_code", "PH-2", "villages"),
        unknown("borrowers", 4, "village_code", "PH-2", "villages"),
        unknown("borrowers", 5, "village_code", "PH-2", "villages"),
    ],
    **{
        name: [
            unknown("loans", 2, "citizen_id", "001180000101", "borrowers"),
            unknown("loans", 8, "citizen_id", "001180000101", "borrowers"),
        ]
        for name in ("province", "century-sex", "cid-length")
    },
    "duplicate-cid": [unknown("loans", 4, "citizen_id", "001168000103", "borrowers")],
    "duplicate-loan": [
        unknown("transactions", row, "loan_number", "L2", "loans") for row in (7, 8, 9, 10)
    ],
    **{
        name: [no_interest(3), no_balance(4), no_interest(5), no_balance(6)]
        for name in ("over-approved", "disbursed-before-approval")
    },
    "interest-before-disbursement": [
        "transactions.csv:17: reverses: The entry it cancels is itself in error."
    ],
}


@pytest.mark.parametrize(("name", "change", "expected"), BAD, ids=[b[0] for b in BAD])
def test_a_bad_row_rejects_everything(office_a, name, change, expected):
    tables = copy.deepcopy(good_tables())
    change(tables)
    with pytest.raises(ImportFailed) as failed:
        import_portfolio(office=office_a, tables=tables)
    errors = failed.value.errors
    # Exactly the rule that refused, on its file, row and column, and what follows from it.
    assert errors == [expected, *CONSEQUENCES.get(name, [])], errors
    assert all(ERROR_LINE.match(line) for line in errors), errors
    assert set(row_counts().values()) == {0}


def changes(*mutations):
    def mutate(tables):
        for mutation in mutations:
            mutation(tables)

    return mutate


AT_BOUND = [
    # (id, change, what is stored): each value at its bound is accepted and stored as given.
    ("interest-of-max-amount", setter("transactions", 1, "amount", str(MAX_AMOUNT)),
     lambda: LoanTransaction.objects.get(reference="I1").amount == MAX_AMOUNT),
    ("workers-at-max", setter("loans", 3, "workers_employed", "10000"),
     lambda: Loan.objects.get(number="L4").workers_employed == 10_000),
    ("works-at-max", setter("loans", 4, "works_built", "100"),
     lambda: Loan.objects.get(number="L5").works_built == 100),
    ("an-adult-on-the-business-date", setter("borrowers", 5, "date_of_birth", "2003-06-15"),
     lambda: Household.objects.get(citizen_id="001203000106").date_of_birth
     == dt.date(2003, 6, 15)),
    ("born-on-1-january-1900",
     changes(setter("borrowers", 0, "date_of_birth", "1900-01-01"),
             setter("borrowers", 0, "citizen_id", "001100000101"),
             setter("loans", 0, "citizen_id", "001100000101"),
             setter("loans", 6, "citizen_id", "001100000101")),
     lambda: Household.objects.get(citizen_id="001100000101").date_of_birth
     == dt.date(1900, 1, 1)),
]  # fmt: skip


@pytest.mark.parametrize(("name", "change", "stored"), AT_BOUND, ids=[b[0] for b in AT_BOUND])
def test_a_value_at_its_bound_is_accepted(office_a, name, change, stored):
    tables = copy.deepcopy(good_tables())
    change(tables)
    assert run_import(office_a, tables).created["transactions"] == 25
    assert stored()
    assert ledger_mismatches() == []


def hn_rule(effective_from: dt.date, **values) -> ProgrammeRule:
    """A rule of HN (poor households) from a date, as a government decision could give."""
    return ProgrammeRule.objects.create(
        programme=Programme.objects.get(code="HN"),
        effective_from=effective_from,
        monthly_rate="0.55",
        max_amount=values.get("max_amount", 100 * M),
        max_term_months=120,
        eligible_categories=["poor"],
    )


def test_a_history_starts_in_1995_when_categories_do(office_a):
    """Categories are stored from 1995 (category_year_in_range): a loan approved before then is
    refused on its date, even under a rule in force before 1995, rather than certifying its
    household for a year the table refuses; one approved on 1 January 1995 loads."""
    hn_rule(dt.date(1990, 1, 1))
    tables = copy.deepcopy(good_tables())
    tables["loans"][0]["approved_on"] = "1994-12-31"
    with pytest.raises(ImportFailed) as failed:
        import_portfolio(office=office_a, tables=tables)
    assert failed.value.errors == ["loans.csv:2: approved_on: The date is before 01/01/1995."]
    assert set(row_counts().values()) == {0}

    tables["loans"][0]["approved_on"] = "1995-01-01"
    run_import(office_a, tables)
    years = Household.objects.get(citizen_id="001180000101").categories.values_list("year")
    assert sorted(y for (y,) in years) == list(range(1995, 2022))


def test_an_outstanding_beyond_max_amount_is_an_error_of_its_entry(office_a, office_b, staff_a):
    """A disbursement is bounded by the loan's approved amount, but the balance a loan brings
    from another office is not part of it: their sum is refused on the entry that passes
    MAX_AMOUNT (loan_outstanding_in_range), never left to the database; at the bound it loads."""
    hn_rule(dt.date(2020, 1, 1), max_amount=MAX_AMOUNT)
    cid = "001180000101"
    run_import(
        office_b,
        {
            "communes": [{"code": "C1", "name": "Xã Một", "transaction_day": "5"}],
            "villages": [{"code": "V1", "commune_code": "C1", "name": "Thôn Một"}],
            "borrowers": [
                {"citizen_id": cid, "full_name": "Nguyễn Thị Hằng", "date_of_birth": "1980-05-17",
                 "sex": "F", "village_code": "V1", "category": "poor"},
            ],
            "loans": [
                {"loan_number": "BIG", "citizen_id": cid, "programme": "HN",
                 "approved_amount": str(MAX_AMOUNT), "term_months": "60",
                 "approved_on": "2020-01-10"},
            ],
            "transactions": [row("D1", "BIG", "disbursement", "2020-01-20", str(MAX_AMOUNT - 5))],
        },
    )  # fmt: skip
    services.loan_transfer(
        loan=Loan.objects.get(office=office_b, number="BIG"),
        to_office=office_a,
        to_village=VillageFactory(commune__office=office_a),
        value_date=dt.date(2021, 6, 1),
        user=staff_a,
        idempotency_key=key(),
    )
    moved = Loan.objects.get(office=office_a, number="BIG")
    assert (moved.outstanding, moved.disbursed) == (MAX_AMOUNT - 5, 0)
    before = row_counts()

    over = {"transactions": [row("D2", "BIG", "disbursement", "2021-06-10", "6")]}
    with pytest.raises(ImportFailed) as failed:
        import_portfolio(office=office_a, tables=over)
    assert failed.value.errors == [
        "transactions.csv:2: amount: The loan's outstanding principal would be "
        "1.000.000.000.000.000 VND, more than a balance may hold (at most 999.999.999.999.999 VND)."
    ]
    assert row_counts() == before
    assert Loan.objects.get(pk=moved.pk).outstanding == MAX_AMOUNT - 5

    # And a reversal after the refused entry is refused as such, not posted on top of it.
    over["transactions"].append(row("R2", "BIG", "reversal", "2021-06-11", "6", "D2"))
    with pytest.raises(ImportFailed) as failed:
        import_portfolio(office=office_a, tables=over)
    assert failed.value.errors[1:] == [
        "transactions.csv:3: reverses: The entry it cancels is itself in error."
    ]

    run_import(office_a, {"transactions": [row("D2", "BIG", "disbursement", "2021-06-10", "5")]})
    moved.refresh_from_db()
    assert (moved.outstanding, moved.disbursed) == (MAX_AMOUNT, 5)
    assert ledger_mismatches() == []


def test_every_error_of_a_portfolio_is_reported(office_a):
    tables = copy.deepcopy(good_tables())
    tables["communes"].append({"code": "TL", "name": "Tân Lập", "transaction_day": "31"})
    tables["borrowers"][3]["sex"] = "f"
    tables["loans"][2]["approved_amount"] = "1e6"
    tables["transactions"][4]["amount"] = "45000001"
    tables["transactions"][20]["amount"] = "16000001"
    with pytest.raises(ImportFailed) as failed:
        import_portfolio(office=office_a, tables=tables)
    assert failed.value.errors == [
        "communes.csv:4: transaction_day: The day must be between 1 and 28.",
        "borrowers.csv:5: sex: 'f' is neither M nor F.",
        "loans.csv:4: approved_amount: '1e6' is not a whole number.",
        "transactions.csv:6: amount: The repayment exceeds the principal that can be repaid "
        "(45.000.000 VND).",
        "transactions.csv:22: amount: The write-off exceeds the outstanding principal "
        "(16.000.000 VND).",
    ]
    assert set(row_counts().values()) == {0}


def test_a_folder_without_transactions_is_refused(tmp_path):
    (tmp_path / "communes.csv").write_text("code,name,transaction_day\nPH,Phùng,5\n")
    with pytest.raises(ImportFailed) as failed:
        read_portfolio(tmp_path)
    assert failed.value.errors == [
        "transactions.csv:1: -: The file is missing; every import needs it."
    ]


def test_csv_row_numbers_count_blank_lines(tmp_path):
    (tmp_path / "transactions.csv").write_text(
        "reference,loan_number,kind,value_date,amount,reverses\n\nX,L1,disbursement,2021-01-01,1,\n",
        encoding="utf-8",
    )
    tables = read_portfolio(tmp_path)
    assert tables["communes"] == []
    assert len(tables["transactions"]) == 2  # row 2 is blank, row 3 is the entry


# --- the files as read: limits (docs/import-format.md) -------------------------------------------

EMPTY = "The file is empty: it needs at least its header row."


def good_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "portfolio"
    folder.mkdir()
    for path in GOOD.iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    return folder


def edit(folder: Path, name: str, index: int, column: str, value: str) -> None:
    """Set one value of a CSV file (index 0 is row 2), written back as CSV."""
    path = folder / f"{name}.csv"
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    rows[index][column] = value
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def replace_bytes(folder: Path, name: str, old: bytes, new: bytes) -> None:
    path = folder / f"{name}.csv"
    data = path.read_bytes()
    assert old in data
    path.write_bytes(data.replace(old, new, 1))


@pytest.mark.parametrize("name", ["transactions", "communes"])
@pytest.mark.parametrize(
    "content",
    [b"", b"\n\n\n", b"\xef\xbb\xbf", b" , \r\n"],
    ids=["zero-bytes", "blank-lines", "bom-only", "blank-values"],
)
def test_a_file_without_a_header_is_refused(tmp_path, name, content):
    folder = good_folder(tmp_path)
    (folder / f"{name}.csv").write_bytes(content)
    with pytest.raises(ImportFailed) as failed:
        read_portfolio(folder)
    assert failed.value.errors == [f"{name}.csv:1: -: {EMPTY}"]


def test_a_header_only_transactions_file_is_a_portfolio_without_entries(office_a, tmp_path):
    """The format requires the file, not rows: a header alone says "no entries" on purpose (loans
    approved and not yet disbursed, a later import of new borrowers), as a zero-byte file cannot."""
    folder = good_folder(tmp_path)
    (folder / "transactions.csv").write_text(
        "reference,loan_number,kind,value_date,amount,reverses\n", encoding="utf-8"
    )
    summary = run_import(office_a, read_portfolio(folder))
    assert (summary.created["loans"], summary.created["transactions"]) == (7, 0)
    assert set(Loan.objects.values_list("status", flat=True)) == {"approved"}


def test_an_empty_sheet_is_refused(tmp_path):
    path = tmp_path / "portfolio.xlsx"
    write_workbook(path, good_tables())
    workbook = openpyxl.load_workbook(path)
    del workbook["transactions"]
    workbook.create_sheet("transactions")
    workbook.save(path)
    with pytest.raises(ImportFailed) as failed:
        read_portfolio(path)
    assert failed.value.errors == [f"transactions.csv:1: -: {EMPTY}"]


def test_a_20_mb_field_is_an_error_of_its_row(tmp_path):
    folder = good_folder(tmp_path)
    edit(folder, "loans", 1, "purpose", "x" * 20_000_000)
    limit = csv.field_size_limit()
    with pytest.raises(ImportFailed) as failed:
        read_portfolio(folder)
    assert failed.value.errors == ["loans.csv:3: -: A value is longer than 10.000 characters."]
    assert FIELD_LIMIT == 10_000
    assert csv.field_size_limit() == limit  # process-wide: given back after the read


def test_a_value_just_within_the_field_limit_is_refused_on_its_column(office_a, tmp_path):
    folder = good_folder(tmp_path)
    edit(folder, "loans", 1, "purpose", "x" * FIELD_LIMIT)
    with pytest.raises(ImportFailed) as failed:
        import_portfolio(office=office_a, tables=read_portfolio(folder))
    assert failed.value.errors == ["loans.csv:3: purpose: At most 500 characters."]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (b"Tr\xe1\xba\xa7n", b"Tr\xe2n",  # "Trần" written as Latin-1 would write "Trân"
         "borrowers.csv:3: -: The file is not UTF-8 text (byte 0xE2); save it as UTF-8."),
        (b"Ph\xe1\xba\xa1m", b"Ph\xff\xfem",
         "borrowers.csv:5: -: The file is not UTF-8 text (byte 0xFF); save it as UTF-8."),
    ],
    ids=["latin-1", "stray-bytes"],
)  # fmt: skip
@pytest.mark.parametrize("bom", [b"", codecs.BOM_UTF8], ids=["", "after-a-bom"])
def test_a_file_that_is_not_utf8_is_refused_at_its_line(tmp_path, old, new, expected, bom):
    folder = good_folder(tmp_path)
    replace_bytes(folder, "borrowers", old, new)
    path = folder / "borrowers.csv"
    path.write_bytes(bom + path.read_bytes())
    with pytest.raises(ImportFailed) as failed:
        read_portfolio(folder)
    assert failed.value.errors == [expected]


def test_a_utf16_file_is_refused(tmp_path):
    folder = good_folder(tmp_path)
    path = folder / "communes.csv"
    path.write_bytes(path.read_text(encoding="utf-8").encode("utf-16"))
    with pytest.raises(ImportFailed) as failed:
        read_portfolio(folder)
    assert failed.value.errors == [
        "communes.csv:1: -: The file is not UTF-8 text (byte 0xFF); save it as UTF-8."
    ]


def test_a_file_that_cannot_be_read_is_refused(tmp_path):
    folder = good_folder(tmp_path)
    (folder / "communes.csv").unlink()
    (folder / "communes.csv").mkdir()
    with pytest.raises(ImportFailed) as failed:
        read_portfolio(folder)
    assert failed.value.errors == ["communes.csv:0: -: The file cannot be read (Is a directory)."]


def test_a_nul_character_in_a_file_is_an_error_of_its_row(office_a, tmp_path):
    folder = good_folder(tmp_path)
    edit(folder, "villages", 1, "name", "Khu\x00phố 2")
    with pytest.raises(ImportFailed) as failed:
        import_portfolio(office=office_a, tables=read_portfolio(folder))
    # The groups, borrowers, loans and entries of that village are not reported again.
    assert failed.value.errors == [
        "villages.csv:3: name: The value contains the control character U+0000; remove it."
    ]
    assert set(row_counts().values()) == {0}


def test_an_unclosed_quote_is_an_error_not_a_swallowed_file(office_a, tmp_path):
    folder = good_folder(tmp_path)
    replace_bytes(folder, "communes", b"PH,", b'"PH,')
    with pytest.raises(ImportFailed) as failed:
        import_portfolio(office=office_a, tables=read_portfolio(folder))
    # The quote runs to the end of the file: one value, holding both communes' lines.
    assert failed.value.errors == [
        "communes.csv:2: code: The value contains the control character U+000A; remove it.",
        unknown("villages", 2, "commune_code", "PH", "communes"),
        unknown("villages", 3, "commune_code", "PH", "communes"),
        unknown("villages", 4, "commune_code", "HM", "communes"),
    ]


def test_a_refused_import_writes_nothing_over_an_existing_portfolio(office_a):
    run_import(office_a, good_tables())
    before = row_counts()
    tables = copy.deepcopy(good_tables())
    # New rows in every file, all valid but one value out of range.
    tables["communes"].append({"code": "TL", "name": "Tân Lập", "transaction_day": "10"})
    tables["villages"].append({"code": "TL-1", "commune_code": "TL", "name": "Thôn 1"})
    tables["groups"].append(
        {"code": "T04", "village_code": "TL-1", "organisation": "youth", "name": "Tổ 4",
         "head_name": "Đỗ Văn Nam"}
    )  # fmt: skip
    tables["borrowers"].append(
        {"citizen_id": "001185000107", "full_name": "Đỗ Thị Lan", "date_of_birth": "1985-03-03",
         "sex": "F", "village_code": "TL-1", "group_code": "T04", "category": "poor",
         "phone": ""}
    )  # fmt: skip
    tables["loans"].append(
        {"loan_number": "L8", "citizen_id": "001185000107", "programme": "HN",
         "group_code": "T04", "approved_amount": "30000000", "term_months": "36",
         "approved_on": "2021-02-01", "purpose": "", "workers_employed": "99999999999999",
         "works_built": "0"}
    )  # fmt: skip
    tables["transactions"] += [
        row("D8", "L8", "disbursement", "2021-02-10", "30000000"),
        row("P9", "L1", "principal_repayment", "2021-06-05", "5000000"),
    ]
    with pytest.raises(ImportFailed) as failed:
        run_import(office_a, tables)
    assert failed.value.errors == [
        "loans.csv:9: workers_employed: The number is too large (at most 10.000)."
    ]
    assert row_counts() == before
    assert_good_portfolio(office_a)


def test_a_closed_month_refuses_entries_dated_in_it_or_before(office_a, manager_a):
    ClosedMonth.objects.create(office=office_a, month=dt.date(2021, 3, 1), closed_by=manager_a)
    with pytest.raises(ImportFailed) as failed:
        import_portfolio(office=office_a, tables=good_tables())
    # Closing March closes the months before it too (months are closed in order): every entry
    # dated up to 31 March is refused, none after; W1 (April) is refused because its loan's
    # disbursement was, which leaves it nothing to write off.
    expected = []
    for number, entry in enumerate(good_tables()["transactions"], start=2):
        day = dt.date.fromisoformat(entry["value_date"])
        if day <= dt.date(2021, 3, 31):
            expected.append(
                f"transactions.csv:{number}: value_date: {day:%m/%Y} is closed: date the entry in "
                "the open period (an earlier entry is corrected by a reversal dated there)."
            )
        elif entry["reference"] == "W1":
            expected.append(no_balance(number))
    assert failed.value.errors == expected
    assert 0 < len(expected) < len(good_tables()["transactions"])


def test_a_citizen_id_active_in_another_office_is_refused(office_a, household_b):
    tables = copy.deepcopy(good_tables())
    borrower = tables["borrowers"][1]
    borrower.update(citizen_id=household_b.citizen_id, full_name="Trần Văn Hùng")
    borrower.update(date_of_birth="1975-02-03", sex="M")
    with pytest.raises(ImportFailed) as failed:
        import_portfolio(office=office_a, tables=tables)
    assert failed.value.errors == [
        "borrowers.csv:3: citizen_id: An active borrower with this citizen ID already exists in "
        "office B.",
        unknown("loans", 3, "citizen_id", "001075000102", "borrowers"),
    ]


def test_a_reversal_before_its_entry_on_the_same_day_is_refused(office_a):
    tables = copy.deepcopy(good_tables())
    tables["transactions"] += [
        row("R8", "L4", "reversal", "2021-01-05", "1000", "I8"),
        row("I8", "L4", "interest_payment", "2021-01-05", "1000"),
    ]
    with pytest.raises(ImportFailed) as failed:
        import_portfolio(office=office_a, tables=tables)
    assert failed.value.errors == [
        "transactions.csv:27: reverses: A reversal comes after the entry it cancels in the file."
    ]


# --- the command -------------------------------------------------------------------------------


def test_command_prints_a_summary(office_a, capsys):
    call_command("import_portfolio", str(GOOD), office="A")
    out = capsys.readouterr().out
    assert "transactions.csv: 25 new, 0 unchanged" in out
    assert "46 new row(s) imported into office A." in out
    assert f"Recorded as import batch #{ImportBatch.objects.get().pk}." in out
    call_command("import_portfolio", str(GOOD), office="A")
    assert "0 new row(s) imported into office A." in capsys.readouterr().out


def test_command_can_create_the_office(db, capsys):
    call_command("import_portfolio", str(GOOD), office="NEW", create_office="PGD Mới")
    office = Office.objects.get(code="NEW")
    assert (office.name, office.business_date) == ("PGD Mới", dt.date.today())
    assert Loan.objects.filter(office=office).count() == 7
    assert "Created office NEW: PGD Mới." in capsys.readouterr().out


def test_command_refuses_an_unknown_office_without_create(db):
    with pytest.raises(CommandError) as refused:
        call_command("import_portfolio", str(GOOD), office="ZZ")
    assert str(refused.value) == "No office 'ZZ'; pass --create-office NAME to create it."
    assert set(row_counts().values()) == {0} and not Office.objects.filter(code="ZZ").exists()


def zero_byte_transactions(folder: Path) -> None:
    (folder / "transactions.csv").write_bytes(b"")


def nul_in_a_name(folder: Path) -> None:
    edit(folder, "villages", 1, "name", "Khu\x00phố 2")


def field_of_20_mb(folder: Path) -> None:
    edit(folder, "loans", 1, "purpose", "x" * 20_000_000)


def amount_beyond_bigint(folder: Path) -> None:
    edit(folder, "transactions", 1, "amount", str(2**63))


def workers_beyond_integer(folder: Path) -> None:
    edit(folder, "loans", 3, "workers_employed", "99999999999999")


def latin_1_bytes(folder: Path) -> None:
    replace_bytes(folder, "borrowers", b"Tr\xe1\xba\xa7n", b"Tr\xe2n")


def date_in_year_1(folder: Path) -> None:
    edit(folder, "transactions", 1, "value_date", "0001-01-01")


BROKEN_FOLDERS = [
    (zero_byte_transactions, f"transactions.csv:1: -: {EMPTY}"),
    (nul_in_a_name,
     "villages.csv:3: name: The value contains the control character U+0000; remove it."),
    (field_of_20_mb, "loans.csv:3: -: A value is longer than 10.000 characters."),
    (amount_beyond_bigint,
     "transactions.csv:3: amount: The number is too large (at most 999.999.999.999.999)."),
    (workers_beyond_integer,
     "loans.csv:5: workers_employed: The number is too large (at most 10.000)."),
    (latin_1_bytes,
     "borrowers.csv:3: -: The file is not UTF-8 text (byte 0xE2); save it as UTF-8."),
    (date_in_year_1, "transactions.csv:3: value_date: The date is before 01/01/1995."),
]  # fmt: skip


@pytest.mark.parametrize(
    ("breakage", "expected"), BROKEN_FOLDERS, ids=[b[0].__name__ for b in BROKEN_FOLDERS]
)
def test_command_reports_a_broken_folder_as_errors_not_a_traceback(
    db, tmp_path, breakage, expected
):
    folder = good_folder(tmp_path)
    breakage(folder)
    stderr = io.StringIO()
    with pytest.raises(CommandError) as refused:
        call_command(
            "import_portfolio", str(folder), office="NEW", create_office="PGD", stderr=stderr
        )
    assert str(refused.value) == "1 error(s): nothing was imported."
    assert stderr.getvalue().splitlines() == [expected]
    assert set(row_counts().values()) == {0} and not Office.objects.filter(code="NEW").exists()


def test_command_turns_an_unexpected_fault_into_a_clean_error(office_a, monkeypatch):
    """Whatever escapes the importer's own checks (a fault of ours) still ends the command with a
    one-line error and status 1, and --traceback still shows its cause."""
    from seeding.management.commands import import_portfolio as command

    def fault(**kwargs):
        raise RuntimeError("boom\nmore detail")

    monkeypatch.setattr(command, "import_portfolio", fault)
    with pytest.raises(CommandError) as refused:
        call_command("import_portfolio", str(GOOD), office="A")
    assert str(refused.value) == (
        "The import stopped on an unexpected error (RuntimeError: boom): nothing was imported."
    )
    assert isinstance(refused.value.__cause__, RuntimeError)


def manage_py(*args: str) -> subprocess.CompletedProcess:
    """Run manage.py in its own process against the test database (so its exit code is real)."""
    db = connection.settings_dict
    url = "postgres://{user}:{password}@{host}:{port}/{name}".format(
        user=quote(db["USER"] or "", safe=""),
        password=quote(db["PASSWORD"] or "", safe=""),
        host=quote(db["HOST"] or "", safe=""),
        port=db["PORT"] or "5432",
        name=db["NAME"],
    )
    env = {**os.environ, "DATABASE_URL": url}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_command_exits_non_zero_with_every_error_on_stderr(db, tmp_path):
    for path in GOOD.iterdir():
        (tmp_path / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    lines = (tmp_path / "loans.csv").read_text(encoding="utf-8").splitlines()
    lines[1] = lines[1].replace("50000000,60", "150000000,60")
    lines[2] = lines[2].replace(",36,", ",121,")
    (tmp_path / "loans.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    # A new office, created and then rolled back with the failed import: nothing is committed.
    done = manage_py("import_portfolio", "--office", "CLI", "--create-office", "PGD", str(tmp_path))
    assert done.returncode == 1, done.stderr
    # The command speaks the office's language (Vietnamese by default): check the form.
    err = done.stderr.splitlines()
    assert len(err) == 3, err
    assert err[0].startswith("loans.csv:2: approved_amount: ") and "100.000.000" in err[0]
    assert err[1].startswith("loans.csv:3: term_months: ") and "120" in err[1]
    assert err[2].startswith("CommandError: ")
    assert done.stdout == ""
    assert not Office.objects.filter(code="CLI").exists()


@pytest.mark.parametrize(
    "breakage", [zero_byte_transactions, nul_in_a_name, field_of_20_mb], ids=lambda b: b.__name__
)
def test_command_exits_1_without_a_traceback_on_a_broken_folder(db, tmp_path, breakage):
    folder = good_folder(tmp_path)
    breakage(folder)
    done = manage_py("import_portfolio", "--office", "CLI", "--create-office", "PGD", str(folder))
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    err = done.stderr.splitlines()
    # The command speaks Vietnamese by default: the form, one error and the closing line.
    assert len(err) == 2, err
    assert ERROR_LINE.match(err[0]), err
    assert err[1].startswith("CommandError: ")
    assert not Office.objects.filter(code="CLI").exists()


# --- the ledger stays append-only --------------------------------------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE loans_loantransaction SET amount = amount + 1",
        "DELETE FROM loans_loantransaction",
        "UPDATE loans_loantransaction SET note = 'x' WHERE reference = 'D1'",
    ],
)
def test_database_refuses_changes_to_imported_entries(office_a, sql):
    run_import(office_a, good_tables())
    with (
        pytest.raises(DatabaseError, match="(?i)protect|cannot"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql)
    assert LoanTransaction.objects.count() == 25
    assert LoanTransaction.objects.get(reference="D1").amount == 50 * M


# --- speed at the demo's scale (run with IMPORT_BENCH=1) ---------------------------------------


def synthetic_tables(households: int) -> dict[str, list[dict[str, str]]]:
    """About the demo office's shape: 4 loans per 3 households, 9 entries per loan."""
    tables = {name: [] for name in FILES}
    communes = 16
    for c in range(communes):
        tables["communes"].append({"code": f"C{c}", "name": f"Xã {c}", "transaction_day": "10"})
        for v in range(5):
            tables["villages"].append(
                {"code": f"C{c}V{v}", "commune_code": f"C{c}", "name": f"Thôn {v}"}
            )
            for g in range(4):
                tables["groups"].append(
                    {
                        "code": f"C{c}V{v}G{g}",
                        "village_code": f"C{c}V{v}",
                        "organisation": ["women", "farmers", "veterans", "youth"][g],
                        "name": f"Tổ {g}",
                        "head_name": "Nguyễn Văn An",
                    }
                )
    for h in range(households):
        village = f"C{h % communes}V{h // communes % 5}"
        cid = f"0011{70 + h % 30}{h:06d}"
        tables["borrowers"].append(
            {
                "citizen_id": cid,
                "full_name": f"Nguyễn Thị Hộ {h}",
                "date_of_birth": f"19{70 + h % 30}-01-15",
                "sex": "F",
                "village_code": village,
                "group_code": f"{village}G{h % 4}",
                "category": "poor",
                "phone": "",
            }
        )
        for n in range(2 if h % 3 == 0 else 1):
            number = f"L{h}-{n}"
            year = 2016 + (h + n) % 4
            tables["loans"].append(
                {
                    "loan_number": number,
                    "citizen_id": cid,
                    "programme": "HN",
                    "group_code": f"{village}G{h % 4}",
                    "approved_amount": "50000000",
                    "term_months": "60",
                    "approved_on": f"{year}-02-01",
                    "purpose": "",
                    "workers_employed": "0",
                    "works_built": "0",
                }
            )
            entries = [(f"{number}-D", "disbursement", f"{year}-02-10", "50000000", "")]
            for m in range(7):
                entries.append(
                    (
                        f"{number}-I{m}",
                        "interest_payment",
                        f"{year + 1}-{m + 1:02d}-10",
                        "275000",
                        "",
                    )
                )
            entries.append(
                (f"{number}-P", "principal_repayment", f"{year + 1}-08-10", "5000000", "")
            )
            if h % 10 == 0:
                entries.append(
                    (f"{number}-R", "reversal", f"{year + 1}-08-11", "5000000", f"{number}-P")
                )
            for ref, kind, day, amount, reverses in entries:
                tables["transactions"].append(row(ref, number, kind, day, amount, reverses))
    return tables


@pytest.mark.skipif(not os.environ.get("IMPORT_BENCH"), reason="set IMPORT_BENCH=1 to measure")
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_import_at_demo_scale():
    office = Office.objects.create(code="BENCH", name="Bench", business_date=dt.date(2021, 6, 15))
    tables = synthetic_tables(9000)
    started = time.perf_counter()
    summary = import_portfolio(office=office, tables=tables)  # commits: the trigger checks all
    elapsed = time.perf_counter() - started
    again = time.perf_counter()
    assert import_portfolio(office=office, tables=tables).new_rows == 0
    reimport = time.perf_counter() - again
    print(f"\nimported {summary.created} in {elapsed:.1f} s; re-import checked in {reimport:.1f} s")
    assert ledger_mismatches() == []
    assert elapsed < 60


def test_synthetic_portfolio_is_valid(office_a):
    """The bench's generator, small: it must itself pass the import."""
    summary = run_import(office_a, synthetic_tables(60))
    assert summary.created["loans"] == 80
    assert ledger_mismatches() == []


def write_csv_folder(path: Path, tables) -> None:  # handy to inspect a generated portfolio
    for name, rows in tables.items():
        if rows:
            with (path / f"{name}.csv").open("w", newline="", encoding="utf-8") as handle:
                writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
                writer.writeheader()
                writer.writerows(rows)
