"""The fee pages: the month's statement (HTML, PDF, XLSX), the rate tables and a new dated rate.

Every role of an office reads its statement and its rates; only its managers add a rate. The
office is picked among the user's own (another office's id is the form's error, 400, showing
nothing of it)."""

import contextlib

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from borrowers.access import PortalRequest
from borrowers.models import Chapter
from borrowers.selectors import check_scope, office_ids_for, offices_for
from reports.periods import previous_month

from . import fee_services
from .fee_forms import (
    CommissionRateForm,
    FeePayForm,
    FeeRateForm,
    RateForm,
    StatementForm,
    TierFormSet,
    parse_month,
)
from .fee_rendering import render_statement_pdf, render_statement_xlsx
from .fees import fee_payments_in, fee_statement
from .models import CommissionRate, EntrustmentFeeRate, FeeTier, TransactionSession

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _statement_form(request: PortalRequest) -> StatementForm:
    offices = offices_for(request.user)
    if not offices.exists():
        raise PermissionDenied
    defaults = StatementForm(offices=offices)
    # What is not asked is the first office and its last complete month.
    data = {
        "office": defaults.fields["office"].initial,
        "month": defaults.fields["month"].prepare_value(defaults.fields["month"].initial),
    }
    data.update({name: request.GET[name] for name in data if request.GET.get(name)})
    return StatementForm(data, offices=offices)


@login_required
@require_GET
def statement(request: PortalRequest):
    form = _statement_form(request)
    if not form.is_valid():
        return render(request, "commune_day/fees/statement.html", {"form": form}, status=400)
    office, month = form.cleaned_data["office"], form.cleaned_data["month"]
    result = fee_statement(office, month)
    return render(
        request,
        "commune_day/fees/statement.html",
        {
            "form": form,
            "statement": result,
            "totals": result.totals,
            "office": office,
            "query": f"office={office.pk}&month={month:%Y-%m}",
            "can_manage": request.access.can_manage(office),
        },
    )


def _download(request: PortalRequest, fmt: str) -> HttpResponse:
    form = _statement_form(request)
    if not form.is_valid():
        return render(request, "commune_day/fees/statement.html", {"form": form}, status=400)
    office, month = form.cleaned_data["office"], form.cleaned_data["month"]
    result = fee_statement(office, month)
    if fmt == "pdf":
        content, _pages = render_statement_pdf(result)
        content_type = "application/pdf"
    else:
        content, content_type = render_statement_xlsx(result), XLSX
    response = HttpResponse(content, content_type=content_type)
    filename = f"phi-hoa-hong_{office.code}_{month:%Y-%m}.{fmt}"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@login_required
@require_GET
def statement_pdf(request: PortalRequest):
    return _download(request, "pdf")


@login_required
@require_GET
def statement_xlsx(request: PortalRequest):
    return _download(request, "xlsx")


# --- the rates ----------------------------------------------------------------------------------


@login_required
@require_GET
def rates(request: PortalRequest):
    """The rate tables in force and before: the bank-wide placeholders and the office's own."""
    offices = offices_for(request.user)
    if not offices.exists():
        raise PermissionDenied
    form = RateForm(request.GET or None, offices=offices)
    office = offices.first()
    if request.GET.get("office"):
        field = form.fields["office"]
        try:
            office = field.clean(request.GET["office"])
        except ValidationError:
            form.is_valid()
            return render(request, "commune_day/fees/rates.html", {"form": form}, status=400)
    scope = {"office__in": [office]}

    def rows(model, *related):
        own = model.objects.filter(**scope)
        bank = model.objects.filter(office__isnull=True)
        return list((own | bank).select_related("office", "created_by", *related))

    return render(
        request,
        "commune_day/fees/rates.html",
        {
            "form": form,
            "office": office,
            "offices": offices,
            "commission_rates": rows(CommissionRate),
            "fee_rates": rows(EntrustmentFeeRate, "organisation"),
            "tiers": rows(FeeTier),
            "can_manage": request.access.can_manage(office),
        },
    )


RATE_KINDS = {
    "commission": (CommissionRateForm, gettext_lazy("New commission rate")),
    "fee": (FeeRateForm, gettext_lazy("New entrustment fee rate")),
    "tiers": (RateForm, gettext_lazy("New quality tier table")),
}


@login_required
@require_http_methods(["GET", "POST"])
def rate_add(request: PortalRequest, kind: str):
    if kind not in RATE_KINDS:
        raise Http404
    offices = offices_for(request.user)
    managed = offices.filter(pk__in=[o.pk for o in offices if request.access.can_manage(o)])
    if not managed.exists():
        raise PermissionDenied
    form_class, title = RATE_KINDS[kind]
    data = request.POST if request.method == "POST" else None
    form = form_class(data, offices=managed, initial={"office": managed.first()})
    tiers = TierFormSet(data) if kind == "tiers" else None
    context = {"form": form, "tiers": tiers, "title": title, "kind": kind}
    if request.method != "POST":
        return render(request, "commune_day/fees/rate_form.html", context)
    valid = form.is_valid() & (tiers.is_valid() if tiers is not None else True)
    if not valid:
        return render(request, "commune_day/fees/rate_form.html", context, status=400)
    data = form.cleaned_data
    common = {
        "office": data["office"],
        "effective_from": data["effective_from"],
        "decision": data["decision"],
        "user": request.user,
    }
    try:
        if kind == "commission":
            fee_services.commission_rate_add(percent=data["percent"], **common)
        elif kind == "fee":
            fee_services.fee_rate_add(
                organisation=data["organisation"], percent=data["percent"], **common
            )
        else:
            given = [row.tier() for row in tiers]  # type: ignore[union-attr]
            fee_services.fee_tiers_add(tiers=[t for t in given if t is not None], **common)
    except ValidationError as error:
        if hasattr(error, "error_dict") and set(error.error_dict) <= set(form.fields):
            for field, errors in error.error_dict.items():
                form.add_error(field, errors)
        else:
            form.add_error(None, error.messages)
        return render(request, "commune_day/fees/rate_form.html", context, status=400)
    messages.success(request, _("The new rate is recorded."))
    return redirect(f"{reverse('fees:rates')}?office={data['office'].pk}")


# --- paying in a session ------------------------------------------------------------------------


def _session_for(request: PortalRequest, pk: int, *, write: bool) -> TransactionSession:
    """A session of the user's offices (404 elsewhere; 403 for an auditor paying)."""
    session = (
        TransactionSession.objects.filter(office_id__in=office_ids_for(request.user), pk=pk)
        .select_related("office", "commune")
        .first()
    )
    if session is None:
        raise Http404
    check_scope(request.user, session.office, write=write)
    return session


@login_required
@require_http_methods(["GET", "POST"])
def session_pay(request: PortalRequest, pk: int):
    """What the session's groups and chapters are owed for a month, what was paid, and the form
    that pays (staff and managers; the auditor reads)."""
    session = _session_for(request, pk, write=request.method == "POST")
    month = previous_month(session.date)
    # A month the page cannot read shows the default; the form says what is wrong when posted.
    with contextlib.suppress(ValidationError):
        month = parse_month(request.GET.get("month") or f"{month:%Y-%m}")
    groups = list(session.groups.select_related("chapter").order_by("code"))
    chapters = list(
        Chapter.objects.filter(pk__in={g.chapter_id for g in groups})
        .select_related("commune", "organisation")
        .order_by("commune__code", "organisation_id")
    )
    data = request.POST if request.method == "POST" else None
    form = FeePayForm(data, groups=groups, chapters=chapters, month=month)
    status = 200
    if data is not None:
        if form.is_valid():
            try:
                fee_services.fee_pay(
                    session=session,
                    month=form.cleaned_data["month"],
                    amount=form.cleaned_data["amount"],
                    user=request.user,
                    idempotency_key=form.cleaned_data["idempotency_key"],
                    **form.payee_kwargs(),
                )
            except ValidationError as error:
                for field, errors in getattr(error, "error_dict", {None: error}).items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                messages.success(request, _("The payment is recorded."))
                paid_month = form.cleaned_data["month"]
                url = reverse("fees:session_pay", args=[session.pk])
                return redirect(f"{url}?month={paid_month:%Y-%m}")
        status = 400
        if form.is_bound and form.is_valid():
            month = form.cleaned_data["month"]
    statement = fee_statement(session.office, month)
    group_ids = {g.pk for g in groups}
    chapter_ids = {c.pk for c in chapters}
    return render(
        request,
        "commune_day/fees/session_pay.html",
        {
            "session": session,
            "form": form,
            "month": month,
            "group_lines": [line for line in statement.groups if line.group_id in group_ids],
            "chapter_lines": [
                line for line in statement.chapters if line.chapter_id in chapter_ids
            ],
            "payments": fee_payments_in(session),
            "can_pay": request.access.can_write(session.office) and session.is_open,
        },
        status=status,
    )
