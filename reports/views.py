"""The manager's report page, the run pages (progress, downloads, retry, compare), month close
and the dashboard.

Everyone in an office sees its runs and downloads them; only its managers request, retry and
close or reopen months (403 for staff and auditors). The dashboard is for managers and auditors.
A run of another office answers 404.
"""

import datetime as dt
import functools
import re

import django_tables2 as tables
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from borrowers.access import PortalRequest
from borrowers.selectors import check_scope, get_household_for_user, offices_for
from branch_portal.pagination import paginate_table
from branch_portal.roles import MANAGE_ROLES, Role
from loans import approvals
from loans.models import ClosedMonth

from . import month_close as closing
from . import services
from .figures import BY_KEY
from .forms import MonthForm, PeriodForm, ReopenForm, StatementForm
from .models import ReportRun
from .periods import previous_month
from .rendering import difference_labels, render_statement_pdf
from .selectors import (
    figures_for_period,
    get_run_for_user,
    month_reopenings,
    outstanding_by_month,
    report_run_compare,
    runs_for_user,
)
from .statement import statement_for

CHART_MONTHS = 24
CONTENT_TYPES = {
    "pdf": "application/pdf",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


class ReportRunTable(tables.Table):
    id = tables.Column(verbose_name="#", linkify=("reports:detail", {"pk": tables.A("pk")}))
    period = tables.TemplateColumn(
        "{{ record.start|date:'d/m/Y' }} – {{ record.as_of|date:'d/m/Y' }}",
        verbose_name=gettext_lazy("Period"),
        order_by=("as_of", "start"),
    )
    kind = tables.Column(verbose_name=gettext_lazy("Kind"))
    status = tables.TemplateColumn(
        template_name="reports/_status_cell.html", verbose_name=gettext_lazy("Status")
    )
    requested = tables.TemplateColumn(
        "{{ record.requested_by.get_username|default:'—' }}<br>"
        "<small class='text-muted'>{{ record.requested_at|date:'d/m/Y H:i' }}</small>",
        verbose_name=gettext_lazy("Requested"),
        order_by=("requested_at",),
    )
    ledger_position = tables.Column(
        verbose_name=gettext_lazy("Ledger position"),
        attrs={
            "td": {"class": "text-end"},
            "th": {
                "title": gettext_lazy(
                    "The number of the newest ledger entry when the figures were taken."
                )
            },
        },
    )
    files = tables.TemplateColumn(
        template_name="reports/_download_cell.html",
        verbose_name=gettext_lazy("Files"),
        orderable=False,
    )

    class Meta:
        model = ReportRun
        fields = ()
        sequence = ("id", "period", "kind", "status", "requested", "ledger_position", "files")
        attrs = {"class": "table table-sm table-hover align-middle mb-0"}
        empty_text = gettext_lazy("No report has been made for this office yet.")


def _office_from(request: PortalRequest, offices):
    """The office picked in ?office= (one of the user's), else the first."""
    pk = request.GET.get("office") or request.POST.get("office")
    # ASCII digits of bigint size: isdigit() takes "²", which the id lookup then refuses (500).
    office = offices.filter(pk=pk).first() if pk and re.fullmatch(r"[0-9]{1,18}", pk) else None
    if office is None:
        office = offices.first()
    if office is None:
        raise Http404
    return office


def _index_context(request: PortalRequest, office, offices, form=None):
    role = request.access.role_in(office)
    can_request = role in MANAGE_ROLES
    table = ReportRunTable(runs_for_user(request.user).filter(office=office))
    # A counting paginator: an office makes a few runs a month, so counting them costs nothing.
    paginate_table(request, table, per_page=20, paginator_class=Paginator)
    return {
        "office": office,
        "offices": offices,
        "form": form or PeriodForm(offices=offices, office=office),
        "table": table,
        "can_request": can_request,
        "can_see_dashboard": role in (Role.MANAGER, Role.AUDITOR),
        "reopenings": month_reopenings(office=office),
        "month_to_close": closing.month_to_close(office=office) if can_request else None,
        "previous_month": previous_month(office.business_date),
        "closed_months": ClosedMonth.objects.filter(office=office)
        .select_related("closed_by")
        .order_by("-month")[:12],
    }


@login_required
def index(request: PortalRequest):
    offices = offices_for(request.user)
    office = _office_from(request, offices)
    return render(request, "reports/index.html", _index_context(request, office, offices))


@login_required
@require_http_methods(["GET", "POST"])
def run_request(request: PortalRequest):
    offices = offices_for(request.user)
    office = _office_from(request, offices)
    if request.method == "GET":  # a reload or a language switch after a refused form
        return redirect(f"{reverse('reports:index')}?office={office.pk}")
    check_scope(request.user, office, manage=True)
    form = PeriodForm(request.POST, offices=offices, office=office)
    if form.is_valid():
        office = form.cleaned_data["office"]
        check_scope(request.user, office, manage=True)
        try:
            run = services.report_run_request(
                office=office,
                start=form.cleaned_data["start"],
                as_of=form.cleaned_data["as_of"],
                user=request.user,
                kind=ReportRun.Kind.ON_DEMAND,
            )
        except ValidationError as e:
            form.add_error(None, e)
        else:
            messages.success(request, _("Report requested."))
            return redirect("reports:detail", pk=run.pk)
    context = _index_context(request, office, offices, form=form)
    return render(request, "reports/index.html", context, status=400)


def _run_context(request: PortalRequest, run):
    return {
        "run": run,
        "can_manage": request.access.can_manage(run.office),
        "stale": services.run_is_stale(run),
    }


@login_required
def run_detail(request: PortalRequest, pk: int):
    run = get_run_for_user(request.user, pk)
    return render(request, "reports/run_detail.html", _run_context(request, run))


@login_required
def run_progress(request: PortalRequest, pk: int):
    """The htmx partial: it polls itself every 2 s until the run is done or failed."""
    run = get_run_for_user(request.user, pk)
    return render(request, "reports/_progress.html", _run_context(request, run))


@login_required
def run_download(request: PortalRequest, pk: int, fmt: str):
    run = get_run_for_user(request.user, pk)
    if fmt not in CONTENT_TYPES or run.status != ReportRun.Status.DONE:
        raise Http404
    content = ReportRun.objects.filter(pk=run.pk).values_list(fmt, flat=True).get()
    filename = f"{run.office.code}_{run.start.isoformat()}_{run.as_of.isoformat()}.{fmt}"
    response = HttpResponse(bytes(content), content_type=CONTENT_TYPES[fmt])
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@login_required
@require_POST
def run_retry(request: PortalRequest, pk: int):
    """A failed run, or one whose worker went silent; a double submit queues it once."""
    run = get_run_for_user(request.user, pk, manage=True)
    try:
        queued = services.report_run_retry(run=run, user=request.user)
    except ValidationError as e:
        messages.error(request, " ".join(e.messages))
    else:
        if queued:
            messages.success(request, _("The report is queued again."))
        else:
            messages.info(request, _("The report is already queued."))
    return redirect("reports:detail", pk=run.pk)


@login_required
def run_compare(request: PortalRequest, pk: int):
    run = get_run_for_user(request.user, pk)
    if run.status != ReportRun.Status.DONE:
        raise Http404
    run = ReportRun.objects.select_related("office").defer("pdf", "xlsx").get(pk=run.pk)
    comparison = report_run_compare(run=run)
    differences = [
        (difference_labels(d.table, d.code, d.name, d.key), d) for d in comparison.differences[:300]
    ]
    return render(
        request,
        "reports/compare.html",
        {"run": run, "comparison": comparison, "differences": differences},
    )


# --- month close ---------------------------------------------------------------------------------


def _month_action(request: PortalRequest, form_class, action, success):
    offices = offices_for(request.user)
    form = form_class(request.POST, offices=offices)
    if not form.is_valid():
        problems = " ".join(message for errors in form.errors.values() for message in errors)
        messages.error(request, problems)
        office = _office_from(request, offices)  # the one posted if it is the user's
        return redirect(f"{reverse('reports:index')}?office={office.pk}")
    office, month = form.cleaned_data["office"], form.cleaned_data["month"]
    check_scope(request.user, office, manage=True)
    extra = {"reason": form.cleaned_data["reason"]} if "reason" in form.cleaned_data else {}
    try:
        result = action(office=office, month=month, user=request.user, **extra)
    except ValidationError as e:
        messages.error(request, " ".join(e.messages))
    else:
        held = getattr(result, "request", None)
        if held is not None:
            messages.success(
                request,
                _("Submitted for approval (request #%(n)s): %(why)s needs a second person.")
                % {"n": held.pk, "why": held.held_because},
            )
        else:
            messages.success(request, success % {"month": month.strftime("%m/%Y")})
    return redirect(f"{reverse('reports:index')}?office={office.pk}")


@login_required
@require_POST
def month_close(request: PortalRequest):
    return _month_action(
        request,
        MonthForm,
        closing.month_close,
        _("Month %(month)s closed; its report pack is being made."),
    )


@login_required
@require_POST
def month_reopen(request: PortalRequest):
    # A reopen may be held for a second manager (the office's four-eyes policy).
    return _month_action(
        request,
        ReopenForm,
        functools.partial(approvals.perform, "month_reopen"),
        _("Month %(month)s reopened."),
    )


# --- dashboard -----------------------------------------------------------------------------------


def _dashboard_office(request: PortalRequest):
    offices = offices_for(request.user)
    office = _office_from(request, offices)
    if request.access.role_in(office) not in (Role.MANAGER, Role.AUDITOR):
        raise PermissionDenied
    return office, offices


# The page comes at once; its figures and its chart each come in a request of their own, because
# at province size they take seconds (year to date reads every loan that changed this year).
@login_required
def dashboard(request: PortalRequest):
    office, offices = _dashboard_office(request)
    return render(
        request,
        "reports/dashboard.html",
        {"office": office, "offices": offices, "as_of": office.business_date},
    )


@login_required
def dashboard_figures(request: PortalRequest):
    office, _offices = _dashboard_office(request)
    as_of = office.business_date
    year = figures_for_period(office=office, start=as_of.replace(month=1, day=1), as_of=as_of)
    month = figures_for_period(office=office, start=as_of.replace(day=1), as_of=as_of)
    return render(
        request,
        "reports/_dashboard_figures.html",
        {
            "year": year,
            "month": month,
            "rows": _headline_rows(year, month),
            "growth": year["closing"] - year["opening"],
        },
    )


@login_required
def dashboard_chart(request: PortalRequest):
    office, _offices = _dashboard_office(request)
    chart = outstanding_by_month(office=office, months=CHART_MONTHS, as_of=office.business_date)
    chart["labels"] = [dt.date.fromisoformat(d).strftime("%m/%Y") for d in chart["month_ends"]]
    return render(request, "reports/_dashboard_chart.html", {"chart": chart})


def _headline_rows(year: dict, month: dict) -> list[tuple]:
    # The pack's headline words (reports.figures), so the dashboard and the PDF read alike.
    keys = (
        "opening",
        "disbursed",
        "collected",
        "written_off",
        "interest_collected",
        "closing",
        "overdue",
        "frozen",
        "customers_with_balance",
        "loan_turns",
        "workers_employed",
    )
    return [(BY_KEY[key].headline, year[key], month[key], _unit(key)) for key in keys]


def _unit(key: str) -> str:
    return "million" if BY_KEY[key].cell == "amount" else "count"


# --- the borrower's statement -------------------------------------------------------------------


def _statement_or_form(request: PortalRequest, pk: int):
    """The household (scoped: another office's answers 404) and its statement as of the asked
    date, or None and the form saying what is wrong with the date."""
    household = get_household_for_user(request.user, pk)
    form = StatementForm(request.GET or {"as_of": ""}, household=household)
    if not form.is_valid():
        return household, form, None
    return household, form, statement_for(household, form.cleaned_data["as_of"])


@login_required
def household_statement(request: PortalRequest, pk: int):
    """The statement in HTML, with a date picker and the two PDF downloads. Every role of the
    office reads it (the auditor included)."""
    household, form, statement = _statement_or_form(request, pk)
    return render(
        request,
        "reports/statement.html",
        {
            "household": household,
            "form": form,
            "statement": statement,
            "totals": statement.totals if statement else None,
            "as_of": form.cleaned_data.get("as_of") if statement else None,
            "business_date": household.office.business_date,
        },
    )


def _statement_download(request: PortalRequest, pk: int, *, letter: bool):
    household, form, statement = _statement_or_form(request, pk)
    if statement is None:
        # The page says what is wrong with the date.
        url = reverse("reports:statement", args=[household.pk])
        return redirect(f"{url}?{request.GET.urlencode()}")
    content, _pages = render_statement_pdf(statement, letter=letter)
    stem = "xac-nhan-so-du" if letter else "sao-ke"
    filename = f"{stem}_{household.citizen_id}_{statement.as_of.isoformat()}.pdf"
    response = HttpResponse(content, content_type=CONTENT_TYPES["pdf"])
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@login_required
def household_statement_pdf(request: PortalRequest, pk: int):
    return _statement_download(request, pk, letter=False)


@login_required
def household_statement_letter(request: PortalRequest, pk: int):
    return _statement_download(request, pk, letter=True)
