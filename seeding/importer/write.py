"""Writing a checked portfolio, all in the import's one transaction: the organisation, the
households and the loans with bulk_create; the categories, ledger entries and instalments (100,000+
rows each in an office's history) with COPY (seeding.bulk), since building that many model
instances costs more than the database's work; then each loan's schedule from its records.
"""

from __future__ import annotations

import datetime as dt

import pghistory
from django.db import connection, transaction
from django.utils import timezone

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
from loans.models import (
    CACHED_FIELDS,
    ImportBatch,
    Instalment,
    Loan,
    LoanTransaction,
    TransactionKind,
)
from loans.selectors import equal_instalments
from loans.services import schedule_rebuild

from ..bulk import copy_rows, take_ids
from .check import Book, Checker, Entry, ImportSummary
from .read import ImportFailed, Portfolio, in_memory

Kind = TransactionKind
BATCH = 5000


def import_portfolio(
    *, office: Office, tables: dict[str, list[dict[str, str]]], user=None
) -> ImportSummary:
    """Validate everything, then write everything, or raise ImportFailed with every error.

    A successful import is recorded as one batch (loans.ImportBatch) with what it read:
    read_portfolio's files and checksum, or for tables built in memory their canonical JSON's
    (seeding.importer.read.in_memory); every entry it writes points at the batch."""
    source = in_memory(tables)
    started = timezone.now()
    context = {"command": "import_portfolio", "office": office.code}
    if user is not None:
        context["user"] = user.pk
    with transaction.atomic(), pghistory.context(**context):
        _define_trigger_settings()
        # One import at a time per office; and the business date as it is now.
        office = Office.objects.select_for_update().get(pk=office.pk)
        checked = Checker(office, user)
        checked.load_existing(tables)
        checked.check(tables)
        if checked.errors:
            raise ImportFailed(checked.error_lines())
        write(checked, source, started)
        _analyze_loaded_tables()
    return checked.summary


def _analyze_loaded_tables() -> None:
    """Fresh planner statistics after a bulk load: the first reports read these tables right
    away, before autovacuum has looked (and inside the import's transaction it never would);
    without them PostgreSQL 18 plans the figures query as nested loops that run for minutes."""
    tables = [
        model._meta.db_table
        for model in (Household, HouseholdCategory, SavingsGroup, Loan, Instalment, LoanTransaction)
    ]
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {', '.join(tables)}")


def _define_trigger_settings() -> None:
    """Define pgtrigger's ignore list (empty) for this transaction unless a caller set it.

    The history triggers read it with CURRENT_SETTING inside an EXCEPTION block: when it is
    undefined, every inserted row raises and catches an error, which makes bulk inserts of history-
    tracked rows (households, loans) ten times slower and worse than linear. Defined, nothing
    changes but the speed: the triggers still fire and still record every row (with this import's
    pghistory context).
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config('pgtrigger.ignore', '{}', true) "
            "WHERE COALESCE(current_setting('pgtrigger.ignore', true), '') = ''"
        )


def schedule_from_records(
    plan: list[tuple[int, dt.date, int]],
    entries: list[Entry],
    *,
    disbursed: int,
    fallen_due_by: dt.date,
) -> list[tuple[int, dt.date, int]]:
    """The schedule of an imported loan (docs/decisions/0007): the due dates of the equal plan;
    an instalment that fell due by the import is what the records show repaid (or written off)
    since the one before, so the import invents no arrears the paper records do not show (those
    come as transfer_to_overdue entries); the rest of the principal is spread equally over the
    instalments still to come, or, for a loan already past maturity, added to its last one."""
    reductions = sorted(
        (e.value_date, -e.d_outstanding)
        for e in entries
        if e.counted_kind in (Kind.PRINCIPAL_REPAYMENT, Kind.WRITE_OFF) and not e.failed
    )
    past = [(seq, due) for seq, due, _principal in plan if due <= fallen_due_by]
    future = [(seq, due) for seq, due, _principal in plan if due > fallen_due_by]
    schedule, scheduled, index, paid = [], 0, 0, 0
    for seq, due in past:
        while index < len(reductions) and reductions[index][0] <= due:
            paid += reductions[index][1]
            index += 1
        principal = max(0, min(paid, disbursed) - scheduled)
        schedule.append((seq, due, principal))
        scheduled += principal
    rest = disbursed - scheduled
    if not future:
        seq, due, principal = schedule[-1]
        schedule[-1] = (seq, due, principal + rest)
        return schedule
    base = rest // len(future)
    for position, (seq, due) in enumerate(future, start=1):
        schedule.append(
            (seq, due, base if position < len(future) else rest - base * (len(future) - 1))
        )
    return schedule


def write(checked: Checker, source: Portfolio, started: dt.datetime) -> None:
    """Write what the check found new, in dependency order, and the batch its entries point
    at."""
    new = checked.new
    user_id = checked.user.pk if checked.user is not None else None
    created = checked.summary.created
    for model, name in (
        (Commune, "communes"),
        (Village, "villages"),
        (Chapter, "chapters"),
        (SavingsGroup, "groups"),
        (Household, "households"),
    ):
        model.objects.bulk_create(new[name], batch_size=BATCH)
    created["communes"] = len(new["communes"])
    created["villages"] = len(new["villages"])
    created["groups"] = len(new["groups"])
    created["borrowers"] = len(new["households"])
    now = timezone.now()
    with connection.cursor() as cursor:
        copy_rows(
            cursor,
            HouseholdCategory._meta.db_table,
            ("household_id", "year", "category", "recorded_by_id", "recorded_at"),
            ((h.pk, year, category, user_id, now) for h, year, category in new["categories"]),
        )

    first_approval: dict[int, dt.date] = {}
    for loan in new["loans"]:
        day = first_approval.get(id(loan.household))
        if day is None or loan.approved_on < day:
            first_approval[id(loan.household)] = loan.approved_on
    for membership in new["memberships"]:
        # A member since the first loan the history shows, else since the business date.
        membership.joined_on = first_approval.get(id(membership.household), checked.business_date)
    GroupMembership.objects.bulk_create(new["memberships"], batch_size=BATCH)

    for loan in new["loans"]:
        _set_balances(loan, checked.books[loan.number])
    Loan.objects.bulk_create(new["loans"], batch_size=BATCH)
    created["loans"] = len(new["loans"])

    entries = [e for es in checked.loan_entries.values() for e in es if e.row is not None]
    entries.sort(key=lambda e: e.row)
    batch = ImportBatch.objects.create(
        office=checked.office,
        files=source.files,
        checksum=source.checksum,
        run_by=checked.user,
        started_at=started,
        entries=len(entries),
    )
    checked.summary.batch = batch.pk
    with connection.cursor() as cursor:
        # Ids first, so that a reversal can point at its entry within the same COPY.
        ids = take_ids(cursor, LoanTransaction._meta.db_table, len(entries))
        for entry, pk in zip(entries, ids, strict=True):
            entry.pk = pk
        _write_entries(cursor, checked, entries, user_id, now, batch.pk)
    created["transactions"] = len(entries)

    _write_schedules(checked)


def _write_entries(
    cursor, checked: Checker, entries: list[Entry], user_id, now, batch_id: int
) -> None:
    """The ledger entries, each pointing at its loan, at the import's batch, and a reversal at
    its entry by the ids already given."""
    copy_rows(
        cursor,
        LoanTransaction._meta.db_table,
        (
            "id",
            "office_id",
            "loan_id",
            "kind",
            "counted_kind",
            "value_date",
            "amount",
            "d_outstanding",
            "d_overdue",
            "d_frozen",
            "reverses_id",
            "reference",
            "idempotency_key",
            "note",
            "posted_by_id",
            "posted_at",
            "import_batch_id",
        ),
        (
            (
                e.pk,
                checked.office.pk,
                checked.loans[e.loan_key].pk,
                e.kind,
                e.counted_kind,
                e.value_date,
                e.amount,
                e.d_outstanding,
                e.d_overdue,
                e.d_frozen,
                e.target.pk if e.target is not None else None,
                e.reference,
                checked.key_prefix + e.reference,
                "",
                user_id,
                now,
                batch_id,
            )
            for e in entries
        ),
    )


def _set_balances(loan: Loan, book: Book) -> None:
    loan.outstanding = book.outstanding
    loan.overdue = book.overdue
    loan.frozen = book.frozen
    loan.disbursed = book.disbursed
    loan.first_disbursed_on = book.first_disbursed_on
    loan.status = book.status


def _schedule(checked: Checker, loan: Loan) -> list[tuple[int, dt.date, int]]:
    return schedule_from_records(
        equal_instalments(loan),
        checked.loan_entries[loan.number],
        disbursed=loan.disbursed,
        fallen_due_by=checked.office.business_date,
    )


def _write_schedules(checked: Checker) -> None:
    """Instalments from the records (schedule_from_records): written at once for the new
    loans, through services.schedule_rebuild for loans already in the database."""
    instalments = []
    for loan in checked.new["loans"]:
        if loan.first_disbursed_on is None or loan.disbursed == 0:
            continue
        for seq, due, principal in _schedule(checked, loan):
            instalments.append((loan.pk, seq, due, principal, None))
    with connection.cursor() as cursor:
        copy_rows(
            cursor,
            Instalment._meta.db_table,
            ("loan_id", "seq", "due_date", "principal", "extended_to"),
            instalments,
        )
    new_loans = {loan.number for loan in checked.new["loans"]}
    for loan_key, book in checked.books.items():
        if loan_key in new_loans:
            continue
        loan = checked.loans[loan_key]
        _set_balances(loan, book)
        loan.save(update_fields=list(CACHED_FIELDS))
        has_schedule = loan.first_disbursed_on is not None and loan.disbursed != 0
        schedule_rebuild(loan, _schedule(checked, loan) if has_schedule else None)
