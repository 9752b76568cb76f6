"""The loan pages: list, detail, every operation form, idempotency, errors and scoping."""

import datetime as dt
from pathlib import Path

import pytest
from django.urls import reverse

from loans import selectors, services
from loans.forms import parse_vnd
from loans.models import Loan, LoanTransaction
from loans.selectors import ledger_mismatches
from loans.views import OPERATIONS
from seeding.importer import import_portfolio, read_portfolio

from ..conftest import key
from ..factories import HouseholdFactory

pytestmark = pytest.mark.django_db


def _loan_urls(loan, entry):
    return [
        reverse("loans:approve", args=[loan.pk]),
        reverse("loans:reverse", args=[entry.pk]),
        *[reverse(f"loans:{slug}", args=[loan.pk]) for slug in OPERATIONS],
    ]


def _post_form(client, url, **data):
    """GET the form, then POST it with its hidden idempotency key and the given fields."""
    form = client.get(url).context["form"]
    payload = {name: form[name].value() for name in form.fields if form[name].value() is not None}
    for name, value in payload.items():
        if hasattr(value, "isoformat"):
            payload[name] = value.isoformat()
    payload.update(data)
    return client.post(url, payload), payload


@pytest.fixture
def entry(active_loan):
    return active_loan.transactions.get()


def test_pages_render_for_staff(client, staff_a, active_loan, entry):
    client.force_login(staff_a)
    urls = [reverse("loans:list"), reverse("loans:detail", args=[active_loan.pk])]
    urls += [u for u in _loan_urls(active_loan, entry) if "approve" not in u]
    for url in urls:
        assert client.get(url).status_code == 200, url


def test_detail_shows_schedule_rate_and_interest(client, staff_a, active_loan):
    client.force_login(staff_a)
    response = client.get(reverse("loans:detail", args=[active_loan.pk]))
    html = response.content.decode()
    assert "0,55" in html or "0.55" in html
    expected = selectors.loan_interest_due(active_loan, dt.date(2021, 1, 15), dt.date(2021, 6, 15))
    assert response.context["interest_due"] == expected > 0
    assert "15/07/2021" in html  # first instalment's due date
    for slug in ("disburse", "interest", "repay"):
        url = reverse(f"loans:{slug}", args=[active_loan.pk])
        assert (url in html) is (slug != "disburse")  # fully disbursed: no disburse button


def test_list_filters(client, staff_a, active_loan, household_a, hn):
    other = HouseholdFactory(
        group__village__commune__office=household_a.office,
        full_name="Lê Văn Tám",
        sex="M",
        date_of_birth=dt.date(1970, 1, 1),
    )
    applied = services.loan_apply(
        household=other, programme=hn, amount=10_000_000, term_months=12,
        applied_on=dt.date(2021, 6, 1), user=staff_a, group=other.group,
    )  # fmt: skip
    client.force_login(staff_a)

    def numbers(params):
        table = client.get(reverse("loans:list"), params).context["table"]
        return {row.record.number for row in table.page.object_list}

    both = {active_loan.number, applied.number}
    assert numbers({}) == both
    assert numbers({"status": "applied"}) == {applied.number}
    assert numbers({"q": "le van"}) == {applied.number}
    assert numbers({"q": active_loan.number}) == {active_loan.number}
    assert numbers({"programme": hn.pk}) == both
    assert numbers({"commune": household_a.village.commune_id}) == {active_loan.number}
    assert numbers({"group": other.group_id}) == {applied.number}
    org = household_a.group.chapter.organisation
    assert numbers({"organisation": org.pk}) == both
    assert numbers({"overdue": "true"}) == set()
    services.loan_transfer_to_overdue(
        loan=active_loan, amount=1_000_000, value_date=dt.date(2021, 6, 15),
        user=staff_a, idempotency_key=key(),
    )  # fmt: skip
    assert numbers({"overdue": "true"}) == {active_loan.number}


def test_list_query_count_and_export(
    client, staff_a, household_a, hn, django_assert_max_num_queries
):
    for i in range(30):
        services.loan_apply(
            household=household_a, programme=hn, amount=1_000_000 + i, term_months=12,
            applied_on=dt.date(2021, 6, 1), user=staff_a, group=household_a.group,
        )  # fmt: skip
    client.force_login(staff_a)
    with django_assert_max_num_queries(12):
        response = client.get(reverse("loans:list"), {"status": "applied"})
    assert len(response.context["table"].page.object_list) == 25
    csv = client.get(reverse("loans:list"), {"_export": "csv"}).content.decode()
    assert csv.count("\n") == 31  # header and every loan, not one page


def test_apply_approve_disburse_collect(client, staff_a, manager_a, household_a, hn):
    client.force_login(staff_a)
    response, _ = _post_form(
        client,
        reverse("loans:apply", args=[household_a.pk]),
        programme=hn.pk,
        amount="40.000.000",
        term_months=36,
    )
    loan = Loan.objects.get()
    assert response.url == reverse("loans:detail", args=[loan.pk])
    assert loan.approved_amount == 40_000_000
    assert loan.applied_on == dt.date(2021, 6, 15)  # the business date by default
    # Staff cannot approve; the manager can.
    assert client.get(reverse("loans:approve", args=[loan.pk])).status_code == 403
    client.force_login(manager_a)
    response, _ = _post_form(client, reverse("loans:approve", args=[loan.pk]))
    loan.refresh_from_db()
    assert loan.status == Loan.Status.APPROVED
    client.force_login(staff_a)
    response, _ = _post_form(client, reverse("loans:disburse", args=[loan.pk]))
    loan.refresh_from_db()
    assert loan.outstanding == 40_000_000  # the form defaults to the amount not yet disbursed
    response, _ = _post_form(
        client, reverse("loans:repay", args=[loan.pk]), amount="1.500.000", reference="PT-01"
    )
    assert response.status_code == 302
    loan.refresh_from_db()
    assert loan.outstanding == 38_500_000
    assert loan.transactions.get(kind="principal_repayment").reference == "PT-01"
    assert ledger_mismatches() == []


def test_double_apply_creates_one_loan(client, staff_a, household_a, hn):
    client.force_login(staff_a)
    url = reverse("loans:apply", args=[household_a.pk])
    response, payload = _post_form(client, url, programme=hn.pk, amount="1.000.000", term_months=12)
    second = client.post(url, payload)
    assert second.status_code == 302
    assert Loan.objects.count() == 1


def test_double_post_posts_once(client, staff_a, active_loan):
    client.force_login(staff_a)
    url = reverse("loans:repay", args=[active_loan.pk])
    response, payload = _post_form(client, url, amount="2.000.000")
    assert response.status_code == 302
    again = client.post(url, payload)
    assert again.status_code == 302
    assert active_loan.transactions.filter(kind="principal_repayment").count() == 1
    active_loan.refresh_from_db()
    assert active_loan.outstanding == 48_000_000


def test_interest_defaults_to_interest_due(client, staff_a, active_loan):
    client.force_login(staff_a)
    url = reverse("loans:interest", args=[active_loan.pk])
    due = selectors.loan_interest_due(active_loan, dt.date(2021, 1, 15), dt.date(2021, 6, 15))
    form = client.get(url).context["form"]
    assert parse_vnd(form["amount"].value()) == due
    _post_form(client, url)
    assert active_loan.transactions.get(kind="interest_payment").amount == due
    html = client.get(reverse("loans:detail", args=[active_loan.pk])).content.decode()
    assert 'id="interest-due">0 ₫' in html


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        # Messages in the UI's default language, Vietnamese.
        ("abc", "ví dụ 1.500.000"),
        ("1.5", "không có phần thập phân"),
        ("-100", "phải lớn hơn 0"),
        ("0", "phải lớn hơn 0"),
        ("60.000.000", "vượt quá số nợ gốc có thể thu"),
    ],
)
def test_bad_amount_shows_error_and_changes_nothing(client, staff_a, active_loan, amount, message):
    client.force_login(staff_a)
    response, _ = _post_form(client, reverse("loans:repay", args=[active_loan.pk]), amount=amount)
    assert response.status_code == 200
    assert message in " ".join(response.context["form"].errors["amount"])
    assert LoanTransaction.objects.count() == 1
    active_loan.refresh_from_db()
    assert active_loan.outstanding == 50_000_000


def test_disburse_above_approved_is_refused(client, staff_a, manager_a, household_a, hn):
    loan = services.loan_apply(
        household=household_a, programme=hn, amount=10_000_000, term_months=12,
        applied_on=dt.date(2021, 6, 1), user=staff_a,
    )  # fmt: skip
    services.loan_approve(loan=loan, user=manager_a)
    client.force_login(staff_a)
    response, _ = _post_form(client, reverse("loans:disburse", args=[loan.pk]), amount="10.000.001")
    assert response.status_code == 200
    assert "vượt số tiền được duyệt" in " ".join(response.context["form"].errors["amount"])
    assert not LoanTransaction.objects.exists()


def test_value_date_after_business_date_is_refused(client, staff_a, active_loan):
    client.force_login(staff_a)
    response, _ = _post_form(
        client,
        reverse("loans:repay", args=[active_loan.pk]),
        amount="1.000.000",
        value_date="2021-06-16",
    )
    assert response.status_code == 200
    assert response.context["form"].errors["value_date"]
    assert LoanTransaction.objects.count() == 1


def test_extend_freeze_unfreeze_write_off_reverse(client, staff_a, active_loan, entry):
    client.force_login(staff_a)
    first = active_loan.instalments.get(seq=1)
    _post_form(
        client,
        reverse("loans:extend", args=[active_loan.pk]),
        instalment=first.pk,
        new_due_date="2022-01-15",
    )
    first.refresh_from_db()
    assert first.extended_to == dt.date(2022, 1, 15)
    response, _ = _post_form(
        client, reverse("loans:freeze", args=[active_loan.pk]), amount="5.000.000", note=""
    )
    assert response.context["form"].errors["note"]  # a freeze cites its dossier
    _post_form(
        client,
        reverse("loans:freeze", args=[active_loan.pk]),
        amount="5.000.000",
        note="QĐ 12/2021 lũ lụt",
    )
    _post_form(client, reverse("loans:unfreeze", args=[active_loan.pk]), amount="2.000.000")
    _post_form(
        client,
        reverse("loans:write-off", args=[active_loan.pk]),
        amount="3.000.000",
        note="QĐ 13/2021",
    )
    active_loan.refresh_from_db()
    assert (active_loan.outstanding, active_loan.frozen) == (47_000_000, 0)
    write_off = active_loan.transactions.get(kind="write_off")
    _post_form(client, reverse("loans:reverse", args=[write_off.pk]), note="nhập nhầm")
    active_loan.refresh_from_db()
    assert active_loan.outstanding == 50_000_000
    html = client.get(reverse("loans:detail", args=[active_loan.pk])).content.decode()
    assert f"#entry-{write_off.pk}" in html  # the reversal links to the entry it cancels
    assert ledger_mismatches() == []


def test_transfer_to_another_office(client, staff_a, active_loan, household_b):
    client.force_login(staff_a)
    response, _ = _post_form(
        client,
        reverse("loans:transfer", args=[active_loan.pk]),
        to_village=household_b.village_id,
        to_group=household_b.group_id,
    )
    assert response.status_code == 302
    active_loan.refresh_from_db()
    assert active_loan.status == Loan.Status.TRANSFERRED
    moved = Loan.objects.get(transferred_from=active_loan)
    assert moved.office == household_b.office
    assert moved.outstanding == 50_000_000


def test_reject(client, manager_a, household_a, hn, staff_a):
    loan = services.loan_apply(
        household=household_a, programme=hn, amount=10_000_000, term_months=12,
        applied_on=dt.date(2021, 6, 1), user=staff_a,
    )  # fmt: skip
    client.force_login(staff_a)
    assert client.post(reverse("loans:reject", args=[loan.pk])).status_code == 403
    client.force_login(manager_a)
    client.post(reverse("loans:reject", args=[loan.pk]))
    loan.refresh_from_db()
    assert loan.status == Loan.Status.REJECTED


def test_other_office_gets_404(client, staff_b, active_loan, entry):
    client.force_login(staff_b)
    assert client.get(reverse("loans:detail", args=[active_loan.pk])).status_code == 404
    assert client.post(reverse("loans:reject", args=[active_loan.pk])).status_code == 404
    for url in _loan_urls(active_loan, entry):
        assert client.get(url).status_code == 404, url
        assert client.post(url, {"amount": "1.000", "idempotency_key": key()}).status_code == 404
    assert active_loan.number not in client.get(reverse("loans:list")).content.decode()
    assert LoanTransaction.objects.count() == 1


def test_auditor_reads_but_cannot_write(client, auditor_a, active_loan, entry):
    client.force_login(auditor_a)
    assert client.get(reverse("loans:list")).status_code == 200
    html = client.get(reverse("loans:detail", args=[active_loan.pk])).content.decode()
    assert reverse("loans:repay", args=[active_loan.pk]) not in html
    assert client.post(reverse("loans:reject", args=[active_loan.pk])).status_code == 403
    for url in _loan_urls(active_loan, entry):
        assert client.get(url).status_code == 403, url
        assert client.post(url, {"amount": "1.000", "idempotency_key": key()}).status_code == 403
    assert LoanTransaction.objects.count() == 1


def test_an_imported_entry_says_so_with_its_batch_and_reference(client, staff_a, office_a):
    good = Path(__file__).parent.parent / "seeding" / "import_fixtures" / "good"
    batch = import_portfolio(office=office_a, tables=read_portfolio(good)).batch
    loan = Loan.objects.get(number="L3")
    services.loan_repay_principal(
        loan=loan,
        amount=1_000_000,
        value_date=dt.date(2021, 6, 5),
        user=staff_a,
        idempotency_key=key(),
    )
    client.force_login(staff_a)
    url = reverse("loans:detail", args=[loan.pk])
    client.post(reverse("set_language"), {"language": "en", "next": url})
    html = client.get(url).content.decode()
    imported = loan.transactions.exclude(import_batch=None)
    assert imported.count() == loan.transactions.count() - 1 > 0
    assert html.count(f"Imported (batch #{batch})") == imported.count()
    for entry in imported:
        row = html.split(f'id="entry-{entry.pk}"')[1].split("</tr>")[0]
        assert f"Imported (batch #{batch})" in row
        assert f"ref. {entry.reference}" in row
    posted = loan.transactions.get(import_batch=None)
    row = html.split(f'id="entry-{posted.pk}"')[1].split("</tr>")[0]
    assert "Imported" not in row
    assert staff_a.get_username() in row


def test_language_switch(client, staff_a, active_loan):
    client.force_login(staff_a)
    url = reverse("loans:detail", args=[active_loan.pk])
    assert "Thu nợ gốc" in client.get(url).content.decode()
    client.post(reverse("set_language"), {"language": "en", "next": url})
    html = client.get(url).content.decode()
    assert "Principal repayment" in html
    assert "Thu nợ gốc" not in html


@pytest.mark.parametrize(
    ("text", "value"),
    [("1.500.000", 1_500_000), ("1500000", 1_500_000), ("1,500,000", 1_500_000),
     (" 2.000.000 ₫", 2_000_000), ("1 500 000", 1_500_000), ("500", 500)],
)  # fmt: skip
def test_parse_vnd(text, value):
    assert parse_vnd(text) == value
