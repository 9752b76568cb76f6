"""The core bank's feed (/api/v1/outbox/): every ledger and savings entry once, in commit order,
read on from the last position seen (outbox/, docs/decisions/0021-outbox.md)."""

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from borrowers.selectors import office_ids_for
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
            "last_position": page[-1]["position"] if page else after,
            "more": len(rows) > limit,
            "entries": page,
        }
        # The rows are already the schema's shape and JSON's types: a serializer over 5,000 of
        # them would cost more than the queries.
        return Response(data)
