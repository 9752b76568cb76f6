"""Interest that adds up (issue 12, point 7): nothing above the due unless entered as a
prepayment, which is a credit used by the next interest due; interest written off with the
principal; no interest shown that the loan can no longer collect."""

import datetime as dt

import pytest
from django.urls import reverse

from loans import selectors, services
from loans.models import Loan, LoanTransaction
from reports.selectors import report_figures

from ..conftest import key, refused

D = dt.date


def pay(loan, user, amount, day, **kwargs):
    return services.loan_pay_interest(
        loan=loan, amount=amount, value_date=day, user=user, idempotency_key=key(), **kwargs
    )


def fresh(loan) -> Loan:
    return Loan.objects.get(pk=loan.pk)


def accrued(loan, start, end) -> int:
    return selectors.loan_interest_due(loan, start, end)


def kinds(loan) -> list[tuple[str, int]]:
    return list(loan.transactions.order_by("id").values_list("kind", "amount"))


def test_interest_above_the_due_is_refused_and_nothing_posts(active_loan, staff_a):
    pay(active_loan, staff_a, accrued(active_loan, D(2021, 1, 15), D(2021, 6, 1)), D(2021, 6, 1))
    # Nothing is due any more on 01/06: the 100.000 ₫ the demo accepted is refused.
    with refused("The interest due to 01/06/2021 is 0 đồng", field="amount"):
        pay(active_loan, staff_a, 100_000, D(2021, 6, 1))
    assert active_loan.transactions.filter(value_date=D(2021, 6, 1)).count() == 1


def test_a_prepayment_is_a_credit_the_next_due_uses(active_loan, staff_a):
    loan = active_loan
    due_march = accrued(loan, D(2021, 1, 15), D(2021, 3, 1))
    # 300.000 ₫ beyond the due on 01/03: the due is paid, the rest kept as a credit.
    entry = pay(loan, staff_a, due_march + 300_000, D(2021, 3, 1), prepayment=True)
    assert entry.kind == "interest_payment" and entry.amount == due_march
    assert kinds(loan)[-1] == ("interest_prepayment", 300_000)
    assert selectors.prepaid_credit(loan) == 300_000

    # A month later less than the credit has accrued: nothing to pay, the credit covers it.
    april = selectors.interest_due_on(fresh(loan), D(2021, 4, 1))
    assert april.accrued == accrued(loan, D(2021, 3, 1), D(2021, 4, 1)) < 300_000
    assert april.payable == 0 and april.credit_used == april.accrued
    with refused("after the prepaid credit of", field="amount"):
        pay(loan, staff_a, 1, D(2021, 4, 1))

    # On 01/06 the accrued interest passes the credit: the borrower pays the difference, and the
    # credit is used (an entry of its own, dated with the payment) as the interest is paid to it.
    june = selectors.interest_due_on(fresh(loan), D(2021, 6, 1))
    owed = accrued(loan, D(2021, 3, 1), D(2021, 6, 1))
    assert june.payable == owed - 300_000
    pay(loan, staff_a, june.payable, D(2021, 6, 1))
    assert kinds(loan)[-2:] == [
        ("prepayment_applied", 300_000),
        ("interest_payment", owed - 300_000),
    ]
    assert selectors.prepaid_credit(loan) == 0
    assert selectors.interest_paid_through(fresh(loan)) == D(2021, 6, 1)

    # Reports count the cash: the prepayment when it came in, not its later use again.
    totals = report_figures(office=loan.office, start=D(2021, 1, 1), as_of=D(2021, 6, 15))["totals"]
    assert totals["interest_collected"] == due_march + 300_000 + owed - 300_000


def test_a_used_prepayment_is_reversed_only_after_the_payment_that_used_it(active_loan, staff_a):
    loan = active_loan
    due_march = accrued(loan, D(2021, 1, 15), D(2021, 3, 1))
    march = pay(loan, staff_a, due_march + 300_000, D(2021, 3, 1), prepayment=True)
    prepaid = loan.transactions.get(kind="interest_prepayment")
    june = selectors.interest_due_on(fresh(loan), D(2021, 6, 1))
    payment = pay(loan, staff_a, june.payable, D(2021, 6, 1))

    reverse_kwargs = {"value_date": D(2021, 6, 15), "user": staff_a}
    # The March payment and its prepaid excess reverse together, but the excess is spent.
    with refused("used by a later interest payment"):
        services.loan_reverse(entry=march, idempotency_key=key(), **reverse_kwargs)
    applied = loan.transactions.get(kind="prepayment_applied")
    for companion in (prepaid, applied):
        with refused("reverse that entry, which reverses both"):
            services.loan_reverse(entry=companion, idempotency_key=key(), **reverse_kwargs)

    # Reversing the June payment reverses the credit it used: the credit is back, and then the
    # March payment may go with its prepayment.
    services.loan_reverse(entry=payment, idempotency_key=key(), **reverse_kwargs)
    assert LoanTransaction.objects.filter(reverses=applied).exists()
    assert selectors.prepaid_credit(loan) == 300_000
    services.loan_reverse(entry=march, idempotency_key=key(), **reverse_kwargs)
    assert LoanTransaction.objects.filter(reverses=prepaid).exists()
    assert selectors.prepaid_credit(loan) == 0
    assert selectors.interest_paid_through(fresh(loan)) == D(2021, 1, 15)


def test_a_prepayment_replays_once(active_loan, staff_a):
    pay(active_loan, staff_a, accrued(active_loan, D(2021, 1, 15), D(2021, 6, 1)), D(2021, 6, 1))
    same = key()
    for _ in range(2):
        entry = services.loan_pay_interest(
            loan=active_loan,
            amount=500_000,
            value_date=D(2021, 6, 1),
            user=staff_a,
            idempotency_key=same,
            prepayment=True,
        )
    assert entry.kind == "interest_prepayment"
    assert active_loan.transactions.filter(kind="interest_prepayment").count() == 1
    assert selectors.prepaid_credit(active_loan) == 500_000


def test_a_write_off_takes_the_interest_due_too(active_loan, staff_a):
    loan = active_loan
    due = selectors.interest_due_on(loan, D(2021, 6, 1)).payable
    assert due > 0
    with refused("at most the interest due to 01/06/2021", field="interest"):
        services.loan_write_off(
            loan=loan,
            amount=10_000_000,
            interest=due + 1,
            value_date=D(2021, 6, 1),
            user=staff_a,
            idempotency_key=key(),
            note="QĐ 12/2021",
        )
    entry = services.loan_write_off(
        loan=loan,
        amount=10_000_000,
        interest=due,
        value_date=D(2021, 6, 1),
        user=staff_a,
        idempotency_key=key(),
        note="QĐ 12/2021",
    )
    assert entry.kind == "write_off" and entry.amount == 10_000_000
    assert ("interest_write_off", due) in kinds(loan)
    assert selectors.interest_paid_through(fresh(loan)) == D(2021, 6, 1)
    totals = report_figures(office=loan.office, start=D(2021, 6, 1), as_of=D(2021, 6, 15))["totals"]
    assert totals["interest_written_off"] == due
    assert totals["written_off"] == 10_000_000
    assert totals["interest_collected"] == 0

    # Reversing the write-off reverses its interest too.
    services.loan_reverse(
        entry=entry, value_date=D(2021, 6, 15), user=staff_a, idempotency_key=key()
    )
    totals = report_figures(office=loan.office, start=D(2021, 6, 1), as_of=D(2021, 6, 15))["totals"]
    assert totals["interest_written_off"] == 0 and totals["written_off"] == 0
    assert selectors.interest_paid_through(fresh(loan)) == D(2021, 1, 15)


def test_a_written_off_loan_shows_no_interest_due(client, active_loan, staff_a):
    services.loan_write_off(
        loan=active_loan,
        amount=50_000_000,
        value_date=D(2021, 6, 1),
        user=staff_a,
        idempotency_key=key(),
        note="QĐ 12/2021",
    )
    loan = fresh(active_loan)
    assert loan.status == Loan.Status.WRITTEN_OFF
    assert selectors.interest_due_on(loan, D(2021, 6, 15)).payable == 0
    client.force_login(staff_a)
    client.cookies["django_language"] = "en"
    page = client.get(reverse("loans:detail", args=[loan.pk])).content.decode()
    assert '<strong id="interest-due">0 ₫</strong>' in page


def test_frozen_principal_accrues_no_interest(active_loan, staff_a):
    services.loan_pay_interest(
        loan=active_loan,
        amount=accrued(active_loan, D(2021, 1, 15), D(2021, 3, 1)),
        value_date=D(2021, 3, 1),
        user=staff_a,
        idempotency_key=key(),
    )
    services.loan_freeze(
        loan=active_loan,
        amount=50_000_000,
        value_date=D(2021, 3, 1),
        user=staff_a,
        idempotency_key=key(),
        note="Hồ sơ khoanh nợ 3/2021",
    )
    assert selectors.interest_due_on(fresh(active_loan), D(2021, 6, 15)).payable == 0


@pytest.mark.parametrize("prepayment", ["", "on"])
def test_the_interest_form_takes_a_prepayment(client, active_loan, staff_a, prepayment):
    pay(active_loan, staff_a, accrued(active_loan, D(2021, 1, 15), D(2021, 6, 15)), D(2021, 6, 15))
    client.force_login(staff_a)
    client.cookies["django_language"] = "en"
    url = reverse("loans:interest", args=[active_loan.pk])
    form = client.get(url).context["form"]
    data = {
        "amount": "200.000",
        "value_date": "2021-06-15",
        "idempotency_key": form["idempotency_key"].value(),
        "prepayment": prepayment,
    }
    response = client.post(url, data)
    if prepayment:
        assert response.status_code == 302
        page = client.get(reverse("loans:detail", args=[active_loan.pk])).content.decode()
        assert "Prepaid interest (credit)" in page
        assert '<strong id="prepaid-credit">200.000 ₫</strong>' in page
        # The prepayment is the operation's own entry here (nothing was due): reversible.
        prepaid = active_loan.transactions.get(kind="interest_prepayment")
        assert reverse("loans:reverse", args=[prepaid.pk]) in page
    else:
        assert response.status_code == 200
        assert "tick &quot;prepayment&quot;" in response.content.decode()
        assert selectors.prepaid_credit(active_loan) == 0


def test_the_statement_shows_the_credit_and_the_due_as_the_loan_page_does(active_loan, staff_a):
    from reports.statement import loan_statement

    loan = active_loan
    due_march = accrued(loan, D(2021, 1, 15), D(2021, 3, 1))
    pay(loan, staff_a, due_march + 2_000_000, D(2021, 3, 1), prepayment=True)
    for day in (D(2021, 3, 1), D(2021, 4, 1), D(2021, 6, 15)):
        totals = loan_statement(fresh(loan), day).totals
        due = selectors.interest_due_on(fresh(loan), day)
        assert (totals.interest_due, totals.interest_prepaid) == (due.payable, due.credit_left)
        assert totals.interest_paid == due_march + 2_000_000
    assert loan_statement(fresh(loan), D(2021, 6, 15)).totals.interest_prepaid > 0


def test_a_held_write_off_with_interest_posts_both_with_the_checker(
    active_loan, staff_a, manager_a
):
    from loans import approvals
    from loans.models import FourEyesPolicy

    FourEyesPolicy.objects.filter(office=active_loan.office).update(write_off=True)
    due = selectors.interest_due_on(active_loan, D(2021, 6, 1)).payable
    outcome = approvals.perform(
        "write-off",
        user=staff_a,
        loan=active_loan,
        amount=10_000_000,
        interest=due,
        value_date=D(2021, 6, 1),
        idempotency_key=key(),
        note="QĐ 12/2021",
    )
    assert outcome.request is not None
    assert not active_loan.transactions.filter(kind__in=("write_off", "interest_write_off"))
    approvals.approve(outcome.request.pk, manager_a, amount=8_000_000)
    posted = active_loan.transactions.filter(kind__in=("write_off", "interest_write_off"))
    assert sorted(posted.values_list("kind", "amount", "posted_by", "approved_by")) == [
        ("interest_write_off", due, staff_a.pk, manager_a.pk),
        ("write_off", 8_000_000, staff_a.pk, manager_a.pk),
    ]


def test_an_entry_posted_beside_a_payment_offers_no_reversal_of_its_own(
    client, active_loan, staff_a
):
    due = accrued(active_loan, D(2021, 1, 15), D(2021, 6, 1))
    payment = pay(active_loan, staff_a, due + 300_000, D(2021, 6, 1), prepayment=True)
    prepaid = active_loan.transactions.get(kind="interest_prepayment")
    client.force_login(staff_a)
    page = client.get(reverse("loans:detail", args=[active_loan.pk])).content.decode()
    assert reverse("loans:reverse", args=[payment.pk]) in page
    assert reverse("loans:reverse", args=[prepaid.pk]) not in page


def test_a_held_reversal_of_a_write_off_reverses_its_interest_with_the_checker(
    active_loan, staff_a, manager_a
):
    from loans import approvals
    from loans.models import FourEyesPolicy

    due = selectors.interest_due_on(active_loan, D(2021, 6, 1)).payable
    write_off = services.loan_write_off(
        loan=active_loan,
        amount=10_000_000,
        interest=due,
        value_date=D(2021, 6, 1),
        user=staff_a,
        idempotency_key=key(),
        note="QĐ 12/2021",
    )
    FourEyesPolicy.objects.filter(office=active_loan.office).update(reversal=True)
    outcome = approvals.perform(
        "reversal",
        user=staff_a,
        entry=write_off,
        value_date=D(2021, 6, 15),
        idempotency_key=key(),
    )
    assert outcome.request is not None
    assert not active_loan.transactions.filter(kind="reversal").exists()
    approvals.approve(outcome.request.pk, manager_a)
    reversals = active_loan.transactions.filter(kind="reversal")
    assert sorted(reversals.values_list("reverses__kind", "approved_by")) == [
        ("interest_write_off", manager_a.pk),
        ("write_off", manager_a.pk),
    ]
