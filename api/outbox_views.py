"""The core bank's feed (/api/v1/outbox/): every ledger and savings entry once, in commit order,
read on from the last position seen (outbox/, docs/decisions/0021-outbox.md)."""

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from borrowers.selectors import office_ids_for
from outbox.models import OutboxEntry
from outbox.selectors import entries_after

from . import serializers
from .filters import BIGINT_MAX
from .models import Scope

DEFAULT_LIMIT, MAX_LIMIT = 500, 5000


def _whole(request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 19) or not low <= int(raw) <= high:
        raise ValidationError(
            {name: [_("A whole number from %(low)d to %(high)d.") % {"low": low, "high": high}]}
        )
    return int(raw)


def _row(item: OutboxEntry) -> dict:
    common = {"position": item.position, "office": item.office.code}
    if item.loan_entry is not None:
        entry = item.loan_entry
        return {
            **common,
            "source": "loan",
            "id": entry.pk,
            "kind": entry.kind,
            "value_date": entry.value_date,
            "amount": entry.amount,
            "citizen_id": entry.loan.household.citizen_id,
            "loan_number": entry.loan.number,
            "programme": entry.loan.programme.code,
            "counted_kind": entry.counted_kind,
            "d_outstanding": entry.d_outstanding,
            "d_overdue": entry.d_overdue,
            "d_frozen": entry.d_frozen,
            "reverses": entry.reverses_id,
            "d_balance": None,
            "loan_entry": None,
            "reference": entry.reference,
            "posted_at": entry.posted_at,
        }
    saving = item.savings_entry
    assert saving is not None  # the table's CHECK: one of the two
    return {
        **common,
        "source": "savings",
        "id": saving.pk,
        "kind": saving.kind,
        "value_date": saving.value_date,
        "amount": saving.amount,
        "citizen_id": saving.account.household.citizen_id,
        **dict.fromkeys(
            (
                "loan_number",
                "programme",
                "counted_kind",
                "d_outstanding",
                "d_overdue",
                "d_frozen",
                "reverses",
            ),
        ),  # fmt: skip
        "d_balance": saving.d_balance,
        "loan_entry": saving.loan_entry_id,
        "reference": saving.reference,
        "posted_at": saving.created_at,
    }


class OutboxView(APIView):
    required_scope = Scope.ADMIN

    @extend_schema(
        summary="Ledger and savings entries in commit order, after a position",
        description="Read on with `after` set to the answer's `last_position`: positions follow "
        "the order the entries committed in, and an entry is shown only once every entry with "
        "a lower position has committed, so a reader that goes on from where it stopped misses "
        "nothing and sees nothing twice. Positions have gaps (a transaction that failed).",
        parameters=[
            OpenApiParameter(
                "after",
                {"type": "integer", "minimum": 0, "maximum": BIGINT_MAX, "default": 0},
                description="The last position already read (0: from the start).",
            ),
            OpenApiParameter(
                "limit",
                {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
            ),
        ],  # fmt: skip
        responses=serializers.OutboxPageSerializer,
    )
    def get(self, request):
        after = _whole(request, "after", 0, 0, BIGINT_MAX)
        limit = _whole(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
        # One more than asked: whether there is more, without a count.
        rows = entries_after(office_ids_for(request.user), after, limit + 1)
        page = rows[:limit]
        data = {
            "after": after,
            "last_position": page[-1].position if page else after,
            "more": len(rows) > limit,
            "entries": [_row(item) for item in page],
        }
        return Response(serializers.OutboxPageSerializer(data).data)
