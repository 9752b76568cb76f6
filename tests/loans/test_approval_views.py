"""The maker-checker pages: a held operation says "submitted for approval", the checker's queue
lists it, its page shows the payload and decides it; bad input gets a message, never a 500."""

import datetime as dt

import pytest
from django.urls import reverse

from loans.models import ApprovalRequest, ClosedMonth, FourEyesPolicy, LoanTransaction

from ..conftest import _member, key
from ..factories import FOUR_EYES_ON, citizen_id_for

pytestmark = pytest.mark.django_db
Status = ApprovalRequest.Status


@pytest.fixture
def four_eyes(office_a, active_loan):
    """The defaults, switched on once the loan is disbursed (in January: back-dated)."""
    FourEyesPolicy.objects.filter(office=office_a).update(**FOUR_EYES_ON)


def _english(client, user):
    client.cookies["django_language"] = "en"
    client.force_login(user)
    return client


def _write_off(client, loan, amount="10.000.000", idem=None):
    return client.post(
        reverse("loans:write-off", args=[loan.pk]),
        {
            "amount": amount,
            "value_date": "2021-06-15",
            "note": "QĐ 12/2021 lũ lụt",
            "idempotency_key": idem or key(),
        },
        follow=True,
    )


def _messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def test_staff_submits_and_the_manager_approves_a_lower_amount(
    client, four_eyes, active_loan, staff_a, manager_a
):
    _english(client, staff_a)
    response = _write_off(client, active_loan)
    request = ApprovalRequest.objects.get()
    assert f"Submitted for approval (request #{request.pk})" in " ".join(_messages(response))
    assert "posted" not in " ".join(_messages(response))
    assert not active_loan.transactions.filter(kind="write_off").exists()
    # The loan page and the borrower page show it, with a link.
    link = reverse("loans:approval", args=[request.pk]).encode()
    assert link in response.content
    household = client.get(reverse("borrowers:detail", args=[active_loan.household_id]))
    assert link in household.content
    # Staff see it and may withdraw, not decide.
    page = client.get(link.decode())
    assert page.context["can_withdraw"] and not page.context["can_decide"]

    _english(client, manager_a)
    queue = client.get(reverse("loans:approvals"))
    assert [r.record.pk for r in queue.context["table"].page.object_list] == [request.pk]
    assert b'id="nav-approvals"' in queue.content
    assert queue.context["approvals_waiting"] == 1
    page = client.get(link.decode())
    assert page.context["can_decide"]
    text = page.content.decode()
    assert "QĐ 12/2021 lũ lụt" in text and "15/06/2021" in text and "10.000.000" in text
    assert "staff_a" in text and "a write-off" in text

    response = client.post(
        reverse("loans:approval_approve", args=[request.pk]), {"amount": "4.000.000"}, follow=True
    )
    assert f"Request #{request.pk} approved" in " ".join(_messages(response))
    assert "approved 4.000.000 ₫ of 10.000.000 ₫" in response.content.decode()
    entry = active_loan.transactions.get(kind="write_off")
    assert (entry.amount, entry.posted_by, entry.approved_by) == (4_000_000, staff_a, manager_a)
    loan_page = client.get(reverse("loans:detail", args=[active_loan.pk])).content.decode()
    assert "approved by manager_a" in loan_page
    assert 'id="loan-approved-by">manager_a<' in loan_page  # who approved the loan itself


def test_the_queue_filters_and_defaults_to_pending(
    client, four_eyes, active_loan, staff_a, manager_a
):
    _english(client, staff_a)
    _write_off(client, active_loan)
    first = ApprovalRequest.objects.get()
    client.post(reverse("loans:approval_withdraw", args=[first.pk]))
    _write_off(client, active_loan, amount="2.000.000")
    second = ApprovalRequest.objects.get(status=Status.PENDING)
    _english(client, manager_a)
    url = reverse("loans:approvals")

    def ids(**params):
        return [r.record.pk for r in client.get(url, params).context["table"].page.object_list]

    assert ids() == [second.pk]
    assert ids(status="") == [second.pk, first.pk]
    assert ids(status="withdrawn") == [first.pk]
    assert ids(status="", operation="freeze") == []
    assert ids(status="", maker="STAFF_A", q=active_loan.number) == [second.pk, first.pk]
    assert ids(q=f"#{second.pk}") == [second.pk]
    assert ids(q="Nobody Here") == []
    export = client.get(url, {"_export": "csv"})
    assert export.status_code == 200 and active_loan.number.encode() in export.content


@pytest.mark.parametrize("garbage", ["abc", "1,5", "-3", "0", "9" * 40, "１０００"])
def test_a_garbage_amount_is_refused_on_the_form(
    client, four_eyes, active_loan, staff_a, manager_a, garbage
):
    _english(client, staff_a)
    _write_off(client, active_loan)
    request = ApprovalRequest.objects.get()
    _english(client, manager_a)
    response = client.post(
        reverse("loans:approval_approve", args=[request.pk]), {"amount": garbage}
    )
    assert response.status_code == 200
    assert response.context["approve_form"].errors["amount"]
    request.refresh_from_db()
    assert request.status == Status.PENDING
    assert not LoanTransaction.objects.filter(kind="write_off").exists()


def test_an_amount_above_the_applied_is_a_message(
    client, four_eyes, active_loan, staff_a, manager_a
):
    _english(client, staff_a)
    _write_off(client, active_loan, amount="1.000.000")
    request = ApprovalRequest.objects.get()
    _english(client, manager_a)
    response = client.post(
        reverse("loans:approval_approve", args=[request.pk]), {"amount": "2.000.000"}, follow=True
    )
    assert "Approve at most the 1.000.000" in " ".join(_messages(response))
    assert ApprovalRequest.objects.get().status == Status.PENDING


def test_rejecting_needs_a_bounded_reason(client, four_eyes, active_loan, staff_a, manager_a):
    _english(client, staff_a)
    _write_off(client, active_loan)
    request = ApprovalRequest.objects.get()
    _english(client, manager_a)
    url = reverse("loans:approval_reject", args=[request.pk])
    for reason in ("", "x" * 501):
        response = client.post(url, {"reason": reason})
        assert response.status_code == 200
        assert response.context["reject_form"].errors["reason"]
    assert ApprovalRequest.objects.get().status == Status.PENDING
    response = client.post(url, {"reason": "Thiếu hồ sơ"}, follow=True)
    assert f"Request #{request.pk} rejected" in " ".join(_messages(response))
    assert "Thiếu hồ sơ" in response.content.decode()
    # Deciding a decided request: a message, nothing changes.
    for name, data in (("loans:approval_approve", {}), ("loans:approval_reject", {"reason": "x"})):
        response = client.post(reverse(name, args=[request.pk]), data, follow=True)
        assert response.status_code == 200
        assert "already Rejected" in " ".join(_messages(response))
    assert not LoanTransaction.objects.filter(kind="write_off").exists()


def test_a_double_submit_is_a_clear_message(client, four_eyes, active_loan, staff_a):
    _english(client, staff_a)
    _write_off(client, active_loan)
    response = _write_off(client, active_loan, amount="1.000.000")
    assert response.status_code == 200
    errors = response.context["form"].non_field_errors()
    assert any("already waiting for approval" in e for e in errors)
    assert ApprovalRequest.objects.count() == 1


def test_the_maker_cannot_approve_through_the_page(client, four_eyes, active_loan, manager_a):
    _english(client, manager_a)
    _write_off(client, active_loan)
    request = ApprovalRequest.objects.get()
    page = client.get(reverse("loans:approval", args=[request.pk]))
    assert not page.context["can_decide"] and page.context["can_withdraw"]
    response = client.post(reverse("loans:approval_approve", args=[request.pk]), follow=True)
    assert "another person must decide it" in " ".join(_messages(response))
    assert ApprovalRequest.objects.get().status == Status.PENDING


def test_the_auditor_reads_and_decides_nothing(client, four_eyes, active_loan, staff_a, auditor_a):
    _english(client, staff_a)
    _write_off(client, active_loan)
    request = ApprovalRequest.objects.get()
    _english(client, auditor_a)
    assert client.get(reverse("loans:approvals")).status_code == 200
    page = client.get(reverse("loans:approval", args=[request.pk]))
    assert page.status_code == 200 and not page.context["can_decide"]
    for name in ("loans:approval_approve", "loans:approval_reject", "loans:approval_withdraw"):
        assert client.post(reverse(name, args=[request.pk]), {"reason": "x"}).status_code == 403
    assert ApprovalRequest.objects.get().status == Status.PENDING


def test_a_reversal_and_a_citizen_id_change_are_held_through_their_pages(
    client, four_eyes, active_loan, household_a, staff_a
):
    _english(client, staff_a)
    entry = active_loan.transactions.get(kind="disbursement")
    response = client.post(
        reverse("loans:reverse", args=[entry.pk]),
        {"value_date": "2021-06-15", "note": "nhập nhầm", "idempotency_key": key()},
        follow=True,
    )
    assert "Submitted for approval" in " ".join(_messages(response))
    assert not LoanTransaction.objects.filter(kind="reversal").exists()
    old = household_a.citizen_id
    response = client.post(
        reverse("borrowers:change_id", args=[household_a.pk]),
        {
            "new_citizen_id": citizen_id_for(household_a.date_of_birth, household_a.sex),
            "on": "2021-06-15",
        },
        follow=True,
    )
    assert "Submitted for approval" in " ".join(_messages(response))
    household_a.refresh_from_db()
    assert household_a.citizen_id == old
    assert b"pending-requests" in response.content
    assert set(ApprovalRequest.objects.values_list("operation", flat=True)) == {
        "reversal",
        "citizen_id",
    }


def test_a_month_reopen_is_held_for_a_second_manager(client, four_eyes, office_a, manager_a):
    ClosedMonth.objects.create(office=office_a, month=dt.date(2021, 5, 1), closed_by=manager_a)
    _english(client, manager_a)
    response = client.post(
        reverse("reports:month_reopen"),
        {"office": office_a.pk, "month": "2021-05-01", "reason": "Sửa sai"},
        follow=True,
    )
    assert "Submitted for approval" in " ".join(_messages(response))
    assert ClosedMonth.objects.filter(month=dt.date(2021, 5, 1)).exists()
    request = ApprovalRequest.objects.get()
    assert request.subject == "month:2021-05"
    other = _member(office_a, "manager2_a", "manager")
    _english(client, other)
    page = client.get(reverse("loans:approval", args=[request.pk]))
    assert "Month 2021-05" in page.content.decode()
    client.post(reverse("loans:approval_approve", args=[request.pk]))
    assert not ClosedMonth.objects.filter(month=dt.date(2021, 5, 1)).exists()
    assert ApprovalRequest.objects.get().checker == other


@pytest.mark.parametrize(
    "params",
    [
        {"status": "nonsense"},
        {"office": "abc"},
        {"operation": "<script>"},
        {"q": "x" * 5000},
        {"q": "#" + "9" * 40},
        {"maker": "m" * 500},
        {"page": "-1", "per_page": "abc"},
    ],
)
def test_the_queue_takes_garbage_parameters_without_a_500(
    client, four_eyes, active_loan, staff_a, manager_a, params
):
    _english(client, staff_a)
    _write_off(client, active_loan)
    _english(client, manager_a)
    response = client.get(reverse("loans:approvals"), params)
    assert response.status_code == 200
    assert ApprovalRequest.objects.get().status == Status.PENDING


def test_another_office_s_request_answers_404(client, four_eyes, active_loan, staff_a, manager_b):
    _english(client, staff_a)
    _write_off(client, active_loan)
    request = ApprovalRequest.objects.get()
    _english(client, manager_b)
    assert client.get(reverse("loans:approval", args=[request.pk])).status_code == 404
    assert client.get(reverse("loans:approval", args=[request.pk + 1000])).status_code == 404
    response = client.post(reverse("loans:approval_approve", args=[request.pk]))
    assert response.status_code == 404
    assert request.pk not in [
        r.record.pk
        for r in client.get(reverse("loans:approvals")).context["table"].page.object_list
    ]
    assert ApprovalRequest.objects.get().status == Status.PENDING
