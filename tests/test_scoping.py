"""Every URL pattern of the project, probed as every role and as another office.

The table below maps each URL name to how its path is filled from office A's objects, which
roles of A may read it, who may write through it and a valid POST. Each pattern is then probed:

1. anonymous, GET and POST: sent to the login page;
2. staff and manager of office B, GET and POST on office A's object: 404 (or a refusal that
   names their own office), and nothing in the database changes;
3. the auditor of office A, POST: 403, nothing changes;
4. staff of office A, POST to a manager's endpoint: 403, nothing changes;
5. every role of office A, GET: the status the table says (never a 500);

and then the right role of office A posts the same payload and it does change something, so
the refusals above are refusals of the user, not of a payload that could never pass.

A new URL pattern with no row here (and not in the short allow-list) fails
`test_every_url_pattern_is_in_the_table`: a new page cannot forget scoping.
"""

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib.messages import constants as message_levels
from django.shortcuts import resolve_url
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from loans import approvals
from loans import services as loan_services
from loans.models import ClosedMonth, FourEyesPolicy, Loan
from reports import month_close as closing
from reports import services as report_services
from reports.models import ReportRun

from .conftest import key
from .factories import HouseholdFactory, citizen_id_for

pytestmark = pytest.mark.django_db

BUSINESS_DAY = "2021-06-15"

# Patterns that are not office data, each with the reason it is left out of the table.
ALLOW_LIST = {
    "login": "public: the login page itself",
    "logout": "ends the user's own session; no office data",
    "password_change": "the user's own password; no office data",
    "password_change_done": "a static confirmation page",
    "password_reset": "public by design: asks for an e-mail address, reveals nothing",
    "password_reset_done": "a static confirmation page",
    "password_reset_confirm": "public by design: guarded by the signed token in its path",
    "password_reset_complete": "a static confirmation page",
    "set_language": "the language switch: stores a preference in the session",
    "api:tokens": "the user's own API tokens, not office data: tests/api/test_tokens.py",
    "api:token-revoke": "the user's own API tokens; another's is a 404: tests/api/test_tokens.py",
    "api:group-heads": "the offices' group head logins, scoped: tests/api/test_group_heads.py",
    "api:group-head-deactivate": "another office's head is a 404: tests/api/test_group_heads.py",
}
# The API answers 401, not the login page: every route of the api namespace is probed with
# office A's and office B's tokens by tests/api/test_scoping.py, which fails on a route it lacks.
SKIPPED_API = "api:"
# Whole namespaces left out: the admin has its own staff-only login and permissions.
SKIPPED_NAMESPACES = {"admin"}


# --- the world of office A -----------------------------------------------------------------------


@dataclass
class World:
    office_a: Any
    office_b: Any
    users: dict[str, Any]
    household: Any  # with the active loan
    free_household: Any  # no loan yet: may apply
    household_b: Any
    loan: Any  # active, disbursed 50 M on 15/01/2021
    applied: Any  # an application awaiting approval
    approved: Any  # approved, not disbursed
    entry: Any  # a repayment of the active loan, to reverse
    pending: Any  # a write-off of the active loan submitted by staff_a, waiting for approval
    run: Any  # a done report run of office A
    failed_run: Any  # a failed run of office A, to retry


@pytest.fixture
def world(
    office_a,
    office_b,
    staff_a,
    manager_a,
    auditor_a,
    staff_b,
    manager_b,
    household_a,
    household_b,
    active_loan,
    hn,
    django_capture_on_commit_callbacks,
):
    free = HouseholdFactory(group=household_a.group, full_name="Lê Thị Mai")
    other = HouseholdFactory(group=household_a.group, full_name="Đỗ Văn Nam")
    applied = loan_services.loan_apply(
        household=free, programme=hn, amount=10_000_000, term_months=12,
        applied_on=dt.date(2021, 6, 1), user=staff_a, group=free.group,
    )  # fmt: skip
    approved = loan_services.loan_apply(
        household=other, programme=hn, amount=10_000_000, term_months=12,
        applied_on=dt.date(2021, 6, 1), user=staff_a, group=other.group,
    )  # fmt: skip
    loan_services.loan_approve(loan=approved, user=manager_a, approved_on=dt.date(2021, 6, 2))
    entry = loan_services.loan_repay_principal(
        loan=active_loan, amount=1_000_000, value_date=dt.date(2021, 6, 10),
        user=staff_a, idempotency_key=key(),
    )  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        run = report_services.report_run_request(
            office=office_a, start=dt.date(2021, 1, 1), as_of=dt.date(2021, 6, 15), user=manager_a
        )
    with django_capture_on_commit_callbacks(execute=False):
        failed = report_services.report_run_request(
            office=office_a, start=dt.date(2021, 1, 1), as_of=dt.date(2021, 3, 31), user=manager_a
        )
    ReportRun.objects.filter(pk=failed.pk).update(status=ReportRun.Status.FAILED, error="boom")
    policy = FourEyesPolicy.objects.filter(office=office_a)
    policy.update(write_off=True)
    pending = approvals.perform(
        "write-off", loan=active_loan, user=staff_a, amount=2_000_000,
        value_date=dt.date(2021, 6, 15), idempotency_key=key(), note="QĐ 14/2021",
    ).request  # fmt: skip
    policy.update(write_off=False)
    run = ReportRun.objects.get(pk=run.pk)
    assert run.status == ReportRun.Status.DONE
    active_loan.refresh_from_db()
    return World(
        office_a=office_a,
        office_b=office_b,
        users={
            "staff_a": staff_a,
            "manager_a": manager_a,
            "auditor_a": auditor_a,
            "staff_b": staff_b,
            "manager_b": manager_b,
        },
        household=household_a,
        free_household=free,
        household_b=household_b,
        loan=active_loan,
        applied=applied,
        approved=approved,
        entry=entry,
        pending=pending,
        run=run,
        failed_run=ReportRun.objects.get(pk=failed.pk),
    )


def fingerprint() -> dict[str, list[dict]]:
    """Every row of the project's own tables (their history events included): a probe that
    changes anything at all shows up here."""
    rows = {}
    for model in apps.get_models():
        meta = model._meta
        if (
            meta.app_label in ("borrowers", "loans", "reports", "savings", "commune_day")
            and not meta.proxy
            and meta.managed
        ):
            rows[meta.label] = [
                {k: bytes(v) if isinstance(v, memoryview) else v for k, v in row.items()}
                for row in model._base_manager.order_by("pk").values()
            ]
    return rows


def changed_tables(before: dict, after: dict) -> list[str]:
    return sorted(
        label for label in before.keys() | after.keys() if before.get(label) != after.get(label)
    )


# --- cross-office checks: what a user of office B gets ------------------------------------------


def cross_object(client, world, spec, url, payload, who):
    """The path names office A's object: 404, whatever the method."""
    assert client.get(url).status_code == (405 if spec.post_only else 404), (who, url)
    assert client.post(url, payload).status_code == 404, (who, url)


def cross_list(marker: Callable[[World], str]):
    """A list of the user's own offices: office A's row is not in it, nor in its exports."""

    def check(client, world, spec, url, payload, who):
        text = marker(world)
        for params in ({}, {"_export": "csv"}, {"_export": "xlsx"}):
            response = client.get(url, params)
            assert response.status_code == 200, (who, url, params)
            assert text.encode() not in response.content, (who, url, params)
        assert text.encode() not in client.post(url, payload).content, (who, url)

    return check


def cross_home(client, world, spec, url, payload, who):
    response = client.get(url)
    assert response.status_code == 200
    assert not response.context["figures"]["outstanding"], who
    assert world.applied not in list(response.context["awaiting"]), who
    assert world.loan.number not in response.content.decode()


def cross_create(client, world, spec, url, payload, who):
    """Registering a household in a village of office A: the village is not one of theirs."""
    assert client.get(url).status_code == 200, who
    response = client.post(url, payload)
    assert response.status_code == 200, who
    assert "village" in response.context["form"].errors, who


def cross_index(client, world, spec, url, payload, who):
    """?office= of another office falls back to the user's own."""
    for response in (client.get(url, {"office": world.office_a.pk}), client.post(url, payload)):
        assert response.status_code == 200, who
        assert response.context["office"] == world.office_b, who
        assert world.run not in list(response.context["table"].page.object_list), who


def cross_audit(client, world, spec, url, payload, who):
    """The office log lists the user's own offices: office A's entries are not in it, nor in its
    exports; asking for office A by its id is the form's error (400), showing nothing of it."""
    cross_list(lambda w: w.loan.number)(client, world, spec, url, payload, who)
    response = client.get(url, {"office": world.office_a.pk})
    assert response.status_code == 400, who
    assert world.loan.number not in response.content.decode(), who
    response = client.get(url, {"office": world.office_a.pk, "_export": "csv"})
    assert world.loan.number.encode() not in response.content, who


def cross_request(client, world, spec, url, payload, who):
    """Asking for a report of office A: refused (staff_b by role, manager_b by the office)."""
    response = client.post(url, payload)
    if who == "staff_b":
        assert response.status_code == 403
    else:
        assert response.status_code == 400
        form = response.context["form"]
        assert "office" in form.errors
        # and the page says so (the office select is not on the form a manager of one office sees)
        assert f"{form['office'].label}: {form.errors['office'][0]}" in response.content.decode()
    response = client.get(url, {"office": world.office_a.pk})
    assert response.status_code == 302
    assert response.url == f"{reverse('reports:index')}?office={world.office_b.pk}"


def cross_month(client, world, spec, url, payload, who):
    """Closing or reopening a month of office A: an error, back on the user's own office."""
    assert client.get(url).status_code == 405
    response = client.post(url, payload, follow=True)
    own = f"{reverse('reports:index')}?office={world.office_b.pk}"
    assert response.redirect_chain == [(own, 302)], who
    levels = [m.level for m in response.context["messages"]]
    assert levels == [message_levels.ERROR], who


def cross_dashboard(client, world, spec, url, payload, who):
    """The dashboard and its parts for ?office= of office A: staff see none (403); a manager
    of B sees B's, the very page B gets without the parameter."""
    guessed = client.get(url, {"office": world.office_a.pk})
    posted = client.post(url, payload)
    if who == "staff_b":
        assert (guessed.status_code, posted.status_code) == (403, 403)
        return
    own = client.get(url)
    assert guessed.status_code == own.status_code == posted.status_code == 200, who
    if "office" in guessed.context:  # the page (its links carry the query string)
        assert guessed.context["office"] == posted.context["office"] == world.office_b, who
    else:  # its parts: the very bytes of office B's
        assert _page(guessed) == _page(own) == _page(posted), who


def cross_fee_office(client, world, spec, url, payload, who):
    """The fee pages for ?office= of office A: the form's error (400), showing nothing of it;
    without it, the user's own office."""
    response = client.get(url, {"office": world.office_a.pk, "month": "2021-05"})
    assert response.status_code == 400, who
    assert world.office_a.name not in response.content.decode(), who
    assert client.get(url).status_code == 200, who


def cross_fee_rate(client, world, spec, url, payload, who):
    """A new rate for office A: staff of B may not add rates (403); a manager of B is told the
    office is not one of theirs."""
    if who == "staff_b":
        assert client.get(url).status_code == 403
        assert client.post(url, payload).status_code == 403
        return
    assert client.get(url).status_code == 200
    response = client.post(url, payload)
    assert response.status_code == 400, who
    assert "office" in response.context["form"].errors, who


def _fee_session(w):
    """A session of office A serving the household's group, and May's interest collected
    through it (so its commission is 18,000 ₫ to pay)."""
    from commune_day.models import TransactionSession

    loan_services.loan_pay_interest(
        loan=w.loan, amount=100_000, value_date=dt.date(2021, 5, 20), user=w.users["staff_a"],
        idempotency_key=key(),
    )  # fmt: skip
    session = TransactionSession.objects.create(
        office=w.office_a, commune=w.household.group.village.commune, date=dt.date(2021, 6, 10),
        leader=w.users["manager_a"], opened_by=w.users["manager_a"],
    )  # fmt: skip
    session.groups.add(w.household.group)
    w.fee_session = session


def _page(response) -> bytes:
    """The page without its CSRF tokens (a new one per request)."""
    return re.sub(rb"[A-Za-z0-9]{64}", b"", response.content)


# --- the table -----------------------------------------------------------------------------------

READ = {"staff_a": 200, "manager_a": 200, "auditor_a": 200}
WRITE_FORM = {"staff_a": 200, "manager_a": 200, "auditor_a": 403}
MANAGE_FORM = {"staff_a": 403, "manager_a": 200, "auditor_a": 403}
POST_ONLY = {"staff_a": 405, "manager_a": 405, "auditor_a": 405}


@dataclass(frozen=True)
class Spec:
    # The path parameters, from office A's objects.
    kwargs: Callable[[World], dict] = lambda w: {}
    # The status each role of office A gets on GET.
    get: dict[str, int] = field(default_factory=lambda: READ)
    # Who may write through it: None (a page that only reads; a POST changes nothing),
    # "write" (staff and manager) or "manage" (managers only).
    writes: str | None = None
    # A valid POST: the right role of office A posting it changes the database.
    payload: Callable[[World], dict] = lambda w: {}
    # State the payload needs, set before the probes.
    prepare: Callable[[World], None] | None = None
    cross: Callable = cross_object
    # The role of office A whose POST succeeds (the positive control).
    writer: str = "staff_a"

    @property
    def post_only(self) -> bool:
        return self.get == POST_ONLY


def _loan(w):
    return {"pk": w.loan.pk}


def _posting(w, **data):
    return {"value_date": BUSINESS_DAY, "idempotency_key": key(), **data}


def _freeze_first(w):
    loan_services.loan_freeze(
        loan=w.loan, amount=5_000_000, value_date=dt.date(2021, 6, 12), user=w.users["staff_a"],
        idempotency_key=key(), note="QĐ 12/2021",
    )  # fmt: skip


def _deposit_first(w):
    from savings.services import savings_deposit

    savings_deposit(
        household=w.household, amount=200_000, value_date=dt.date(2021, 6, 1),
        user=w.users["staff_a"], idempotency_key=key(),
    )  # fmt: skip


def _close_january(w):
    closing.month_close(office=w.office_a, month=dt.date(2021, 1, 1), user=w.users["manager_a"])


def _new_household(w):
    dob = dt.date(1990, 4, 2)
    return {
        "full_name": "Phạm Văn Đức",
        "citizen_id": citizen_id_for(dob, "M"),
        "date_of_birth": dob.isoformat(),
        "sex": "M",
        "phone": "0912345678",
        "village": w.household.village_id,
        "group": w.household.group_id,
        "category": "poor",
        "category_year": 2021,
    }


def _session(w):
    """Office A's transaction session of 10/06/2021 (leader staff_a, controller manager_a, a
    teller), with a done print of its sheets; made once per world."""
    if getattr(w, "session", None) is None:
        from commune_day import services as day
        from commune_day.models import SheetPrintRun

        from .factories import MembershipFactory, UserFactory

        teller = UserFactory(username="teller_a")
        MembershipFactory(user=teller, office=w.office_a, role="staff")
        commune = w.household.village.commune
        w.session = day.session_open(
            office=w.office_a, commune=commune, leader=w.users["staff_a"],
            controller=w.users["manager_a"], teller=teller, user=w.users["staff_a"],
        )  # fmt: skip
        w.print_run = SheetPrintRun.objects.create(
            session=w.session, requested_by=w.users["staff_a"], status="done", progress=100,
            pdf=b"%PDF-1.7", pdf_pages=1,
        )  # fmt: skip
    return w.session


def _hold_a_receipt(w):
    """What the group head holds: 1.000 đồng of interest on the world's loan."""
    from commune_day import custody

    _session(w)
    custody.receipt_hold(
        group=w.household.group, idempotency_key=key(), user=w.users["staff_a"],
        data={"loan_number": w.loan.number, "receipt": "BL 9", "interest": 1_000},
        today=dt.date(2021, 6, 15),
    )  # fmt: skip


def _session_kwargs(w):
    return {"pk": _session(w).pk}


def _sheet_kwargs(w):
    return {"pk": _session(w).pk, "group_pk": w.household.group_id}


def _print_kwargs(w):
    return {"pk": _session(w).pk, "run_pk": w.print_run.pk}


def _close_session(w):
    from commune_day import services as day

    day.session_close(session=_session(w), cash_counted=0, explanation="", user=w.users["staff_a"])


def cross_open(client, world, spec, url, payload, who):
    """Opening a session in a commune of office A: the commune is not one of theirs."""
    assert client.get(url).status_code == 200, who
    response = client.post(url, payload)
    assert response.status_code == 400, who
    assert "commune" in response.context["form"].errors, who


SPECS: dict[str, Spec] = {
    "home": Spec(cross=cross_home),
    # households
    "borrowers:list": Spec(cross=cross_list(lambda w: w.household.citizen_id)),
    # A group's code is short and may be part of another's: its page's link is not.
    "groups:list": Spec(
        cross=cross_list(lambda w: reverse("groups:detail", args=[w.household.group_id]) + '"')
    ),
    "groups:detail": Spec(kwargs=lambda w: {"pk": w.household.group_id}),
    "borrowers:create": Spec(
        get=WRITE_FORM, writes="write", payload=_new_household, cross=cross_create
    ),
    "borrowers:detail": Spec(kwargs=lambda w: {"pk": w.household.pk}),
    "borrowers:edit": Spec(
        kwargs=lambda w: {"pk": w.household.pk},
        get=WRITE_FORM,
        writes="write",
        payload=lambda w: {
            "full_name": "Nguyễn Thị Hằng",
            "date_of_birth": w.household.date_of_birth.isoformat(),
            "sex": "F",
            "phone": "0987654321",
            "village": w.household.village_id,
            "group": w.household.group_id,
            "on": BUSINESS_DAY,
        },
    ),
    "borrowers:change_id": Spec(
        kwargs=lambda w: {"pk": w.household.pk},
        get=WRITE_FORM,
        writes="write",
        payload=lambda w: {
            "new_citizen_id": citizen_id_for(w.household.date_of_birth, w.household.sex),
            "on": "2021-06-01",
        },
    ),
    "borrowers:certify": Spec(
        kwargs=lambda w: {"pk": w.household.pk},
        get=WRITE_FORM,
        writes="write",
        payload=lambda w: {"year": 2022, "category": "near_poor"},
    ),
    # loans
    "loans:list": Spec(cross=cross_list(lambda w: w.loan.number)),
    "loans:detail": Spec(kwargs=_loan),
    "loans:apply": Spec(
        kwargs=lambda w: {"household_pk": w.free_household.pk},
        get=WRITE_FORM,
        writes="write",
        payload=lambda w: {
            "programme": w.loan.programme_id,
            "amount": "10.000.000",
            "term_months": 12,
            "applied_on": BUSINESS_DAY,
            "group": w.free_household.group_id,
            "idempotency_key": key(),
        },
    ),
    "loans:approve": Spec(
        kwargs=lambda w: {"pk": w.applied.pk},
        get=MANAGE_FORM,
        writes="manage",
        writer="manager_a",
        payload=lambda w: {"approved_on": BUSINESS_DAY},
    ),
    "loans:reject": Spec(
        kwargs=lambda w: {"pk": w.applied.pk}, get=POST_ONLY, writes="manage", writer="manager_a"
    ),
    "loans:reverse": Spec(
        kwargs=lambda w: {"pk": w.entry.pk},
        get=WRITE_FORM,
        writes="write",
        payload=lambda w: _posting(w, note="nhập nhầm"),
    ),
    "loans:business_date": Spec(
        kwargs=lambda w: {"code": w.office_a.code},
        get=POST_ONLY,
        writes="manage",
        writer="manager_a",
        payload=lambda w: {"day": "2021-06-16", "hold": "on"},
    ),
    "loans:disburse": Spec(
        kwargs=lambda w: {"pk": w.approved.pk},
        get=WRITE_FORM,
        writes="write",
        payload=lambda w: _posting(w, amount="10.000.000"),
    ),
    "loans:interest": Spec(
        kwargs=_loan,
        get=WRITE_FORM,
        writes="write",
        payload=lambda w: _posting(w, amount="100.000"),
    ),
    "loans:repay": Spec(
        kwargs=_loan,
        get=WRITE_FORM,
        writes="write",
        payload=lambda w: _posting(w, amount="1.000.000"),
    ),
    "loans:extend": Spec(
        kwargs=_loan,
        get=WRITE_FORM,
        writes="write",
        payload=lambda w: _posting(
            w, instalment=w.loan.instalments.get(seq=1).pk, new_due_date="2022-01-15"
        ),
    ),
    "loans:freeze": Spec(
        kwargs=_loan,
        get=WRITE_FORM,
        writes="write",
        payload=lambda w: _posting(w, amount="5.000.000", note="QĐ 12/2021 lũ lụt"),
    ),
    "loans:unfreeze": Spec(
        kwargs=_loan,
        get=WRITE_FORM,
        writes="write",
        prepare=_freeze_first,
        payload=lambda w: _posting(w, amount="2.000.000"),
    ),
    "loans:write-off": Spec(
        kwargs=_loan,
        get=WRITE_FORM,
        writes="write",
        payload=lambda w: _posting(w, amount="3.000.000", note="QĐ 13/2021"),
    ),
    "loans:transfer": Spec(
        kwargs=_loan,
        get=WRITE_FORM,
        writes="write",
        payload=lambda w: _posting(
            w, to_village=w.household_b.village_id, to_group=w.household_b.group_id
        ),
    ),
    # maker-checker
    "loans:approvals": Spec(cross=cross_list(lambda w: w.loan.number)),
    "loans:approval": Spec(kwargs=lambda w: {"pk": w.pending.pk}),
    "loans:approval_approve": Spec(
        kwargs=lambda w: {"pk": w.pending.pk}, get=POST_ONLY, writes="manage", writer="manager_a"
    ),
    "loans:approval_reject": Spec(
        kwargs=lambda w: {"pk": w.pending.pk},
        get=POST_ONLY,
        writes="manage",
        writer="manager_a",
        payload=lambda w: {"reason": "Thiếu hồ sơ"},
    ),
    "loans:approval_withdraw": Spec(
        kwargs=lambda w: {"pk": w.pending.pk}, get=POST_ONLY, writes="write"
    ),
    # reports
    "reports:index": Spec(cross=cross_index, payload=lambda w: {"office": w.office_a.pk}),
    "reports:request": Spec(
        get={"staff_a": 302, "manager_a": 302, "auditor_a": 302},
        writes="manage",
        writer="manager_a",
        payload=lambda w: {"office": w.office_a.pk, "period": "ytd"},
        cross=cross_request,
    ),
    "reports:dashboard": Spec(
        get=MANAGE_FORM | {"auditor_a": 200},
        payload=lambda w: {"office": w.office_a.pk},
        cross=cross_dashboard,
    ),
    "reports:dashboard_figures": Spec(
        get=MANAGE_FORM | {"auditor_a": 200},
        payload=lambda w: {"office": w.office_a.pk},
        cross=cross_dashboard,
    ),
    "reports:dashboard_chart": Spec(
        get=MANAGE_FORM | {"auditor_a": 200},
        payload=lambda w: {"office": w.office_a.pk},
        cross=cross_dashboard,
    ),
    "reports:month_close": Spec(
        get=POST_ONLY,
        writes="manage",
        writer="manager_a",
        payload=lambda w: {"office": w.office_a.pk, "month": "2021-01-01"},
        cross=cross_month,
    ),
    "reports:month_reopen": Spec(
        get=POST_ONLY,
        writes="manage",
        writer="manager_a",
        prepare=_close_january,
        payload=lambda w: {"office": w.office_a.pk, "month": "2021-01-01", "reason": "Sửa sai"},
        cross=cross_month,
    ),
    "reports:statement": Spec(kwargs=lambda w: {"pk": w.household.pk}),
    "reports:statement_pdf": Spec(kwargs=lambda w: {"pk": w.household.pk}),
    "reports:statement_letter": Spec(kwargs=lambda w: {"pk": w.household.pk}),
    "reports:detail": Spec(kwargs=lambda w: {"pk": w.run.pk}),
    "reports:progress": Spec(kwargs=lambda w: {"pk": w.run.pk}),
    "reports:retry": Spec(
        kwargs=lambda w: {"pk": w.failed_run.pk}, get=POST_ONLY, writes="manage", writer="manager_a"
    ),
    "reports:compare": Spec(kwargs=lambda w: {"pk": w.run.pk}),
    "reports:download": Spec(kwargs=lambda w: {"pk": w.run.pk, "fmt": "pdf"}),
    "reports:household_history": Spec(kwargs=lambda w: {"pk": w.household.pk}),
    "reports:audit": Spec(cross=cross_audit),
    # notices and the notice board (commune_day)
    "notices:index": Spec(
        cross=cross_list(lambda w: reverse("notices:group", args=[w.household.group_id]) + '"')
    ),
    "notices:group": Spec(kwargs=lambda w: {"pk": w.household.group_id}),
    "notices:group_pdf": Spec(kwargs=lambda w: {"pk": w.household.group_id}),
    "notices:board": Spec(kwargs=lambda w: {"pk": w.household.village.commune_id}),
    "notices:board_pdf": Spec(kwargs=lambda w: {"pk": w.household.village.commune_id}),
    # fees and commissions
    "fees:statement": Spec(cross=cross_fee_office),
    "fees:pdf": Spec(cross=cross_fee_office),
    "fees:xlsx": Spec(cross=cross_fee_office),
    "fees:rates": Spec(cross=cross_fee_office),
    "fees:rate_add": Spec(
        kwargs=lambda w: {"kind": "commission"},
        get=MANAGE_FORM,
        writes="manage",
        writer="manager_a",
        payload=lambda w: {"office": w.office_a.pk, "effective_from": "2021-07", "percent": "19"},
        cross=cross_fee_rate,
    ),
    "fees:session_pay": Spec(
        prepare=_fee_session,
        kwargs=lambda w: {"pk": w.fee_session.pk},
        get=READ,
        writes="write",
        payload=lambda w: {
            "payee": f"g{w.household.group_id}",
            "month": "2021-05",
            "amount": "1.000",
            "idempotency_key": key(),
        },
    ),
    # transaction sessions
    "sessions:list": Spec(
        prepare=_session,
        cross=cross_list(lambda w: reverse("sessions:detail", args=[_session(w).pk]) + '"'),
    ),
    "sessions:open": Spec(
        get=WRITE_FORM,
        writes="write",
        payload=lambda w: {
            "commune": w.household.village.commune_id,
            "date": "2021-06-20",
            "leader": w.users["staff_a"].pk,
        },
        cross=cross_open,
    ),
    "sessions:detail": Spec(kwargs=_session_kwargs),
    "sessions:team": Spec(
        kwargs=_session_kwargs,
        get=WRITE_FORM,
        writes="write",
        payload=lambda w: {"controller": w.session.teller_id, "teller": w.session.controller_id},
    ),
    "sessions:sheet": Spec(kwargs=_sheet_kwargs),
    "sessions:sheet_pdf": Spec(kwargs=_sheet_kwargs),
    "sessions:print": Spec(kwargs=_session_kwargs, get=POST_ONLY, writes="write"),
    "sessions:print_detail": Spec(kwargs=_print_kwargs),
    "sessions:print_progress": Spec(kwargs=_print_kwargs),
    "sessions:print_download": Spec(kwargs=_print_kwargs),
    "sessions:close": Spec(
        kwargs=_session_kwargs,
        get=WRITE_FORM,
        writes="write",
        payload=lambda w: {"cash_counted": "0", "explanation": ""},
    ),
    "sessions:countersign": Spec(
        kwargs=_session_kwargs,
        get=WRITE_FORM,
        writes="write",
        writer="manager_a",
        prepare=_close_session,
    ),
    # the commune day's postings (commune_day.posting)
    "sessions:enter_sheet": Spec(
        kwargs=_sheet_kwargs,
        get=WRITE_FORM,
        writes="write",
        payload=lambda w: {
            "idempotency_key": key(),
            "l1-loan_number": w.loan.number,
            "l1-principal": "1.000.000",
            "l1-receipt": "BL 0001",
        },
    ),
    "sessions:disburse": Spec(
        kwargs=_sheet_kwargs,
        get=WRITE_FORM,
        writes="write",
        payload=lambda w: {
            "idempotency_key": key(),
            "l1-loan_number": w.approved.number,
            "l1-amount": "10.000.000",
        },
    ),
    "sessions:disbursements": Spec(kwargs=_session_kwargs),
    "sessions:confirm_custody": Spec(
        kwargs=_sheet_kwargs,
        get=POST_ONLY,
        writes="write",
        prepare=_hold_a_receipt,
        payload=lambda w: {"handed_in": "1.000", "note": ""},
    ),
    # savings
    "savings:ledger": Spec(kwargs=lambda w: {"household_pk": w.household.pk}),
    "savings:deposit": Spec(
        kwargs=lambda w: {"household_pk": w.household.pk},
        get=WRITE_FORM,
        writes="write",
        payload=lambda w: _posting(w, amount="50.000"),
    ),
    "savings:withdraw": Spec(
        kwargs=lambda w: {"household_pk": w.household.pk},
        get=WRITE_FORM,
        writes="write",
        prepare=_deposit_first,
        payload=lambda w: _posting(w, amount="20.000"),
    ),
    "savings:pay_loan": Spec(
        kwargs=_loan,
        get=WRITE_FORM,
        writes="write",
        prepare=_deposit_first,
        payload=lambda w: _posting(w, interest="10.000", principal="20.000"),
    ),
}


# --- the walk over every pattern -----------------------------------------------------------------


def url_names(resolver=None, namespace: str | None = None) -> list[str]:
    """The qualified name of every URL pattern, walking included resolvers recursively."""
    names = []
    for pattern in (resolver or get_resolver()).url_patterns:
        if isinstance(pattern, URLResolver):
            inner = pattern.namespace
            qualified = f"{namespace}:{inner}" if namespace and inner else inner or namespace
            if qualified in SKIPPED_NAMESPACES:
                continue
            names.extend(url_names(pattern, qualified))
        elif isinstance(pattern, URLPattern):
            name = f"{namespace}:{pattern.name}" if namespace else pattern.name
            assert pattern.name, f"an unnamed URL pattern {pattern.pattern} cannot be in the table"
            names.append(name)
    return names


def test_every_url_pattern_is_in_the_table():
    names = url_names()
    assert len(names) == len(set(names)), "two patterns share a name"
    names = [n for n in names if not n.startswith(SKIPPED_API) or n in ALLOW_LIST]
    missing = sorted(set(names) - SPECS.keys() - ALLOW_LIST.keys())
    assert not missing, f"URL patterns with no scoping row in tests/test_scoping.py: {missing}"
    stale = sorted((SPECS.keys() | ALLOW_LIST.keys()) - set(names))
    assert not stale, f"rows for URL names that no longer exist: {stale}"
    assert not SPECS.keys() & ALLOW_LIST.keys()


def test_the_walk_finds_nested_patterns():
    """The walk is what makes the table complete: it must reach the included apps' patterns."""
    names = url_names()
    assert {"home", "borrowers:detail", "loans:transfer", "reports:download"} <= set(names)
    assert not [n for n in names if n.startswith("admin:")]


@pytest.mark.parametrize("name", sorted(SPECS))
def test_scoping_and_roles(client, world, name):
    spec = SPECS[name]
    if spec.prepare:
        spec.prepare(world)
    url = reverse(name, kwargs=spec.kwargs(world))
    before = fingerprint()

    # 1. anonymous: the login page, whatever the method
    for response in (client.get(url), client.post(url, spec.payload(world))):
        assert response.status_code == 302, url
        assert response.url.startswith(resolve_url(settings.LOGIN_URL) + "?next="), url

    # 2. users of office B on office A's object
    for who in ("staff_b", "manager_b"):
        client.force_login(world.users[who])
        spec.cross(client, world, spec, url, spec.payload(world), who)
    assert changed_tables(before, fingerprint()) == [], "office B changed office A's data"

    # 3 and 4. a role of office A that may not write here
    refused = {"write": ("auditor_a",), "manage": ("auditor_a", "staff_a")}.get(spec.writes, ())
    for who in refused:
        client.force_login(world.users[who])
        assert client.post(url, spec.payload(world)).status_code == 403, (who, url)
    assert changed_tables(before, fingerprint()) == [], "a refused role changed data"

    # 5. every role of office A reads what the table says (a POST to a page that only reads
    #    changes nothing either)
    for who, status in spec.get.items():
        client.force_login(world.users[who])
        assert client.get(url).status_code == status, (who, url)
        if spec.writes is None:
            assert client.post(url, spec.payload(world)).status_code < 500, (who, url)
    assert changed_tables(before, fingerprint()) == [], "a GET changed data"

    # The positive control: the right role's POST of the same payload goes through.
    if spec.writes:
        client.force_login(world.users[spec.writer])
        response = client.post(url, spec.payload(world))
        assert response.status_code == 302, (
            url,
            getattr(response, "context", None) and _errors(response),
        )
        assert changed_tables(before, fingerprint()), f"{name}: the valid POST changed nothing"


def _errors(response):
    form = response.context.get("form") if response.context else None
    return form.errors if form is not None else response.content[:500]


# --- another office's id posted to the office-wide endpoints ------------------------------------


def test_manager_b_cannot_request_a_report_of_office_a(client, world):
    client.force_login(world.users["manager_b"])
    runs = list(ReportRun.objects.values_list("pk", "status"))
    response = client.post(
        reverse("reports:request"), {"office": world.office_a.pk, "period": "ytd"}
    )
    assert response.status_code == 400
    assert "office" in response.context["form"].errors
    assert list(ReportRun.objects.values_list("pk", "status")) == runs
    assert not ReportRun.objects.filter(office=world.office_b).exists()


def test_manager_b_cannot_close_or_reopen_a_month_of_office_a(client, world):
    client.force_login(world.users["manager_b"])
    month = {"office": world.office_a.pk, "month": "2021-01-01"}
    client.post(reverse("reports:month_close"), month)
    assert not ClosedMonth.objects.exists()

    _close_january(world)
    closed = list(ClosedMonth.objects.values_list("pk", "office", "month"))
    response = client.post(reverse("reports:month_reopen"), {**month, "reason": "Sửa sai"})
    assert response.status_code == 302
    assert response.url == f"{reverse('reports:index')}?office={world.office_b.pk}"
    assert list(ClosedMonth.objects.values_list("pk", "office", "month")) == closed


def test_manager_b_sees_only_office_b_on_the_dashboard(client, world):
    client.force_login(world.users["manager_b"])
    response = client.get(reverse("reports:dashboard"), {"office": world.office_a.pk})
    assert response.status_code == 200
    assert response.context["office"] == world.office_b
    figures = client.get(reverse("reports:dashboard_figures"), {"office": world.office_a.pk})
    assert figures.context["year"]["closing"] == 0  # office A's 49 M are not shown
    client.force_login(world.users["manager_a"])
    own = client.get(reverse("reports:dashboard_figures"), {"office": world.office_a.pk})
    assert own.context["year"]["closing"] == world.loan.outstanding > 0


def test_manager_b_cannot_move_office_a_business_date(client, world):
    client.force_login(world.users["manager_b"])
    url = reverse("loans:business_date", kwargs={"code": world.office_a.code})
    assert client.post(url, {"day": "2021-06-16", "hold": "on"}).status_code == 404
    world.office_a.refresh_from_db()
    assert world.office_a.business_date == dt.date(2021, 6, 15)


def test_manager_b_cannot_approve_or_reject_office_a_loans(client, world):
    client.force_login(world.users["manager_b"])
    for name in ("loans:approve", "loans:reject"):
        url = reverse(name, kwargs={"pk": world.applied.pk})
        assert client.post(url, {"approved_on": BUSINESS_DAY}).status_code == 404, name
    world.applied.refresh_from_db()
    assert world.applied.status == Loan.Status.APPLIED
