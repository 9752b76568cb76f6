"""Fees and commissions on a worked month (commune_day.fees, fee_services, the command, pages).

The worked month is May 2021 in office A, with the seeded placeholder rates (commission 18 %,
fee 8 %, tiers ×1 at ≤ 1 % overdue and ≥ 95 % collected, ×0.9 at ≤ 2 % and ≥ 90 %, ×0.75 at
≤ 3 %, ×0.5 beyond). Poor-household loans at 0.55 %/month, all disbursed on 01/03/2021:

Commune C1, Women's Union chapter, group G1:
  L1 40,000,000: interest 220,000 paid 30/04 (April: not May's); 146,667 paid 20/05
      (20 days since 30/04: 40 M × 0.55 % × 20 / 30 = 146,666.67 → 146,667).
  L2 20,000,000: 100,000 paid 10/05, reversed 25/05 (both in May: nets to 0); 300,000 paid
      26/05 (due since 01/03, the reversed payment paying nothing: 315,333).
  G1 interest collected = 146,667 + 100,000 − 100,000 + 300,000 = 446,667
  commission 18 % = 80,400.06 → 80,400
  chapter: no overdue (0.00 %), nothing fell due (no collection condition) → ×1
  fee 8 % × 1 = 35,733.36 → 35,733

Commune C2, Farmers' Association chapter, group G2:
  L3 50,000,000: 687,500 interest paid 15/05 (75 days: 50 M × 0.55 % × 75 / 30); 9,000,000
      principal repaid 15/05; 820,000 transferred to overdue 31/05.
  G2 interest collected = 687,500; commission 18 % = 123,750
  chapter: overdue ratio 820,000 / 41,000,000 = 2.00 % (≤ 2 %); collection rate
      9,000,000 / (9,000,000 + 820,000) = 91.65 % (≥ 90 %) → ×0.9
  fee 8 % × 0.9 = 687,500 × 0.072 = 49,500

Totals: interest 1,134,167; commissions 204,150; fees 85,233.
"""

import datetime as dt
import io
import json
import re
import shutil
import subprocess
import tempfile
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, connection, transaction
from django.urls import reverse
from openpyxl import load_workbook

from borrowers.models import Organisation
from commune_day import fee_services
from commune_day.fees import fee_payments_in, fee_statement, fees_paid_in
from commune_day.models import CommissionRate, FeePayment, FeeTier, TransactionSession
from loans import services
from tests.conftest import key, refused
from tests.factories import ChapterFactory, CommuneFactory, GroupFactory, HouseholdFactory

pytestmark = pytest.mark.django_db

MAY = dt.date(2021, 5, 1)


def _loan(group, amount, hn, staff, manager, name):
    household = HouseholdFactory(group=group, full_name=name)
    loan = services.loan_apply(
        household=household, programme=hn, amount=amount, term_months=36,
        applied_on=dt.date(2021, 2, 20), user=staff, group=group,
    )  # fmt: skip
    services.loan_approve(loan=loan, user=manager, approved_on=dt.date(2021, 2, 25))
    services.loan_disburse(
        loan=loan, amount=amount, value_date=dt.date(2021, 3, 1), user=staff,
        idempotency_key=key(),
    )  # fmt: skip
    loan.refresh_from_db()
    return loan


def _interest(loan, amount, day, staff):
    return services.loan_pay_interest(
        loan=loan, amount=amount, value_date=day, user=staff, idempotency_key=key()
    )


@pytest.fixture
def month(office_a, staff_a, manager_a, hn):
    """The worked month of the module's docstring."""
    c1 = CommuneFactory(office=office_a, code="C1", name="Xã Hạ Mỗ")
    c2 = CommuneFactory(office=office_a, code="C2", name="Xã Tân Hội")
    women = ChapterFactory(commune=c1, office=office_a)
    farmers = ChapterFactory(
        commune=c2, office=office_a, organisation=Organisation.objects.get(code="farmers")
    )
    g1 = GroupFactory(village__commune=c1, chapter=women, code="G1", name="Tổ Hạ Mỗ 1")
    g2 = GroupFactory(village__commune=c2, chapter=farmers, code="G2", name="Tổ Tân Hội 1")
    l1 = _loan(g1, 40_000_000, hn, staff_a, manager_a, "Nguyễn Thị Hằng")
    l2 = _loan(g1, 20_000_000, hn, staff_a, manager_a, "Trần Thị Lan")
    l3 = _loan(g2, 50_000_000, hn, staff_a, manager_a, "Lê Văn Hùng")
    _interest(l1, 220_000, dt.date(2021, 4, 30), staff_a)
    _interest(l1, 146_667, dt.date(2021, 5, 20), staff_a)
    reversed_payment = _interest(l2, 100_000, dt.date(2021, 5, 10), staff_a)
    services.loan_reverse(
        entry=reversed_payment, value_date=dt.date(2021, 5, 25), user=staff_a,
        idempotency_key=key(), note="nhập nhầm",
    )  # fmt: skip
    _interest(l2, 300_000, dt.date(2021, 5, 26), staff_a)
    _interest(l3, 687_500, dt.date(2021, 5, 15), staff_a)
    services.loan_repay_principal(
        loan=l3, amount=9_000_000, value_date=dt.date(2021, 5, 15), user=staff_a,
        idempotency_key=key(),
    )  # fmt: skip
    services.loan_transfer_to_overdue(
        loan=l3, amount=820_000, value_date=dt.date(2021, 5, 31), user=staff_a,
        idempotency_key=key(),
    )  # fmt: skip
    return {"c1": c1, "c2": c2, "women": women, "farmers": farmers, "g1": g1, "g2": g2}


EXPECTED_JSON = {
    "groups": [
        {"code": "G1", "interest_collected": 446_667, "rate": "18.00", "commission": 80_400},
        {"code": "G2", "interest_collected": 687_500, "rate": "18.00", "commission": 123_750},
    ],
    "chapters": [
        {
            "commune": "C1",
            "organisation": "women",
            "interest_collected": 446_667,
            "overdue_ratio": "0.00",
            "rate": "8.00",
            "factor": "1.000",
            "fee": 35_733,
        },
        {
            "commune": "C2",
            "organisation": "farmers",
            "interest_collected": 687_500,
            "overdue_ratio": "2.00",
            "rate": "8.00",
            "factor": "0.900",
            "fee": 49_500,
        },
    ],
}


def test_worked_month(office_a, month, django_assert_max_num_queries):
    with django_assert_max_num_queries(12):  # a few queries, not one per loan or group
        statement = fee_statement(office_a, MAY)
    assert statement.as_json() == EXPECTED_JSON
    assert statement.totals == {
        "interest_collected": 1_134_167,
        "commission": 204_150,
        "commission_paid": 0,
        "fee": 85_233,
        "fee_paid": 0,
    }
    farmers = statement.chapters[1]
    assert farmers.collection_rate_text == "91.65"
    assert statement.chapters[0].collection_rate is None

    # April counts its own payment (L1's 220,000 of 30/04), which May does not.
    april = fee_statement(office_a, dt.date(2021, 4, 1)).as_json()
    assert [(g["code"], g["interest_collected"]) for g in april["groups"]] == [
        ("G1", 220_000),
        ("G2", 0),
    ]

    out = io.StringIO()
    call_command("fee_statement", "--office", "A", "--month", "2021-05", "--json", stdout=out)
    assert json.loads(out.getvalue()) == EXPECTED_JSON


# --- rates, effective-dated ---------------------------------------------------------------------


def test_a_new_rate_applies_from_its_month_only(office_a, office_b, manager_a, manager_b, month):
    fee_services.commission_rate_add(
        office=office_a, effective_from=dt.date(2021, 6, 1), percent=Decimal("20"),
        decision="QĐ 01/2021", user=manager_a,
    )  # fmt: skip
    fee_services.commission_rate_add(
        office=office_b, effective_from=dt.date(2021, 5, 1), percent=Decimal("50"),
        decision="QĐ B", user=manager_b,
    )  # fmt: skip
    fee_services.fee_rate_add(
        office=office_a, organisation=Organisation.objects.get(code="farmers"),
        effective_from=dt.date(2021, 5, 1), percent=Decimal("10"), decision="", user=manager_a,
    )  # fmt: skip
    may = fee_statement(office_a, MAY).as_json()
    assert {g["rate"] for g in may["groups"]} == {"18.00"}  # June's and office B's not
    assert [(c["rate"], c["fee"]) for c in may["chapters"]] == [
        ("8.00", 35_733),  # women: the rate for every organisation
        ("10.00", 61_875),  # farmers: 687,500 × 10 % × 0.9
    ]
    june = dt.date(2021, 6, 1)
    assert CommissionRate.objects.filter(office=office_a).get().effective_from == june
    from commune_day.fees import commission_rate_for

    assert commission_rate_for(office=office_a, month=june).percent == Decimal("20")

    # A new tier table replaces the whole table from its month.
    fee_services.fee_tiers_add(
        office=office_a, effective_from=MAY,
        tiers=[(Decimal("5"), Decimal("0"), Decimal("0.8"))], decision="", user=manager_a,
    )  # fmt: skip
    chapters = fee_statement(office_a, MAY).as_json()["chapters"]
    # 446,667 × 8 % × 0.8 = 28,586.67; 687,500 × 10 % × 0.8 = 55,000
    assert [(c["factor"], c["fee"]) for c in chapters] == [("0.800", 28_587), ("0.800", 55_000)]


def test_rates_are_never_edited(office_a, manager_a):
    rate = CommissionRate.objects.filter(office=None).first()
    rate.percent = Decimal("1")
    with pytest.raises(TypeError):
        rate.save()
    with pytest.raises(TypeError):
        CommissionRate.objects.update(percent=Decimal("1"))
    with pytest.raises(TypeError):
        FeeTier.objects.all().delete()
    with (
        pytest.raises(Exception, match="Cannot update"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("UPDATE commune_day_commissionrate SET percent = 1")


def test_a_rate_is_refused_mid_month_and_in_a_closed_month(office_a, manager_a, staff_a):
    with refused("first day of a month", field="effective_from"):
        fee_services.commission_rate_add(
            office=office_a, effective_from=dt.date(2021, 7, 15), percent=Decimal("18"),
            decision="", user=manager_a,
        )  # fmt: skip
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        fee_services.commission_rate_add(
            office=office_a, effective_from=dt.date(2021, 7, 1), percent=Decimal("18"),
            decision="", user=staff_a,
        )  # fmt: skip
    from loans.models import ClosedMonth

    ClosedMonth.objects.create(office=office_a, month=dt.date(2021, 5, 1), closed_by=manager_a)
    with refused("is closed", field="effective_from"):
        fee_services.fee_rate_add(
            office=office_a, organisation=None, effective_from=dt.date(2021, 5, 1),
            percent=Decimal("9"), decision="", user=manager_a,
        )  # fmt: skip


def test_the_placeholders_say_so():
    assert CommissionRate.objects.filter(office=None).get().decision.startswith("Placeholder")


# --- paying in a session -------------------------------------------------------------------------


@pytest.fixture
def session(office_a, month, manager_a, staff_a, auditor_a):
    session = TransactionSession.objects.create(
        office=office_a, commune=month["c2"], date=dt.date(2021, 6, 10), leader=manager_a,
        opened_by=manager_a,
    )  # fmt: skip
    session.groups.add(month["g2"])
    return session


def test_fee_payment_limits(office_a, month, session, staff_a):
    g2, farmers = month["g2"], month["farmers"]
    first = fee_services.fee_pay(
        session=session, month=MAY, amount=100_000, user=staff_a, idempotency_key="k1", group=g2
    )
    again = fee_services.fee_pay(
        session=session, month=MAY, amount=100_000, user=staff_a, idempotency_key="k1", group=g2
    )
    assert again.pk == first.pk
    # The same key for another payment (another payee, or amount) is refused, not replayed.
    for other in ({"amount": 5_000, "group": g2}, {"amount": 100_000, "chapter": farmers}):
        with refused("already used for another payment"):
            fee_services.fee_pay(
                session=session, month=MAY, user=staff_a, idempotency_key="k1", **other
            )
    with refused("At most 23.750", field="amount"):
        fee_services.fee_pay(
            session=session, month=MAY, amount=23_751, user=staff_a, idempotency_key=key(),
            group=g2,
        )  # fmt: skip
    fee_services.fee_pay(
        session=session, month=MAY, amount=23_750, user=staff_a, idempotency_key=key(), group=g2
    )
    fee_services.fee_pay(
        session=session, month=MAY, amount=49_500, user=staff_a, idempotency_key=key(),
        chapter=farmers,
    )  # fmt: skip
    with refused("more than zero", field="amount"):
        fee_services.fee_pay(
            session=session, month=MAY, amount=0, user=staff_a, idempotency_key=key(),
            chapter=farmers,
        )  # fmt: skip
    with refused("not served by this session", field="payee"):
        fee_services.fee_pay(
            session=session, month=MAY, amount=1, user=staff_a, idempotency_key=key(),
            group=month["g1"],
        )  # fmt: skip
    with refused("not served by this session", field="payee"):
        fee_services.fee_pay(
            session=session, month=MAY, amount=1, user=staff_a, idempotency_key=key(),
            chapter=month["women"],
        )  # fmt: skip
    with refused("is not", field="month"):
        fee_services.fee_pay(
            session=session, month=dt.date(2021, 6, 1), amount=1, user=staff_a,
            idempotency_key=key(), group=g2,
        )  # fmt: skip
    assert fees_paid_in(session) == 100_000 + 23_750 + 49_500
    paid = fee_payments_in(session)
    assert [(p.kind, p.payee, p.amount) for p in paid] == [
        ("commission", str(g2), 123_750),
        ("fee", str(farmers), 49_500),
    ]
    statement = fee_statement(office_a, MAY)
    assert statement.totals["commission_paid"] == 123_750
    assert statement.fee_of(farmers.pk).unpaid == 0
    with pytest.raises(TypeError):
        first.delete()


def test_a_closed_session_pays_nothing(office_a, staff_a, auditor_a, manager_a):
    group = GroupFactory(village__commune__office=office_a)
    session = TransactionSession.objects.create(
        office=office_a, commune=group.village.commune, date=dt.date(2021, 6, 10),
        leader=manager_a, opened_by=manager_a, status="closing", controller=staff_a,
        teller=auditor_a, cash_expected=0, cash_counted=0, closed_by=manager_a,
        closed_at=dt.datetime(2021, 6, 10, 17, tzinfo=dt.UTC),
    )  # fmt: skip
    session.groups.add(group)
    with refused("The session is closed"):
        fee_services.fee_pay(
            session=session, month=MAY, amount=1, user=staff_a, idempotency_key=key(),
            group=group,
        )  # fmt: skip
    assert not FeePayment.objects.exists()


def test_one_payee_only():
    with pytest.raises(IntegrityError), transaction.atomic():
        FeePayment.objects.create(
            session_id=0, month=MAY, amount=1, paid_by_id=0, idempotency_key="x"
        )


# --- the command ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, message",
    [
        (["--office", "NOPE", "--month", "2021-05"], "No office"),
        (["--office", "A", "--month", "2021-13"], "YYYY-MM"),
        (["--office", "A", "--month", "May"], "YYYY-MM"),
        (["--office", "A", "--month", "2099-01"], "after the business date"),
    ],
)
def test_fee_statement_command_bad_args(office_a, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("fee_statement", *args, "--json")


# --- pages, PDF, XLSX ----------------------------------------------------------------------------


def test_statement_page(client, office_a, month, staff_a):
    client.force_login(staff_a)
    response = client.get(reverse("fees:statement"), {"office": office_a.pk, "month": "2021-05"})
    assert response.status_code == 200
    text = response.content.decode()
    for figure in ("446.667", "80.400", "123.750", "35.733", "49.500", "91,65", "0,900"):
        assert figure in text, figure
    _check_pdf(client, office_a)
    _check_xlsx(client, office_a)


def test_statement_page_bad_month(client, office_a, staff_a):
    client.force_login(staff_a)
    for month in ("2021-13", "abc", "2099-01", "0000-01"):
        response = client.get(reverse("fees:statement"), {"office": office_a.pk, "month": month})
        assert response.status_code == 400, month
        assert response.context["form"].errors
    response = client.get(reverse("fees:pdf"), {"office": office_a.pk, "month": "x"})
    assert response.status_code == 400


def _check_pdf(client, office_a):
    response = client.get(reverse("fees:pdf"), {"office": office_a.pk, "month": "2021-05"})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    if shutil.which("pdftotext"):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "f.pdf"
            path.write_bytes(response.content)
            text = subprocess.run(
                ["pdftotext", "-layout", str(path), "-"], capture_output=True, check=True
            ).stdout.decode()
        assert "G1" in text and "Hội Nông dân" in text
        assert re.search(r"80\.400", text) and "49.500" in text and "85.233" in text


def _check_xlsx(client, office_a):
    response = client.get(reverse("fees:xlsx"), {"office": office_a.pk, "month": "2021-05"})
    assert response.status_code == 200
    workbook = load_workbook(io.BytesIO(response.content))
    groups, chapters = workbook.worksheets
    values = [[cell.value for cell in row] for row in groups.iter_rows()]
    assert values[1][:3] == ["G1", "Tổ Hạ Mỗ 1", 446_667]
    assert values[-1][-1] == 204_150 or 204_150 in values[-1]
    chapter_values = [[cell.value for cell in row] for row in chapters.iter_rows()]
    assert any(49_500 in row for row in chapter_values)


def test_rate_pages(client, office_a, manager_a, staff_a):
    client.force_login(staff_a)
    assert client.get(reverse("fees:rates"), {"office": office_a.pk}).status_code == 200
    assert client.get(reverse("fees:rate_add", args=["commission"])).status_code == 403
    client.force_login(manager_a)
    url = reverse("fees:rate_add", args=["commission"])
    response = client.post(
        url, {"office": office_a.pk, "effective_from": "2021-07", "percent": "abc"}
    )
    assert response.status_code == 400
    response = client.post(
        url, {"office": office_a.pk, "effective_from": "2021-07", "percent": "19,5"}
    )
    assert response.status_code == 302
    assert CommissionRate.objects.get(office=office_a).percent == Decimal("19.5")
    tiers = reverse("fees:rate_add", args=["tiers"])
    response = client.post(
        tiers,
        {
            "office": office_a.pk,
            "effective_from": "2021-07",
            "form-TOTAL_FORMS": "5",
            "form-INITIAL_FORMS": "0",
            "form-0-max_overdue_ratio": "1",
            "form-0-min_collection_rate": "95",
            "form-0-factor": "1",
            "form-1-max_overdue_ratio": "100",
            "form-1-min_collection_rate": "0",
            "form-1-factor": "0,6",
        },
    )
    assert response.status_code == 302, response.context and response.context["form"].errors
    assert FeeTier.objects.filter(office=office_a).count() == 2
    assert client.get(reverse("fees:rate_add", args=["nope"])).status_code == 404


def test_session_pay_page(client, month, session, staff_a, auditor_a):
    url = reverse("fees:session_pay", args=[session.pk])
    client.force_login(auditor_a)
    response = client.get(url, {"month": "2021-05"})
    assert response.status_code == 200
    assert "123.750" in response.content.decode() and not response.context["can_pay"]
    client.force_login(staff_a)
    g2 = f"g{month['g2'].pk}"
    for bad, field in (
        ({"payee": g2, "month": "2021-05", "amount": "123.751"}, "amount"),
        ({"payee": g2, "month": "2021-5", "amount": "1.000"}, "month"),
        ({"payee": f"g{month['g1'].pk}", "month": "2021-05", "amount": "1.000"}, "payee"),
        ({"payee": g2, "month": "2021-05", "amount": "-5"}, "amount"),
        ({"payee": g2, "month": "2021-06", "amount": "1.000"}, "month"),
    ):
        response = client.post(url, {**bad, "idempotency_key": key()})
        assert response.status_code == 400, bad
        assert field in response.context["form"].errors, (bad, response.context["form"].errors)
    assert not FeePayment.objects.exists()
    paid = {"payee": f"c{month['farmers'].pk}", "month": "2021-05", "amount": "49.500"}
    response = client.post(url, {**paid, "idempotency_key": "once"})
    assert response.status_code == 302
    assert client.post(url, {**paid, "idempotency_key": "once"}).status_code == 302
    assert fees_paid_in(session) == 49_500


def test_statement_page_defaults(client, office_a, staff_a):
    """Nothing asked: the user's office and the last complete month at its business date."""
    client.force_login(staff_a)
    response = client.get(reverse("fees:statement"), {"month": ""})
    assert response.status_code == 200
    assert response.context["statement"].month == dt.date(2021, 5, 1)
    response = client.get(reverse("fees:statement"), {"month": "2021-04"})
    assert response.context["statement"].office == office_a
