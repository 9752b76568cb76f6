"""The API's read endpoints (/api/v1/): every query through the same scoped selectors as the
pages, so another office's id answers 404 exactly as its page does."""

import dataclasses
import datetime as dt
import re

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import ExpressionWrapper, Q
from django.db.models import fields as model_fields
from django.http import Http404, HttpResponse
from django.utils.translation import gettext as _
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from borrowers.selectors import households_for_user, office_ids_for
from loans.models import LoanTransaction
from loans.selectors import loans_for_user
from reports.selectors import runs_for_user
from reports.statement import check_as_of, statement_for
from savings.models import SavingsAccount

from . import filters, serializers
from .models import ApiToken, Scope

ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
FILE_TYPES = {
    "pdf": "application/pdf",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


class ScopedReadViewSet(viewsets.ReadOnlyModelViewSet):
    required_scope = Scope.READ
    lookup_value_regex = r"[0-9]+"
    filter_backends = [DjangoFilterBackend]
    # The lookups a group head's and a borrower's token narrow the rows by (None: no rows).
    group_lookup: str | None = None
    household_lookup: str | None = None

    def narrowed(self, queryset):
        token = self.request.auth
        if not isinstance(token, ApiToken):
            return queryset
        for restriction, lookup in (
            (token.group_id, self.group_lookup),
            (token.household_id, self.household_lookup),
        ):
            if restriction:
                return queryset.filter(**{lookup: restriction}) if lookup else queryset.none()
        return queryset


@extend_schema_view(
    list=extend_schema(summary="Borrower households of the token's offices"),
    retrieve=extend_schema(summary="One borrower household"),
)
class HouseholdViewSet(ScopedReadViewSet):
    serializer_class = serializers.HouseholdSerializer
    filterset_class = filters.HouseholdFilter

    group_lookup, household_lookup = "group_id", "pk"

    def get_queryset(self):
        return self.narrowed(
            households_for_user(self.request.user).select_related(
                "office", "village__commune", "group"
            )
        )

    @extend_schema(
        summary="The household's statement: its loans and its savings as of a date",
        description="The statement the office prints (every entry with the balances after it, "
        "the schedule, the totals), with the savings account beside it. A borrower's token "
        "(scope read, reach: their household) reads their own and no other.",
        parameters=[
            OpenApiParameter(
                "as_of",
                {"type": "string", "format": "date"},
                description="Default: the office's business date; not after it, nor before the "
                "household's first loan application.",
            )
        ],  # fmt: skip
        responses=serializers.StatementSerializer,
    )
    @action(detail=True)
    def statement(self, request, pk=None):
        household = self.get_object()
        as_of = _as_of(request.query_params.get("as_of"), household)
        statement = statement_for(household, as_of)
        token = request.auth
        if isinstance(token, ApiToken) and token.group_id:
            # A group head's token: the loans through the group, not the member's others.
            loans = [s for s in statement.loans if s.loan.group_id == token.group_id]
            statement = dataclasses.replace(statement, loans=loans)
        return Response(
            serializers.StatementSerializer(
                {
                    "office": household.office.code,
                    "citizen_id": household.citizen_id,
                    "full_name": household.full_name,
                    "as_of": as_of,
                    "totals": statement.totals,
                    "loans": statement.loans,
                    "savings": _savings_as_of(household, as_of),
                }
            ).data
        )


@extend_schema_view(
    list=extend_schema(summary="Loans of the token's offices"),
    retrieve=extend_schema(summary="One loan, with its cached balances"),
)
class LoanViewSet(ScopedReadViewSet):
    serializer_class = serializers.LoanSerializer
    filterset_class = filters.LoanFilter

    group_lookup, household_lookup = "group_id", "household_id"

    def get_queryset(self):
        return self.narrowed(
            loans_for_user(self.request.user).select_related("office", "programme", "group")
        )


@extend_schema_view(
    list=extend_schema(summary="Ledger entries of the token's offices, in id order"),
    retrieve=extend_schema(summary="One ledger entry"),
)
class EntryViewSet(ScopedReadViewSet):
    serializer_class = serializers.EntrySerializer
    filterset_class = filters.EntryFilter

    group_lookup, household_lookup = "loan__group_id", "loan__household_id"

    def get_queryset(self):
        return self.narrowed(
            LoanTransaction.objects.filter(office_id__in=office_ids_for(self.request.user))
            .select_related("office", "loan")
            .defer("note")
        )


@extend_schema_view(
    list=extend_schema(summary="Report runs of the token's offices"),
    retrieve=extend_schema(summary="One report run"),
)
class ReportRunViewSet(ScopedReadViewSet):
    serializer_class = serializers.ReportRunSerializer
    filterset_class = filters.ReportRunFilter

    def get_queryset(self):
        return self.narrowed(runs_for_user(self.request.user)).annotate(
            has_pdf=ExpressionWrapper(
                Q(pdf__isnull=False), output_field=model_fields.BooleanField()
            ),
            has_xlsx=ExpressionWrapper(
                Q(xlsx__isnull=False), output_field=model_fields.BooleanField()
            ),
        )

    @extend_schema(
        summary="A finished run's file (PDF or XLSX)",
        responses={
            (200, "application/octet-stream"): OpenApiTypes.BINARY,
            404: OpenApiResponse(description="No such run, not finished, or no such file"),
        },
    )
    @action(detail=True, url_path=r"file/(?P<fmt>pdf|xlsx)")
    def file(self, request, pk=None, fmt="pdf"):
        run = self.get_object()
        if run.status != run.Status.DONE:
            raise Http404
        content = type(run).objects.filter(pk=run.pk).values_list(fmt, flat=True).get()
        if content is None:
            raise Http404
        filename = f"{run.office.code}_{run.start.isoformat()}_{run.as_of.isoformat()}.{fmt}"
        response = HttpResponse(bytes(content), content_type=FILE_TYPES[fmt])
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response


def _as_of(raw: str | None, household) -> dt.date:
    """The statement's date: YYYY-MM-DD as the schema says, the business date when left out; a
    date the statement cannot be true on is a 400. A household with savings and no loan has a
    statement too (its savings), so only the business date bounds it then."""
    if raw is None:
        day = household.office.business_date
    else:
        try:
            day = dt.date.fromisoformat(raw) if ISO_DATE.fullmatch(raw) else None
        except ValueError:  # 2021-02-30
            day = None
        if day is None:
            message = (
                _("Give a value, or leave the parameter out.")
                if not raw.strip()
                else _("A date as YYYY-MM-DD.")
            )
            raise ValidationError({"as_of": [message]})
    try:
        check_as_of(household, day)
    except DjangoValidationError as exc:
        if exc.code != "no_loan":
            raise ValidationError({"as_of": exc.messages}) from exc
    return day


def _savings_as_of(household, as_of) -> dict | None:
    account = SavingsAccount.objects.filter(household=household).first()
    if account is None:
        return None
    balance, entries = 0, []
    for entry in account.transactions.filter(value_date__lte=as_of).order_by("value_date", "id"):
        balance += entry.d_balance
        entries.append(
            {
                "id": entry.pk,
                "value_date": entry.value_date,
                "kind": entry.kind,
                "amount": entry.amount,
                "d_balance": entry.d_balance,
                "balance": balance,
                "reference": entry.reference,
            }
        )
    return {"balance": balance, "entries": entries}
