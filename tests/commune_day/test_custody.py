"""Receipts held by the group head until the session: not in the ledger while held; confirmed at
the session they post once, through the sheet, and the sheet's totals are held + handed in."""

import datetime as dt
import threading

import pytest
from django.db import connection
from django.utils import translation

from commune_day import custody
from commune_day.models import CustodyHandover, HeldReceipt, SheetPosting, TransactionSession
from commune_day.posting import SheetRefused, post_collection_sheet
from loans.models import Loan, LoanTransaction
from loans.selectors import interest_due_on, ledger_mismatches
from savings.models import SavingsTransaction

from ..factories import HouseholdFactory
from .test_posting import make_loan

pytestmark = pytest.mark.django_db

DAY = dt.date(2021, 6, 15)


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


@pytest.fixture
def group_day(household_a, manager_a, staff_a, hn):
    """Two members with 20 M loans through their group, and the commune's open session on the
    business date."""
    group = household_a.group
    members = [household_a, HouseholdFactory(group=group, full_name="Lê Thị Mai")]
    loans = [make_loan(h, manager=manager_a, staff=staff_a, hn=hn) for h in members]
    session = TransactionSession.objects.create(
        office=group.office, commune=group.village.commune, date=DAY, leader=staff_a,
        opened_by=staff_a,
    )  # fmt: skip
    session.groups.add(group)
    return session, group, loans


def due(loan) -> int:
    return interest_due_on(Loan.objects.get(pk=loan.pk), DAY).payable


def hold(group, loan, key, user, **amounts):
    data = {"loan_number": loan.number, "receipt": f"BL-{key}", **amounts}
    return custody.receipt_hold(group=group, data=data, idempotency_key=key, user=user, today=DAY)


def ledgers() -> tuple[int, int]:
    return LoanTransaction.objects.count(), SavingsTransaction.objects.count()


def test_a_held_receipt_is_not_in_the_ledger(group_day, staff_a):
    session, group, loans = group_day
    before = ledgers()
    outcome = hold(group, loans[0], "k1", staff_a, interest=100_000, savings=20_000)
    assert outcome.created
    assert outcome.receipt.status == HeldReceipt.Status.HELD
    assert outcome.receipt.sheet_date == DAY
    assert ledgers() == before
    assert Loan.objects.get(pk=loans[0].pk).outstanding == loans[0].outstanding
    assert custody.held_by_loan(group) == {
        loans[0].pk: {"interest": 100_000, "principal": 0, "savings": 20_000}
    }


def test_the_same_key_holds_once_and_another_receipt_under_it_is_refused(group_day, staff_a):
    session, group, loans = group_day
    first = hold(group, loans[0], "k1", staff_a, interest=100_000)
    again = hold(group, loans[0], "k1", staff_a, interest=100_000)
    assert (again.created, again.receipt.pk) == (False, first.receipt.pk)
    with pytest.raises(custody.KeyReused) as caught:
        hold(group, loans[0], "k1", staff_a, interest=90_000)
    assert caught.value.receipt.pk == first.receipt.pk
    assert HeldReceipt.objects.count() == 1


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_connections_with_one_key_at_once_hold_once(group_day, staff_a):
    session, group, loans = group_day
    barrier, answers, failures = threading.Barrier(2), [], []

    def phone():
        try:
            barrier.wait()
            answers.append(hold(group, loans[0], "same", staff_a, interest=50_000))
        except Exception as exc:  # noqa: BLE001 - reported below
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=phone) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert sorted(a.created for a in answers) == [False, True]
    assert len({a.receipt.pk for a in answers}) == 1
    assert HeldReceipt.objects.count() == 1


@pytest.mark.parametrize(
    "amounts,field",
    [
        ({"interest": -1}, "interest"),
        ({"interest": "5000"}, "interest"),
        ({"principal": 1.5}, "principal"),
        ({}, "interest"),
        ({"savings": 4_999}, "savings"),
        ({"principal": 20_000_001}, "principal"),
    ],
)
def test_bad_receipts_are_refused_on_their_field(group_day, staff_a, amounts, field):
    session, group, loans = group_day
    with pytest.raises(custody.ReceiptRefused) as caught:
        hold(group, loans[0], "k", staff_a, **amounts)
    assert field in caught.value.errors
    assert not HeldReceipt.objects.exists()


def test_caps_count_what_is_already_held_and_other_groups_loans_are_refused(
    group_day, staff_a, household_b
):
    session, group, loans = group_day
    interest = due(loans[0])
    hold(group, loans[0], "a", staff_a, interest=interest - 1_000)
    with pytest.raises(custody.ReceiptRefused) as caught:
        hold(group, loans[0], "b", staff_a, interest=1_001)
    assert "1.000" in caught.value.errors["interest"]
    other = HouseholdFactory(group__village__commune__office=group.office)
    with pytest.raises(custody.ReceiptRefused) as caught:
        custody.receipt_hold(
            group=other.group, data={"loan_number": loans[1].number, "receipt": "X",
                                     "interest": 1_000},
            idempotency_key="c", user=staff_a, today=DAY,
        )  # fmt: skip
    assert "loan_number" in caught.value.errors
    with pytest.raises(custody.ReceiptRefused):
        hold(group, loans[0], "d", staff_a, interest=1_000, paid_on="2021-06-16")


def test_a_changed_sheet_version_is_refused_with_the_new_one(group_day, staff_a):
    session, group, loans = group_day
    version = custody.group_sheet(group).version
    hold(group, loans[0], "a", staff_a, interest=1_000, sheet_version=version)
    assert custody.group_sheet(group).version == version  # holding does not change the sheet
    post_collection_sheet(
        session=session, group=group, user=staff_a, idempotency_key="teller",
        lines=[{"loan_number": loans[1].number, "principal": 1_000_000}, {
            "loan_number": loans[0].number, "interest": 1_000}],
    )  # fmt: skip
    with pytest.raises(custody.SheetVersionChanged) as caught:
        hold(group, loans[1], "b", staff_a, interest=1_000, sheet_version=version)
    assert caught.value.sheet.version != version
    assert HeldReceipt.objects.filter(idempotency_key="b").count() == 0


def test_confirming_at_the_session_posts_each_receipt_once(group_day, staff_a):
    session, group, loans = group_day
    hold(group, loans[0], "a", staff_a, interest=100_000, savings=50_000)
    hold(group, loans[0], "b", staff_a, principal=500_000)
    hold(group, loans[1], "c", staff_a, interest=80_000)
    held_total = 730_000
    before = ledgers()
    with pytest.raises(SheetRefused) as caught:
        custody.custody_confirm(
            session=session, group=group, handed_in=700_000, note="", user=staff_a,
            idempotency_key="confirm",
        )  # fmt: skip
    assert "explain" in str(caught.value)
    assert ledgers() == before

    handover = custody.custody_confirm(
        session=session, group=group, handed_in=700_000, note="30.000 kept back: to follow",
        user=staff_a, idempotency_key="confirm",
        lines=[{"loan_number": loans[1].number, "principal": 200_000}],  # paid at the session
    )  # fmt: skip
    assert (handover.held, handover.handed_in) == (held_total, 700_000)
    assert handover.difference == -30_000
    sheet_posting = handover.posting
    posted = sheet_posting.interest + sheet_posting.principal + sheet_posting.savings_deposited
    assert posted == held_total + 200_000  # the sheet's totals: held + handed in at the session
    assert ledgers() == (before[0] + 4, before[1] + 1)
    amounts = sorted(
        LoanTransaction.objects.filter(idempotency_key__startswith=f"s{session.pk}:")
        .values_list("amount", flat=True)
    )  # fmt: skip
    assert amounts == [80_000, 100_000, 200_000, 500_000]
    assert set(HeldReceipt.objects.values_list("status", "posting")) == {
        ("confirmed", sheet_posting.pk)
    }
    assert ledger_mismatches() == []

    # again: the same key posts nothing twice; the receipts are no longer held
    with pytest.raises(SheetRefused):
        custody.custody_confirm(
            session=session, group=group, handed_in=700_000, note="x", user=staff_a,
            idempotency_key="confirm",
        )  # fmt: skip
    assert ledgers() == (before[0] + 4, before[1] + 1)
    assert SheetPosting.objects.count() == CustodyHandover.objects.count() == 1


def test_a_sheet_that_leaves_out_what_is_held_posts_nothing(group_day, staff_a):
    session, group, loans = group_day
    hold(group, loans[0], "a", staff_a, interest=100_000)
    before = ledgers()
    with pytest.raises(SheetRefused) as caught:
        post_collection_sheet(
            session=session, group=group, user=staff_a, idempotency_key="teller",
            lines=[{"loan_number": loans[0].number, "interest": 60_000}],
        )  # fmt: skip
    assert "100.000" in str(caught.value) and "held by the group head" in str(caught.value)
    assert ledgers() == before and not SheetPosting.objects.exists()
    assert HeldReceipt.objects.get().status == HeldReceipt.Status.HELD

    sheet_posting = post_collection_sheet(
        session=session, group=group, user=staff_a, idempotency_key="teller",
        lines=[{"loan_number": loans[0].number, "interest": 100_000}],
    )  # fmt: skip
    assert HeldReceipt.objects.get().posting == sheet_posting
    # the teller's screen resubmitted: nothing more
    again = post_collection_sheet(
        session=session, group=group, user=staff_a, idempotency_key="teller",
        lines=[{"loan_number": loans[0].number, "interest": 100_000}],
    )  # fmt: skip
    assert again.pk == sheet_posting.pk and ledgers() == (before[0] + 1, before[1])


def test_the_session_shows_what_is_held_against_what_was_handed_in(group_day, staff_a):
    session, group, loans = group_day
    hold(group, loans[0], "a", staff_a, interest=100_000)
    [row] = custody.session_custody(session)
    assert (row.group, row.held_receipts, row.held, row.confirmed, row.handover) == (
        group, 1, 100_000, 0, None,
    )  # fmt: skip
    custody.custody_confirm(
        session=session, group=group, handed_in=100_000, note="", user=staff_a,
        idempotency_key="confirm",
    )  # fmt: skip
    [row] = custody.session_custody(session)
    assert (row.held_receipts, row.held, row.confirmed) == (0, 0, 100_000)
    assert row.handover.difference == 0


def test_a_receipt_is_never_deleted_and_a_confirmed_one_never_changes(group_day, staff_a):
    from django.db import IntegrityError, InternalError, transaction

    session, group, loans = group_day
    receipt = hold(group, loans[0], "a", staff_a, interest=100_000).receipt
    with pytest.raises((IntegrityError, InternalError)), transaction.atomic():
        HeldReceipt.objects.filter(pk=receipt.pk).delete()
    custody.custody_confirm(
        session=session, group=group, handed_in=100_000, note="", user=staff_a,
        idempotency_key="confirm",
    )  # fmt: skip
    with pytest.raises((IntegrityError, InternalError)), transaction.atomic():
        HeldReceipt.objects.filter(pk=receipt.pk).update(interest=1)


def test_the_tellers_screen_is_prefilled_with_what_the_head_holds(client, group_day, staff_a):
    from django.urls import reverse

    session, group, loans = group_day
    hold(group, loans[0], "a", staff_a, interest=100_000, savings=20_000)
    client.force_login(staff_a)
    url = reverse("sessions:enter_sheet", args=[session.pk, group.pk])
    response = client.get(url)
    rows = {row.loan_number: row for row in response.context["rows"]}
    held, due = rows[loans[0].number], rows[loans[1].number]
    assert (held.values["interest"], held.values["savings"]) == ("100.000", "20.000")
    assert held.values["principal"] == ""
    assert held.shown["held"] == 120_000 and due.shown["held"] is None
    # A member who paid the head nothing keeps the sheet's due as the suggestion.
    assert due.values["interest"] == f"{due.shown['interest_due']:,}".replace(",", ".")
    assert "held" in [name for name, _label in response.context["figures"]]
