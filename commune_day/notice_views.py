"""The notice pages: the index (a group list with a month), a group's notices and their PDF,
a commune's notice board and its PDF. Every read is scoped to the user's offices (another
office's group or commune answers 404); every role of the office reads them, none writes."""

from django.contrib.auth.decorators import login_required
from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django_filters.views import FilterView

from borrowers.access import PortalRequest
from borrowers.selectors import get_group_for_user, groups_for_user
from branch_portal.pagination import TableListMixin, deferred_join
from loans.models import add_months

from .notice_forms import BoardPartForm, NoticeGroupFilter, NoticeMonthForm
from .notice_rendering import render_board_pdf, render_group_notices_pdf
from .notice_tables import NoticeGroupTable
from .notices import (
    communes_for_user,
    get_commune_for_user,
    next_month,
    notice_board,
    notices_for_group,
)

PDF = "application/pdf"


class NoticeIndexView(LoginRequiredMixin, TableListMixin, FilterView):
    """The user's groups (search, commune, organisation, status), each linking to its notices
    for the chosen month, and the communes' notice boards."""

    request: PortalRequest
    table_class = NoticeGroupTable
    filterset_class = NoticeGroupFilter
    template_name = "commune_day/notices/index.html"
    export_name = "notices"

    def get_queryset(self):
        return deferred_join(
            groups_for_user(self.request.user).select_related(
                "village__commune", "chapter__organisation"
            )
        )

    def get_table_kwargs(self):
        form = self.filterset.form
        month = form.cleaned_data.get("month") if form.is_valid() else None
        return {"month": month}

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["communes"] = (
            communes_for_user(self.request.user)
            .select_related("office")
            .order_by("office__code", "name", "pk")
        )
        return context


def _group_notices_or_form(request: PortalRequest, pk: int):
    group = get_group_for_user(request.user, pk)
    form = NoticeMonthForm(request.GET, default=next_month(group.office.business_date))
    if not form.is_valid():
        return group, form, None
    return group, form, notices_for_group(group, form.cleaned_data["month"])


@login_required
def group_notices(request: PortalRequest, pk: int):
    group, form, notices = _group_notices_or_form(request, pk)
    context = {"group": group, "form": form, "notices": notices}
    if notices is not None:
        context["previous_month"] = add_months(notices.month, -1)
        context["next_month"] = add_months(notices.month, 1)
    return render(
        request,
        "commune_day/notices/group.html",
        context,
        status=200 if notices is not None else 400,
    )


@login_required
def group_notices_pdf(request: PortalRequest, pk: int):
    group, form, notices = _group_notices_or_form(request, pk)
    if notices is None:
        # The page says what is wrong with the month.
        return redirect(f"{reverse('notices:group', args=[group.pk])}?{request.GET.urlencode()}")
    content, _pages = render_group_notices_pdf(notices, signed_on=group.office.business_date)
    response = HttpResponse(content, content_type=PDF)
    filename = f"thong-bao-no-den-han_{group.code}_{notices.month:%Y-%m}.pdf"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _board(request: PortalRequest, pk: int):
    commune = get_commune_for_user(request.user, pk)
    return notice_board(commune, commune.office.business_date)


def _board_page(request: PortalRequest, board, *, error: str = "", status: int = 200):
    return render(
        request,
        "commune_day/notices/board.html",
        {"board": board, "parts": board.parts(), "error": error},
        status=status,
    )


@login_required
def commune_board(request: PortalRequest, pk: int):
    return _board_page(request, _board(request, pk))


@login_required
def commune_board_pdf(request: PortalRequest, pk: int):
    """One part of the board (?part=N, the first by default): a long board prints in parts."""
    board = _board(request, pk)
    parts = board.parts()
    form = BoardPartForm(request.GET, count=len(parts))
    if not form.is_valid():
        return _board_page(request, board, error=" ".join(form.errors["part"]), status=400)
    part = parts[form.cleaned_data["part"] - 1]
    content, _pages = render_board_pdf(board, part)
    response = HttpResponse(content, content_type=PDF)
    suffix = f"_{part.number}-{part.count}" if part.count > 1 else ""
    filename = f"bang-cong-khai_{board.commune.code}_{board.day.isoformat()}{suffix}.pdf"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
