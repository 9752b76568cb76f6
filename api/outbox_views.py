"""The core bank's feed (/api/v1/outbox/): every ledger and savings entry once, in commit order,
read on from the last position seen (outbox/, docs/decisions/0021-outbox.md)."""

import re

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from borrowers.selectors import get_office_for_user, office_ids_for
from outbox.selectors import entries_after

from . import serializers
from .filters import BIGINT_MAX
from .models import Scope
from .schema import OFFICE_NOT_FOUND

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
            OpenApiParameter(
                "office",
                {"type": "string", "maxLength": 20, "pattern": serializers.PRINTABLE},
                description="One office's entries only (its code). A cursor is for one set of "
                "offices: read an office the token's user has just gained on its own, from 0.",
            ),
        ],  # fmt: skip
        responses={200: serializers.OutboxPageSerializer, 404: OFFICE_NOT_FOUND},
    )
    def get(self, request):
        after = _whole(request, "after", 0, 0, BIGINT_MAX)
        limit = _whole(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
        # One more than asked: whether there is more, without a count.
        office_ids = office_ids_for(request.user)
        code = request.query_params.get("office")
        if code is not None:
            if len(code) > 20 or not re.match(serializers.PRINTABLE, code):
                raise ValidationError({"office": [_("An office's code: at most 20 characters.")]})
            office_ids = [get_office_for_user(request.user, code).pk]
        rows = entries_after(office_ids, after, limit + 1)
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
