"""Session pages: the list, opening a session, its page with its groups, each group's sheet
(page and PDF), every sheet in one PDF built in the worker, closing and the countersignature.

Views are thin: a scoped getter, a form, one service call, a redirect."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import ValidationError
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django_filters.views import FilterView

from borrowers.access import PortalRequest
from borrowers.models import Household
from borrowers.selectors import check_scope
from borrowers.views import apply_errors, require_writer
from branch_portal.pagination import TableListMixin

from . import custody, printing, services
from .filters import SessionFilter
from .forms import SessionCloseForm, SessionOpenForm, SessionTeamForm
from .models import SheetPosting, SheetPrintRun, TransactionSession
from .rendering import render_sheets_pdf
from .selectors import (
    collection_sheet,
    get_session_for_user,
    get_session_group,
    session_summary,
    sessions_for_user,
)
from .tables import SessionTable


class SessionListView(LoginRequiredMixin, TableListMixin, FilterView):
    request: PortalRequest
    table_class = SessionTable
    filterset_class = SessionFilter
    template_name = "commune_day/session_list.html"
    export_name = "sessions"

    def get_queryset(self):
        groups = (
            TransactionSession.groups.through.objects.filter(transactionsession=OuterRef("pk"))
            .values("transactionsession")
            .annotate(n=Count("pk"))
            .values("n")
        )
        return (
            sessions_for_user(self.request.user)
            .select_related("commune", "office", "leader")
            .annotate(groups_count=Coalesce(Subquery(groups), 0))
        )


@login_required
def session_open_view(request: PortalRequest):
    require_writer(request.user)
    form = SessionOpenForm(
        request.POST or None, user=request.user, initial={"leader": request.user.pk}
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        commune = data["commune"]
        check_scope(request.user, commune.office, write=True)
        try:
            session = services.session_open(
                office=commune.office,
                commune=commune,
                leader=data["leader"],
                controller=data["controller"],
                teller=data["teller"],
                date=data["date"],
                groups=data["groups"] or None,
                user=request.user,
            )
        except ValidationError as e:
            apply_errors(form, e)
        else:
            messages.success(request, _("Session opened."))
            return redirect("sessions:detail", pk=session.pk)
    return _form_page(
        request, form, title=_("Open a transaction session"), submit=_("Open the session")
    )


def _form_page(request, form, *, title, session=None, submit, extra=None, status=200):
    context = {"form": form, "title": title, "session": session, "submit": submit}
    context.update(extra or {})
    if request.method == "POST" and form.errors:
        status = 400
    return render(request, "commune_day/session_form.html", context, status=status)


@login_required
def session_detail(request: PortalRequest, pk: int):
    session = get_session_for_user(request.user, pk)
    summary = session_summary(session)
    members = dict(
        Household.objects.filter(
            group__in=[row.group for row in summary.groups], status=Household.Status.ACTIVE
        )
        .values("group")
        .annotate(n=Count("pk"))
        .values_list("group", "n")
    )
    return render(
        request,
        "commune_day/session_detail.html",
        {
            "session": session,
            "summary": summary,
            "rows": [(row, members.get(row.group.pk, 0)) for row in summary.groups],
            "can_write": request.access.can_write(session.office),
            "runs": session.print_runs.defer("pdf")[:5],
            "custody": custody.session_custody(session),
        },
    )


@login_required
def session_team(request: PortalRequest, pk: int):
    session = get_session_for_user(request.user, pk, write=True)
    form = SessionTeamForm(
        request.POST or None,
        user=request.user,
        initial={"controller": session.controller_id, "teller": session.teller_id},
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.session_set_team(session=session, user=request.user, **form.cleaned_data)
        except ValidationError as e:
            apply_errors(form, e)
        else:
            messages.success(request, _("Team saved."))
            return redirect("sessions:detail", pk=session.pk)
    return _form_page(
        request, form, title=_("The session's team"), session=session, submit=_("Save")
    )


@login_required
def sheet_detail(request: PortalRequest, pk: int, group_pk: int):
    session = get_session_for_user(request.user, pk)
    group = get_session_group(session, group_pk)
    sheet = collection_sheet(group, session.date)
    posted = SheetPosting.objects.filter(
        session=session, group=group, kind=SheetPosting.Kind.COLLECTION
    ).first()
    return render(
        request,
        "commune_day/sheet_detail.html",
        {"session": session, "group": group, "sheet": sheet, "posted": posted},
    )


@login_required
def sheet_pdf(request: PortalRequest, pk: int, group_pk: int):
    session = get_session_for_user(request.user, pk)
    group = get_session_group(session, group_pk)
    content, _pages = render_sheets_pdf([collection_sheet(group, session.date)], session=session)
    response = HttpResponse(content, content_type="application/pdf")
    filename = f"13TD_{group.code}_{session.date.isoformat()}.pdf"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@login_required
@require_POST
def sheets_print(request: PortalRequest, pk: int):
    # It makes a run (a row): staff and managers print, an auditor downloads a group's PDF.
    session = get_session_for_user(request.user, pk, write=True)
    run = printing.sheet_print_request(session=session, user=request.user)
    return redirect("sessions:print_detail", pk=session.pk, run_pk=run.pk)


def _run(request: PortalRequest, pk: int, run_pk: int) -> SheetPrintRun:
    session = get_session_for_user(request.user, pk)
    run = SheetPrintRun.objects.defer("pdf").filter(session=session, pk=run_pk).first()
    if run is None:
        raise Http404
    return run


@login_required
def print_detail(request: PortalRequest, pk: int, run_pk: int):
    run = _run(request, pk, run_pk)
    return render(request, "commune_day/print_detail.html", {"run": run, "session": run.session})


@login_required
def print_progress(request: PortalRequest, pk: int, run_pk: int):
    """The htmx partial: it polls itself every 2 s until the PDF is done or failed."""
    run = _run(request, pk, run_pk)
    return render(request, "commune_day/_print_progress.html", {"run": run})


@login_required
def print_download(request: PortalRequest, pk: int, run_pk: int):
    run = _run(request, pk, run_pk)
    if run.status != SheetPrintRun.Status.DONE:
        raise Http404
    content = SheetPrintRun.objects.filter(pk=run.pk).values_list("pdf", flat=True).get()
    response = HttpResponse(bytes(content), content_type="application/pdf")
    filename = f"13TD_{run.session.commune.code}_{run.session.date.isoformat()}.pdf"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@login_required
def session_close_view(request: PortalRequest, pk: int):
    session = get_session_for_user(request.user, pk, write=True)
    summary = session_summary(session)
    form = SessionCloseForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.session_close(
                session=session,
                cash_counted=form.cleaned_data["cash_counted"],
                explanation=form.cleaned_data["explanation"],
                user=request.user,
            )
        except ValidationError as e:
            apply_errors(form, e)
        else:
            messages.success(
                request, _("Session closed: it awaits the controller's countersignature.")
            )
            return redirect("sessions:detail", pk=session.pk)
    return _form_page(
        request,
        form,
        title=_("Close the session"),
        session=session,
        submit=_("Close the session"),
        extra={"summary": summary},
    )


@login_required
def session_countersign_view(request: PortalRequest, pk: int):
    session = get_session_for_user(request.user, pk, write=True)
    summary = session_summary(session)
    errors: list[str] = []
    if request.method == "POST":
        try:
            services.session_countersign(session=session, user=request.user)
        except ValidationError as e:
            errors = e.messages
        else:
            messages.success(request, _("Session countersigned and closed."))
            return redirect("sessions:detail", pk=session.pk)
    return render(
        request,
        "commune_day/session_countersign.html",
        {"session": session, "summary": summary, "errors": errors},
        status=400 if errors else 200,
    )
