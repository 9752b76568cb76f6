"""Pages of big lists: bounded parameters, a count that stops at COUNT_LIMIT, and no join of
every row the database looks at."""

import math
from dataclasses import dataclass

from django import forms
from django.core.exceptions import ValidationError
from django.core.paginator import EmptyPage
from django.db.models import QuerySet
from django.http import HttpResponseBadRequest
from django.utils.translation import gettext_lazy as _
from django_tables2 import LazyPaginator, RequestConfig, SingleTableMixin
from django_tables2.export import ExportMixin

from .exports import SafeTableExport


class DeferredJoinQuerySet(QuerySet):
    """A slice first selects the page's ids by the list's index alone, then loads those rows with
    their joins and annotations ("deferred join"). Otherwise PostgreSQL builds, joins and
    discards every row before the offset (page 400 of a province's loans), and a filtered walk
    of the list's index fetches the table row of every entry it rejects: "nguyen thi" on the
    first page of a province's households read 90,000 rows to keep 26 (180 ms), where the ids
    alone come from the (office, search_name, id) index without touching the table (16 ms)."""

    def __getitem__(self, k):
        if not (isinstance(k, slice) and k.stop is not None and self._result_cache is None):
            return super().__getitem__(k)
        ids = list(QuerySet.__getitem__(self.values_list("pk", flat=True), k))
        if not ids:
            return []
        rows = {row.pk: row for row in super().filter(pk__in=ids)}
        return [rows[pk] for pk in ids if pk in rows]


def deferred_join(queryset: QuerySet) -> QuerySet:
    clone = queryset._chain()
    clone.__class__ = type(
        f"DeferredJoin{type(queryset).__name__}", (DeferredJoinQuerySet, type(queryset)), {}
    )
    return clone


# --- List parameters ------------------------------------------------------------------------------

PER_PAGE_CHOICES = (25, 50, 100)
# PostgreSQL's OFFSET is a bigint: a page whose rows would start beyond it is past every list's end.
BIGINT_MAX = 2**63 - 1
LAST_PAGE = "last"


class ListParamsForm(forms.Form):
    """A list's page, page size and export format, read from its query string.

    Only the export format refuses (the view answers 400: a format we do not write). The others
    fall back: a page size outside the fixed set is the list's default; the page follows Django's
    `Paginator.get_page`, so what is not a number is the first page and a number out of range
    (0, negative, past the end, past bigint) is the last."""

    page = forms.RegexField(regex=r"^-?[0-9]+\Z", required=False)
    per_page = forms.TypedChoiceField(coerce=int, required=False, empty_value=None)
    export = forms.CharField(required=False)

    def __init__(self, data, *, default_per_page: int, export_formats=()):
        super().__init__(data)
        self.default_per_page = default_per_page
        self.export_formats = tuple(export_formats)
        sizes = sorted({*PER_PAGE_CHOICES, default_per_page})
        self.fields["per_page"].choices = [(str(n), str(n)) for n in sizes]

    @classmethod
    def from_request(
        cls, request, *, prefix="", page_field="page", per_page_field="per_page", **kw
    ):
        """The form over a table's own names for its page and page size (they carry its prefix)."""
        data = {
            "page": request.GET.get(f"{prefix}{page_field}", ""),
            "per_page": request.GET.get(f"{prefix}{per_page_field}", ""),
            "export": request.GET.get(ExportMixin.export_trigger_param, ""),
        }
        form = cls(data, **kw)
        form.is_valid()  # each field falls back on its own; only the export's error is answered
        return form

    def clean_page(self) -> int | str:
        text = self.cleaned_data["page"]
        if not text:
            return 1
        digits = text.removeprefix("-").lstrip("0")
        # Python refuses to read an int of more than 4,300 digits; one of 20 is past bigint.
        if text.startswith("-") or not digits or len(digits) > 19:
            return LAST_PAGE
        return int(digits)

    def clean_export(self) -> str | None:
        value = self.cleaned_data["export"]
        if value and value not in self.export_formats:
            raise ValidationError(
                _("Unknown export format “%(value)s”: choose one of %(formats)s."),
                code="unknown_export_format",
                params={"value": value, "formats": ", ".join(self.export_formats)},
            )
        return value or None

    @property
    def export_format(self) -> str | None:
        return self.cleaned_data.get("export")

    def page_and_size(self) -> tuple[int | str, int]:
        per_page = self.cleaned_data.get("per_page") or self.default_per_page
        page = self.cleaned_data.get("page") or 1
        if page != LAST_PAGE and page * per_page > BIGINT_MAX:
            page = LAST_PAGE
        return page, per_page


def last_page_number(paginator) -> int:
    """The lazy paginator knows no total, so this is the one place a list counts all its rows. Only
    a page no link leads to gets here (past the end, 0, -3, 10**30): its OFFSET has already walked
    the filtered list to find it empty, and the count walks it once more; every page a link
    leads to counts at most up to COUNT_LIMIT (docs/decisions/0004-lists-count-up-to-a-limit.md)."""
    if not isinstance(paginator, LazyPaginator):
        return paginator.num_pages
    hits = max(1, len(paginator.object_list) - paginator.orphans)
    return math.ceil(hits / paginator.per_page)


# A list says how many rows it holds up to this many, and "more than" beyond.
COUNT_LIMIT = 10_000


@dataclass(frozen=True)
class RowCount:
    """How many rows a list holds: `n` exactly, or more than `n` when not `exact`."""

    n: int
    exact: bool = True


def bounded_count(queryset: QuerySet, limit: int) -> RowCount:
    """COUNT over the list's first limit + 1 ids (`SELECT COUNT(*) FROM (SELECT … LIMIT n+1)`):
    it stops walking the list's index there, so it costs at most what reading row 10,001 of
    the list would, where a plain COUNT walks all of a province's office. The list's ordering
    stays: it leads PostgreSQL down the index the page walks, which stops at the limit; without
    it a name search built the whole trigram bitmap first (35 ms against 17 ms at 200,000
    households)."""
    # The query, not a slice of the queryset: a deferred join's slice would fetch the ids.
    query = queryset.values("pk").query.chain()
    query.set_limits(high=limit + 1)
    n = query.get_count(using=queryset.db)
    return RowCount(limit, exact=False) if n > limit else RowCount(n)


def row_count(table) -> RowCount:
    """The table's count of rows, as cheaply as its page allows: a counting paginator has it, a
    last page (no next) knows it from its own rows, a page past the limit knows it exceeds it;
    only a page with more after it and the limit still ahead counts (bounded_count)."""
    paginator, page, limit = table.paginator, table.page, COUNT_LIMIT
    if not isinstance(paginator, LazyPaginator):
        return RowCount(paginator.count)
    if not page.has_next():
        return RowCount((page.number - 1) * paginator.per_page + len(page.object_list))
    if page.number * paginator.per_page >= limit:
        return RowCount(limit, exact=False)
    data = table.data.data
    if isinstance(data, QuerySet):
        return bounded_count(data, limit)
    n = len(data)
    return RowCount(limit, exact=False) if n > limit else RowCount(n)


def paginate_table(request, table, *, per_page: int, paginator_class=LazyPaginator):
    """Order the table from ?sort= and give it its page: the page size from the fixed set, a bad
    page the first or the last one (`ListParamsForm`); never a 500, never the whole list."""
    RequestConfig(request, paginate=False).configure(table)  # the ordering only
    params = ListParamsForm.from_request(
        request,
        prefix=table.prefix,
        page_field=table.page_field,
        per_page_field=table.per_page_field,
        default_per_page=per_page,
    )
    page, size = params.page_and_size()
    table.paginator = paginator_class(table.rows, size)
    table.page = _page(table.paginator, page)
    table.row_count = row_count(table)
    return table


def _page(paginator, page: int | str):
    if page != LAST_PAGE:
        try:
            return paginator.page(page)
        except EmptyPage:
            pass
    try:
        return paginator.page(last_page_number(paginator))
    except EmptyPage:  # rows went away between the count and the page
        return paginator.page(1)


class TableListMixin(ExportMixin, SingleTableMixin):
    """Every list page: a django-tables2 table paginated by `paginate_table` (lazily: a count up
    to COUNT_LIMIT at most), exported to CSV or XLSX through `SafeTableExport`; an unknown export
    format answers 400."""

    export_formats = ("csv", "xlsx")
    export_class = SafeTableExport
    per_page = PER_PAGE_CHOICES[0]
    paginator_class = LazyPaginator

    def get(self, request, *args, **kwargs):
        meta = self.get_table_class()._meta
        params = ListParamsForm.from_request(
            request,
            prefix=meta.prefix,
            page_field=meta.page_field,
            per_page_field=meta.per_page_field,
            default_per_page=self.per_page,
            export_formats=self.export_formats,
        )
        if "export" in params.errors:
            return HttpResponseBadRequest(
                params.errors["export"][0], content_type="text/plain; charset=utf-8"
            )
        self.export_format = params.export_format
        return super().get(request, *args, **kwargs)

    def get_table(self, **kwargs):
        table = self.get_table_class()(data=self.get_table_data(), **kwargs)
        if self.export_format:  # an export holds every row of the filtered list
            return RequestConfig(self.request, paginate=False).configure(table)
        return paginate_table(
            self.request, table, per_page=self.per_page, paginator_class=self.paginator_class
        )

    def render_to_response(self, context, **kwargs):
        if self.export_format:
            return self.create_export(self.export_format)
        # Past ExportMixin, whose own test takes any format tablib knows (xls, yaml, latex...).
        return super(ExportMixin, self).render_to_response(context, **kwargs)
