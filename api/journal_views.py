"""The daily journal (/api/v1/journal/): an office's entries of a day as balanced double-entry
lines by account, programme and fund source (reports.journal), as JSON or as the CSV file."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from borrowers.selectors import get_office_for_user
from reports.journal import Journal, check_day, daily_journal, journal_csv

from . import serializers
from .models import Scope
from .schema import OFFICE_NOT_FOUND

QUERY = [
    OpenApiParameter(
        "office", {"type": "string", "maxLength": 20, "pattern": serializers.PRINTABLE},
        required=True, description="The office's code.",
    ),
    OpenApiParameter(
        "date", {"type": "string", "format": "date"}, required=True,
        description="The value date, at most the office's business date.",
    ),
]  # fmt: skip


class _JournalBase(APIView):
    required_scope = Scope.ADMIN

    def journal(self, request) -> Journal:
        query = serializers.JournalQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        office = get_office_for_user(request.user, query.validated_data["office"])
        day = query.validated_data["date"]
        try:
            check_day(office, day)
        except DjangoValidationError as exc:
            raise ValidationError({"date": exc.messages}) from exc
        return daily_journal(office, day)


class JournalView(_JournalBase):
    @extend_schema(
        summary="The daily journal: a day's entries as balanced lines",
        description="The office's loan and savings entries with this value date, booked by "
        "account, programme and fund source: debits equal credits.",
        parameters=QUERY,
        responses={200: serializers.JournalSerializer, 404: OFFICE_NOT_FOUND},
    )
    def get(self, request):
        return Response(serializers.JournalSerializer(self.journal(request)).data)


class JournalFileView(_JournalBase):
    @extend_schema(
        summary="The daily journal as the CSV file the core bank loads",
        parameters=QUERY,
        responses={(200, "text/csv"): OpenApiTypes.STR, 404: OFFICE_NOT_FOUND},
    )
    def get(self, request):
        journal = self.journal(request)
        response = HttpResponse(journal_csv(journal), content_type="text/csv; charset=utf-8")
        name = f"journal_{journal.office.code}_{journal.day.isoformat()}.csv"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response
