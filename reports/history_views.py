"""The auditor's histories: one household's timeline (with its PDF and XLSX) and the office log.

Both only read: staff, managers and auditors of the office see them; another office's household
answers 404 (the household getter), the log lists only the user's offices. A filter that is not
one of its choices, or not a date, is shown as the form's error with a 400, never a 500.
"""

import django_tables2 as tables
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import Http404, HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.generic import TemplateView
from django_tables2.data import TableListData

from borrowers.access import PortalRequest
from borrowers.selectors import get_household_for_user, offices_for
from branch_portal.pagination import COUNT_LIMIT, TableListMixin

from . import audit
from .forms import AuditSearchForm, HistoryFilterForm
from .history import SOURCES, filter_events, household_timeline
from .history_rendering import (
    PDF_EVENT_LIMIT,
    filename,
    render_history_pdf,
    render_history_xlsx,
)

# The page shows this many events at most (the files hold all of them): past it, HTML of a few
# thousand rows of changes grows to megabytes for a browser in an office on a poor line.
PAGE_EVENT_LIMIT = 2000
EXPORTS = {
    "pdf": "application/pdf",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def _filters_text(form) -> str:
    """The filters in words, printed on the PDF so that a partial history says it is one."""
    if not form.is_valid():
        return ""
    parts = []
    for name, value in form.cleaned_data.items():
        if value in (None, ""):
            continue
        field = form.fields[name]
        if hasattr(field, "choices"):
            value = dict(field.choices).get(value, value)
        elif hasattr(value, "strftime"):
            value = value.strftime("%d/%m/%Y")
        parts.append(f"{field.label}: {value}")
    return "; ".join(str(p) for p in parts)


@login_required
def household_history(request: PortalRequest, pk: int):
    household = get_household_for_user(request.user, pk)
    export = request.GET.get("_export", "")
    if export and export not in EXPORTS:
        return HttpResponseBadRequest(
            _("Unknown export format “%(value)s”: choose one of %(formats)s.")
            % {"value": export, "formats": ", ".join(EXPORTS)},
            content_type="text/plain; charset=utf-8",
        )
    events = household_timeline(household)
    loans = sorted({(e.loan_id, e.loan_number) for e in events if e.loan_id}, key=lambda x: x[1])
    form = HistoryFilterForm(request.GET or None, sources=SOURCES, loans=loans)
    valid = form.is_bound and form.is_valid()
    if form.is_bound and not valid:
        shown = events = []
    elif valid:
        data = form.cleaned_data
        events = filter_events(
            events,
            source=data["kind"] or None,
            loan_id=data["loan"],
            start=data["start"],
            end=data["end"],
            user=data["user"].strip() or None,
        )
    if export and (valid or not form.is_bound):
        today = timezone.localdate()
        if export == "pdf":
            content = render_history_pdf(
                household=household, events=events, filters=_filters_text(form)
            )
        else:
            content = render_history_xlsx(household=household, events=events)
        response = HttpResponse(content, content_type=EXPORTS[export])
        response["Content-Disposition"] = (
            f'attachment; filename="{filename(household, export, today)}"'
        )
        return response
    shown = events[:PAGE_EVENT_LIMIT]
    query = request.GET.copy()
    query.pop("_export", None)
    return render(
        request,
        "reports/history.html",
        {
            "household": household,
            "form": form,
            "events": shown,
            "total": len(events),
            "capped": len(events) > len(shown),
            "page_limit": PAGE_EVENT_LIMIT,
            "pdf_limit": PDF_EVENT_LIMIT,
            "query": query.urlencode(),
        },
        status=400 if form.is_bound and not valid else 200,
    )


# --- the office log ------------------------------------------------------------------------------


class AuditTable(tables.Table):
    at = tables.DateTimeColumn(
        verbose_name=gettext_lazy("When"), format="d/m/Y H:i:s", orderable=False
    )
    event = tables.Column(verbose_name=gettext_lazy("Event"), orderable=False)
    object = tables.Column(
        verbose_name=gettext_lazy("Loan, citizen ID or group"), orderable=False, default=""
    )
    user = tables.Column(verbose_name=gettext_lazy("By"), orderable=False, default="")
    approved_by = tables.Column(
        verbose_name=gettext_lazy("Approved by"), orderable=False, default=""
    )
    amount = tables.TemplateColumn(
        "{% load money %}{{ record.amount|thousands }}",
        verbose_name=gettext_lazy("Amount (VND)"),
        orderable=False,
        attrs={"td": {"class": "text-end text-nowrap"}},
    )
    value_date = tables.DateColumn(
        verbose_name=gettext_lazy("Value date"), format="d/m/Y", orderable=False, default=""
    )
    details = tables.Column(
        verbose_name=gettext_lazy("Details"), orderable=False, default="",
        attrs={"td": {"class": "small"}},
    )  # fmt: skip

    class Meta:
        attrs = {"class": "table table-sm table-hover align-top mb-0"}
        empty_text = gettext_lazy("Nothing was recorded that matches this search.")

    def value_amount(self, record):
        return record.amount if record.amount is not None else ""

    def render_object(self, record, value):
        from django.urls import reverse
        from django.utils.html import format_html

        if record.loan_id and record.src in ("entry", "loan", "request"):
            return format_html(
                '<a href="{}">{}</a>', reverse("loans:detail", args=[record.loan_id]), value
            )
        if record.household_id:
            url = reverse("reports:household_history", args=[record.household_id])
            return format_html('<a href="{}">{}</a>', url, value)
        return value


class AuditLogView(LoginRequiredMixin, TableListMixin, TemplateView):
    """What was done in the user's offices: by user, range of days (the last week up to the
    business date by default, at most a year), kind of event and object, newest first."""

    template_name = "reports/audit.html"
    table_class = AuditTable
    per_page = 50

    def get(self, request, *args, **kwargs):
        offices = offices_for(request.user)
        if not offices.exists():
            raise Http404
        self.form = AuditSearchForm(
            request.GET,
            offices=offices,
            kinds=audit.kind_choices(),
            default_days=audit.DEFAULT_DAYS,
            max_days=audit.MAX_DAYS,
        )
        self.search = self._search() if self.form.is_valid() else None
        if self.search is None and request.GET.get("_export"):
            problems = [str(m) for errors in self.form.errors.values() for m in errors]
            return HttpResponseBadRequest(
                " ".join(problems), content_type="text/plain; charset=utf-8"
            )
        if self.search is not None and request.GET.get("_export") in self.export_formats:
            rows = audit.AuditRows(self.search, count_limit=COUNT_LIMIT)
            if rows.count(audit.EXPORT_LIMIT + 1) > audit.EXPORT_LIMIT:
                return HttpResponseBadRequest(
                    _("More than %(n)s rows: narrow the search to export it.")
                    % {"n": audit.EXPORT_LIMIT},
                    content_type="text/plain; charset=utf-8",
                )
        response = super().get(request, *args, **kwargs)
        if self.search is None and not self.export_format:
            response.status_code = 400
        return response

    def _search(self):
        data = self.form.cleaned_data
        office = data["office"]
        search = audit.Search(
            office_id=office.pk, start=data["start"], end=data["end"], kind=data["kind"]
        )
        if data["user"]:
            user = get_user_model().objects.filter(username__iexact=data["user"]).first()
            if user is None:
                self.form.add_error(
                    "user", _("No user is named “%(name)s”.") % {"name": data["user"]}
                )
                return None
            search.user_id = user.pk
        if data["object"]:
            search.object_given = True
            search.loan_ids, search.household_ids, search.group_ids = audit.resolve_object(
                office.pk, data["object"]
            )
        return search

    def get_table_data(self):
        if self.search is None:
            return []
        # Wrapped, or django-tables2 makes a list of every row of the search (list(data)) to
        # show one page: three minutes for the demo's week after seed_demo.
        return TableListData(audit.AuditRows(self.search, count_limit=COUNT_LIMIT))

    def get_export_filename(self, export_format):
        s = self.search
        return f"audit_{s.start.isoformat()}_{s.end.isoformat()}.{export_format}"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        query = self.request.GET.copy()
        for name in ("_export", "page"):
            query.pop(name, None)
        context.update(form=self.form, search=self.search, query=query.urlencode())
        return context
