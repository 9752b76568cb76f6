"""The rulebook (loans.ledger): each kind's effect, the reduction orders, a reversal, the settle
status and the refusal texts, as pure functions; and a property that what the services post is
what the rulebook says, entry by entry."""

import datetime as dt
import re
import typing
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import translation
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from loans import ledger, services
from loans.ledger import Kind
from loans.models import Loan, LoanStatus, LoanTransaction
from loans.selectors import ledger_mismatches
from seeding.importer import import_portfolio, read_portfolio

from ..conftest import key

# --- the reduction orders


def test_repayment_takes_overdue_first_then_in_term():
    # 100 outstanding: 30 overdue, 20 frozen, 50 in term.
    assert ledger.reduce(10, 100, 30, 20, ledger.REPAYMENT_ORDER) == (10, 0, 0)
    assert ledger.reduce(45, 100, 30, 20, ledger.REPAYMENT_ORDER) == (30, 0, 15)
    assert ledger.repayment_effect(45, 100, 30, 20) == (-45, -30, 0)
    assert ledger.repayable(100, 20) == 80  # frozen principal is not repaid


def test_write_off_takes_frozen_then_overdue_then_in_term():
    assert ledger.reduce(15, 100, 30, 20, ledger.WRITE_OFF_ORDER) == (0, 15, 0)
    assert ledger.reduce(35, 100, 30, 20, ledger.WRITE_OFF_ORDER) == (15, 20, 0)
    assert ledger.reduce(70, 100, 30, 20, ledger.WRITE_OFF_ORDER) == (30, 20, 20)
    assert ledger.write_off_effect(70, 100, 30, 20) == (-70, -30, -20)
    # Without frozen principal it is the repayment order.
    assert ledger.write_off_effect(40, 100, 30, 0) == ledger.repayment_effect(40, 100, 30, 0)


def test_freeze_moves_overdue_first_then_in_term():
    assert ledger.reduce(20, 100, 30, 0, ledger.FREEZE_ORDER) == (20, 0, 0)
    assert ledger.freeze_effect(20, 100, 30, 0) == (0, -20, 20)
    assert ledger.freeze_effect(50, 100, 30, 0) == (0, -30, 50)  # 20 of it from in term


def test_effects_of_the_kinds_without_an_order():
    assert ledger.effect(Kind.DISBURSEMENT, 70, 0, 0, 0) == (70, 0, 0)
    assert ledger.effect(Kind.TRANSFER_TO_OVERDUE, 20, 100, 0, 0) == (0, 20, 0)
    assert ledger.effect(Kind.UNFREEZE, 5, 100, 0, 20) == (0, 0, -5)
    assert ledger.effect(Kind.INTEREST_PAYMENT, 9, 100, 30, 20) == ledger.NO_EFFECT
    assert ledger.effect(Kind.EXTENSION, 9, 100, 30, 20) == ledger.NO_EFFECT
    # A transfer takes the whole balance, each part as it is, to the receiving loan.
    assert ledger.effect(Kind.TRANSFER_OUT, 100, 100, 30, 20) == (-100, -30, -20)
    assert ledger.effect(Kind.TRANSFER_IN, 100, 100, 30, 20) == (100, 30, 20)
    with pytest.raises(ValueError, match="no effect rule for 'reversal'"):
        ledger.effect(Kind.REVERSAL, 1, 100, 0, 0)


@pytest.mark.parametrize(
    "kind",
    [
        Kind.DISBURSEMENT,
        Kind.PRINCIPAL_REPAYMENT,
        Kind.INTEREST_PAYMENT,
        Kind.TRANSFER_TO_OVERDUE,
        Kind.EXTENSION,
        Kind.FREEZE,
        Kind.UNFREEZE,
        Kind.WRITE_OFF,
    ],
)
def test_a_reversal_undoes_each_kind(kind):
    balances = (100, 30, 20)
    amount = 10
    d = ledger.effect(kind, amount, *balances)
    after = tuple(b + x for b, x in zip(balances, d, strict=True))
    back = ledger.reversal_effect(*d)
    assert tuple(b + x for b, x in zip(after, back, strict=True)) == balances
    assert ledger.disbursed_change(Kind.REVERSAL, kind, amount) == -ledger.disbursed_change(
        kind, kind, amount
    )


def test_disbursed_changes_only_with_a_disbursement_or_its_reversal():
    assert ledger.disbursed_change(Kind.DISBURSEMENT, Kind.DISBURSEMENT, 7) == 7
    assert ledger.disbursed_change(Kind.REVERSAL, Kind.DISBURSEMENT, 7) == -7
    assert ledger.disbursed_change(Kind.PRINCIPAL_REPAYMENT, Kind.PRINCIPAL_REPAYMENT, 7) == 0
    assert ledger.disbursed_change(Kind.REVERSAL, Kind.WRITE_OFF, 7) == 0


# --- balances and status


def test_consistent_balances():
    assert ledger.consistent(100, 30, 70)
    assert ledger.consistent(0, 0, 0)
    assert not ledger.consistent(100, 31, 70)  # overdue + frozen beyond outstanding
    assert not ledger.consistent(100, -1, 0)
    assert not ledger.consistent(100, 0, -1)
    assert not ledger.consistent(-1, 0, 0)


@pytest.mark.parametrize(
    ("kind", "outstanding", "disbursed", "transferred_in", "status"),
    [
        (Kind.PRINCIPAL_REPAYMENT, 1, 10, False, LoanStatus.ACTIVE),
        (Kind.PRINCIPAL_REPAYMENT, 0, 10, False, LoanStatus.SETTLED),
        (Kind.WRITE_OFF, 0, 10, False, LoanStatus.WRITTEN_OFF),
        (Kind.WRITE_OFF, 5, 10, False, LoanStatus.ACTIVE),  # a partial write-off
        (Kind.REVERSAL, 0, 0, False, LoanStatus.APPROVED),  # its disbursement reversed
        (Kind.REVERSAL, 0, 0, True, LoanStatus.SETTLED),  # came from another office
        (Kind.PRINCIPAL_REPAYMENT, 0, 0, True, LoanStatus.SETTLED),
        (Kind.WRITE_OFF, 0, 0, True, LoanStatus.WRITTEN_OFF),
        (Kind.TRANSFER_OUT, 0, 10, False, LoanStatus.TRANSFERRED),
        (Kind.TRANSFER_IN, 50, 0, True, LoanStatus.ACTIVE),
    ],
)
def test_settle_status(kind, outstanding, disbursed, transferred_in, status):
    assert ledger.settle_status(kind, outstanding, disbursed, transferred_in) == status


# --- the refusal texts


def test_refusal_texts_format_money_and_dates_one_way():
    with translation.override("en"):
        assert ledger.msg_repayment_exceeds(1_234_567) == (
            "The repayment exceeds the principal that can be repaid (1.234.567 VND)."
        )
        assert ledger.msg_disbursements_exceed(0) == (
            "Disbursements would exceed the approved amount (0 VND left)."
        )
        assert ledger.msg_overdue_exceeds_in_term(50_000) == (
            "Only principal in term (50.000 VND) can be transferred to overdue."
        )
        assert ledger.msg_month_closed(dt.date(2021, 3, 9)).startswith("03/2021 is closed:")
        assert ledger.msg_no_balance(LoanStatus.SETTLED) == (
            "The loan has no balance to act on (status: Settled)."
        )


def test_refusal_texts_are_translated_when_called():
    with translation.override("vi"):
        vi = ledger.msg_already_reversed()
    with translation.override("en"):
        assert ledger.msg_already_reversed() == "This entry has already been reversed."
    assert vi != "This entry has already been reversed."


def _refusal_texts() -> dict[str, str]:
    """Every refusal text of the rulebook, called with sample arguments."""
    samples = {int: 1_000, dt.date: dt.date(2021, 3, 9), str: LoanStatus.SETTLED}
    texts = {}
    for name in dir(ledger):
        if name.startswith("msg_"):
            function = getattr(ledger, name)
            hints = typing.get_type_hints(function)
            hints.pop("return")
            texts[name] = function(*(samples[hint] for hint in hints.values()))
    return texts


def test_no_refusal_is_worded_twice():
    # The services and the import refuse a rule with the same words (one msg_ function each).
    with translation.override("en"):
        texts = _refusal_texts()
    # Two wordings of one rule differ in an amount, a date, a parenthesis or the punctuation.
    stems = [
        re.sub(r"\(.*?\)|[0-9]+|[^\w ]", "", text).casefold().split() for text in texts.values()
    ]
    stems = [" ".join(stem) for stem in stems]
    assert len(texts) >= 20 and len(set(stems)) == len(stems), texts
    assert texts["msg_write_off_exceeds"] == (
        "The write-off exceeds the outstanding principal (1.000 VND)."
    )
    assert texts["msg_disbursement_partly_repaid"] == (
        "Part of this disbursement has been repaid or moved; reverse those entries first."
    )


# --- the services post what the rulebook says

START = dt.date(2021, 2, 1)
OPERATIONS = st.lists(
    st.tuples(
        st.sampled_from(
            ["repay", "interest", "overdue", "freeze", "unfreeze", "write_off", "reverse"]
        ),
        st.integers(1, 60_000_000),
    ),
    min_size=1,
    max_size=10,
)


def _post(loan, staff, op, amount, day):
    common = {"value_date": day, "user": staff, "idempotency_key": key()}
    if op == "repay":
        return services.loan_repay_principal(loan=loan, amount=amount, **common)
    if op == "interest":
        return services.loan_pay_interest(loan=loan, amount=amount % 200_000 + 1, **common)
    if op == "overdue":
        return services.loan_transfer_to_overdue(loan=loan, amount=amount, **common)
    if op == "freeze":
        return services.loan_freeze(loan=loan, amount=amount, note="Hồ sơ 1", **common)
    if op == "unfreeze":
        return services.loan_unfreeze(loan=loan, amount=amount, **common)
    if op == "write_off":
        return services.loan_write_off(loan=loan, amount=amount, **common)
    target = (
        LoanTransaction.objects.filter(loan=loan, reversed_by__isnull=True)
        .exclude(kind=Kind.REVERSAL)
        .order_by("-id")
        .first()
    )
    if target is None:  # everything already reversed: a refusal of the kind the services give
        raise ValidationError("nothing to reverse")
    return services.loan_reverse(entry=target, **common)


@settings(
    max_examples=25,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(operations=OPERATIONS)
# Every kind posts at least once, whatever the search draws (50 M disbursed on 15/01/2021).
@example(
    operations=[
        ("overdue", 10_000_000),
        ("repay", 15_000_000),
        ("freeze", 3_000_000),
        ("unfreeze", 1_000_000),
        ("interest", 49_999),
        ("reverse", 1),
        ("write_off", 35_000_000),
    ]
)
def test_services_post_what_the_rulebook_says(active_loan, staff_a, operations):
    """Each posted entry's effect is the rulebook's for the balances before it, the cache moves
    by it, the disbursed total and the status follow the rulebook; a refused operation changes
    nothing; and the ledger sums equal the cache at the end."""
    with transaction.atomic():
        for i, (op, amount) in enumerate(operations):
            before = Loan.objects.get(pk=active_loan.pk)
            balances = (before.outstanding, before.overdue, before.frozen)
            count = LoanTransaction.objects.filter(loan=before).count()
            try:
                entry = _post(before, staff_a, op, amount, START + dt.timedelta(days=i))
            except ValidationError:
                after = Loan.objects.get(pk=active_loan.pk)
                assert (after.outstanding, after.overdue, after.frozen, after.status) == (
                    *balances,
                    before.status,
                )
                assert LoanTransaction.objects.filter(loan=before).count() == count
                continue
            if entry.kind == Kind.REVERSAL:
                target = entry.reverses
                expected = ledger.reversal_effect(
                    target.d_outstanding, target.d_overdue, target.d_frozen
                )
            else:
                expected = ledger.effect(entry.kind, entry.amount, *balances)
            assert (entry.d_outstanding, entry.d_overdue, entry.d_frozen) == expected
            after = Loan.objects.get(pk=active_loan.pk)
            assert (after.outstanding, after.overdue, after.frozen) == tuple(
                b + d for b, d in zip(balances, expected, strict=True)
            )
            assert after.disbursed == before.disbursed + ledger.disbursed_change(
                entry.kind, entry.counted_kind, entry.amount
            )
            assert after.status == ledger.settle_status(
                entry.kind, after.outstanding, after.disbursed, False
            )
        assert ledger_mismatches(active_loan.office) == []
        transaction.set_rollback(True)


# --- what may be posted


def test_what_may_be_posted():
    assert ledger.may_disburse(LoanStatus.APPROVED) and ledger.may_disburse(LoanStatus.ACTIVE)
    assert not ledger.may_disburse(LoanStatus.SETTLED)
    assert ledger.may_act_on(LoanStatus.ACTIVE)
    assert not ledger.may_act_on(LoanStatus.WRITTEN_OFF)
    assert ledger.disbursement_room(100, 30) == 70
    assert ledger.disbursement_room(100, 130) == 0  # never a negative room in a message
    assert ledger.disbursement_reversible(50, 100, 30, 20)
    assert not ledger.disbursement_reversible(51, 100, 30, 20)


def test_refusal_to_reverse_names_the_rule():
    with translation.override("en"):
        assert ledger.refusal_to_reverse(Kind.REVERSAL) == (
            "A reversal cannot be reversed; post the entry again."
        )
        for kind in (Kind.TRANSFER_OUT, Kind.TRANSFER_IN):
            assert ledger.refusal_to_reverse(kind) == (
                "A transfer is corrected by a transfer back, not a reversal."
            )
    for kind in (Kind.DISBURSEMENT, Kind.WRITE_OFF, Kind.EXTENSION, Kind.FREEZE):
        assert ledger.refusal_to_reverse(kind) is None


# --- round trip: what the services post, exported in the import format and imported into a
# second office, is the same book entry by entry and balance by balance

GOOD = Path(__file__).parent.parent / "seeding" / "import_fixtures" / "good"
# After the fixture's last entry (26/05/2021) and before the business date (15/06/2021): a
# back-dated service posting leaves later entries split as they were, the import re-splits them.
ROUND_TRIP_START = dt.date(2021, 5, 27)
LOANS = ("L1", "L2", "L3", "L4", "L5", "L6", "L7")
IMPORTED_OPERATIONS = st.lists(
    st.tuples(
        st.sampled_from(LOANS),
        st.sampled_from(["disburse", "repay", "interest", "overdue", "write_off", "reverse"]),
        st.integers(1, 60_000_000),
    ),
    min_size=1,
    max_size=8,
)


def _import(office, tables):
    import_portfolio(office=office, tables=tables)
    with connection.cursor() as cursor:  # the deferred cache-equals-ledger trigger, now
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def _book(office) -> dict:
    """Every loan's balances and entries, as the ledger and the cache hold them."""
    book = {}
    for loan in Loan.objects.filter(office=office):
        entries = sorted(
            (
                e.value_date,
                e.kind,
                e.counted_kind,
                e.amount,
                e.d_outstanding,
                e.d_overdue,
                e.d_frozen,
                e.reverses.reference if e.reverses_id else "",
            )
            for e in loan.transactions.select_related("reverses")
        )
        book[loan.number] = (
            loan.status,
            loan.outstanding,
            loan.overdue,
            loan.frozen,
            loan.disbursed,
            loan.first_disbursed_on,
            entries,
        )
    return book


def _post_as_file_row(loan, staff, op, amount, day, ref):
    """Post through the services; the row the import format writes for it, or None if refused."""
    common = {"value_date": day, "user": staff, "idempotency_key": key()}
    row = {"reference": ref, "loan_number": loan.number, "value_date": day.isoformat()}
    try:
        if op == "reverse":
            target = (
                LoanTransaction.objects.filter(loan=loan, reversed_by__isnull=True)
                .exclude(kind=Kind.REVERSAL)
                .order_by("-value_date", "-id")
                .first()
            )
            if target is None:
                return None
            entry = services.loan_reverse(entry=target, **common)
            return {
                **row,
                "kind": "reversal",
                "amount": str(entry.amount),
                "reverses": target.reference,
            }
        service, amount = {
            "disburse": (services.loan_disburse, amount),
            "repay": (services.loan_repay_principal, amount),
            "interest": (services.loan_pay_interest, amount % 300_000 + 1),
            "overdue": (services.loan_transfer_to_overdue, amount),
            "write_off": (services.loan_write_off, amount),
        }[op]
        entry = service(loan=loan, amount=amount, reference=ref, **common)
    except ValidationError:
        return None
    return {**row, "kind": entry.kind, "amount": str(amount), "reverses": ""}


@settings(
    max_examples=15,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(operations=IMPORTED_OPERATIONS)
@example(
    operations=[
        ("L6", "disburse", 5_000_000),
        ("L3", "overdue", 1_000_000),
        ("L3", "repay", 2_000_000),
        ("L3", "interest", 10_000),
        ("L3", "reverse", 1),
        ("L3", "write_off", 1_000_000),
    ]
)
def test_the_book_survives_export_and_import(office_a, office_b, staff_a, operations):
    tables = read_portfolio(GOOD)
    rows = []
    with transaction.atomic():
        _import(office_a, tables)
        for i, (number, op, amount) in enumerate(operations):
            loan = Loan.objects.get(office=office_a, number=number)
            row = _post_as_file_row(
                loan, staff_a, op, amount, ROUND_TRIP_START + dt.timedelta(days=i), f"S{i}"
            )
            if row is not None:
                rows.append(row)
        posted = _book(office_a)
        transaction.set_rollback(True)  # the borrowers are active in one office only
    with transaction.atomic():
        _import(office_b, {**tables, "transactions": tables["transactions"] + rows})
        assert _book(office_b) == posted
        assert ledger_mismatches(office_b) == []
        transaction.set_rollback(True)
