"""The group head's endpoints (/api/v1/groups/…): the group's members, the collection sheet for
its next session with its version, and the receipts the head holds until the session
(commune_day.custody). A group head's token reaches its own group only; another group's id is a
404, as it is to another office's token."""

from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from borrowers.selectors import can_write, groups_for_user, role_in
from branch_portal.roles import GROUP_HEAD
from commune_day import custody
from commune_day.models import HeldReceipt
from commune_day.selectors import savings_balances_on
from loans.models import Loan

from . import serializers
from .models import ApiToken, Scope
from .views import ScopedReadViewSet

IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    {"type": "string", "minLength": 1, "maxLength": 100, "pattern": "^[\\x21-\\x7e]+$"},
    OpenApiParameter.HEADER,
    required=True,
    description="The phone's key for this receipt (1–100 visible ASCII characters): a repeat "
    "posts nothing "
    "and answers as the first did.",
)
CONFLICT = OpenApiResponse(
    serializers.ConflictSerializer,
    description="refused: the loan's state refuses the receipt (the errors per field); "
    "key_reused: the key was another receipt's (the first is given); "
    "sheet_changed: the sheet changed since the phone read it (the new one is given).",
)


def _sheet_data(group, sheet: custody.GroupSheet) -> dict:
    held = custody.held_by_loan(group)
    nothing = dict.fromkeys(custody.AMOUNTS, 0)
    lines = [{**vars(line), "held": held.get(line.loan_id, nothing)} for line in sheet.sheet.lines]
    return {
        "group": group.code,
        "date": sheet.sheet.date,
        "version": sheet.version,
        "lines": lines,
        "totals": sheet.sheet.totals,
        "held": {c: sum(h[c] for h in held.values()) for c in custody.AMOUNTS},
    }


class GroupViewSet(ScopedReadViewSet):
    serializer_class = serializers.GroupSerializer
    filterset_class = None

    @property
    def required_scope(self):
        return Scope.COLLECT if self.request.method == "POST" else Scope.READ

    def get_queryset(self):
        groups = groups_for_user(self.request.user).select_related(
            "office", "village__commune", "chapter__organisation"
        )
        token = self.request.auth
        if isinstance(token, ApiToken):
            if token.household_id:
                return groups.none()
            if token.group_id:
                return groups.filter(pk=token.group_id)
        return groups

    def _writable_group(self):
        group = self.get_object()
        user = self.request.user
        # The group's own head records receipts into their custody; office staff too.
        if not (can_write(user, group.office) or role_in(user, group.office) == GROUP_HEAD):
            raise PermissionDenied(_("Your role in this office does not allow this."))
        return group

    @extend_schema(
        summary="The group's members, their loans through the group and their savings",
        responses={200: serializers.MemberSerializer(many=True)},
    )
    @action(detail=True, pagination_class=None, filter_backends=[])
    def members(self, request, pk=None):
        group = self.get_object()
        households = list(
            group.households.order_by("full_name", "pk").prefetch_related(
                Prefetch(
                    "loans",
                    queryset=Loan.objects.filter(group=group)
                    .select_related("programme")
                    .order_by("pk"),
                    to_attr="group_loans",
                )
            )
        )
        balances = savings_balances_on([h.pk for h in households], group.office.business_date)
        data = [
            {
                "id": h.pk,
                "citizen_id": h.citizen_id,
                "full_name": h.full_name,
                "loans": [
                    {
                        "id": loan.pk,
                        "number": loan.number,
                        "programme": loan.programme.code,
                        "status": loan.status,
                        "outstanding": loan.outstanding,
                        "overdue": loan.overdue,
                    }
                    for loan in h.group_loans
                ],
                "savings_balance": balances.get(h.pk, 0),
            }
            for h in households
        ]
        return Response(serializers.MemberSerializer(data, many=True).data)

    @extend_schema(
        summary="The collection sheet (13/TD) for the group's next session, with its version "
        "and what the head holds per loan",
        responses={200: serializers.SheetSerializer},
    )
    @action(detail=True, pagination_class=None, filter_backends=[])
    def sheet(self, request, pk=None):
        group = self.get_object()
        data = _sheet_data(group, custody.group_sheet(group))
        return Response(serializers.SheetSerializer(data).data)

    @extend_schema(
        methods=["GET"],
        summary="The receipts the group head recorded, held or confirmed",
        responses={200: serializers.HeldReceiptSerializer(many=True)},
    )
    @extend_schema(
        methods=["POST"],
        summary="Hold what a member paid in the group head's custody (not in the ledger until "
        "the session)",
        parameters=[IDEMPOTENCY_KEY],
        request=serializers.ReceiptInSerializer,
        responses={
            201: serializers.HeldReceiptSerializer,
            200: OpenApiResponse(
                serializers.HeldReceiptSerializer, description="A repeat: the first answer."
            ),
            409: CONFLICT,
        },
    )
    @action(detail=True, methods=["get", "post"], filter_backends=[])
    def receipts(self, request, pk=None):
        if request.method == "GET":
            group = self.get_object()
            rows = HeldReceipt.objects.filter(group=group).select_related("loan", "group")
            page = self.paginate_queryset(rows)
            return self.get_paginated_response(
                serializers.HeldReceiptSerializer(page, many=True).data
            )
        group = self._writable_group()
        incoming = serializers.ReceiptInSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = {**incoming.validated_data}
        if "paid_on" in data:
            data["paid_on"] = data["paid_on"].isoformat()
        try:
            outcome = custody.receipt_hold(
                group=group,
                data=data,
                idempotency_key=request.headers.get("Idempotency-Key"),
                user=request.user,
                token_prefix=getattr(request.auth, "prefix", ""),
            )
        except custody.ReceiptRefused as exc:
            if set(exc.errors) == {"idempotency_key"}:  # the header: the request's shape
                raise ValidationError(exc.errors) from exc
            return _refused(exc)
        except custody.KeyReused as exc:
            return _key_reused(exc)
        except custody.SheetVersionChanged as exc:
            return _sheet_changed(group, exc)
        body = serializers.HeldReceiptSerializer(outcome.receipt).data
        if outcome.created:
            return Response(body, status=status.HTTP_201_CREATED)
        return Response(body, headers={"Idempotent-Replayed": "true"})

    @extend_schema(
        summary="A batch of receipts recorded offline: each with its own key, each held or "
        "refused on its own; the answer says per receipt what happened",
        request=serializers.BatchInSerializer,
        responses={200: serializers.BatchOutSerializer},
    )
    @action(
        detail=True,
        methods=["post"],
        url_path="receipts/batch",
        pagination_class=None,
        filter_backends=[],
    )
    def receipts_batch(self, request, pk=None):
        group = self._writable_group()
        incoming = serializers.BatchInSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        receipts = []
        for item in incoming.validated_data["receipts"]:
            item = dict(item)
            if "paid_on" in item:
                item["paid_on"] = item["paid_on"].isoformat()
            receipts.append(item)
        results = custody.receipts_hold(
            group=group,
            receipts=receipts,
            sheet_version=incoming.validated_data.get("sheet_version"),
            user=request.user,
            token_prefix=getattr(request.auth, "prefix", ""),
        )
        body = {"sheet_version": custody.group_sheet(group).version, "results": results}
        return Response(serializers.BatchOutSerializer(body).data)


def _refused(exc: custody.ReceiptRefused) -> Response:
    """A receipt of the right shape that the loan's state refuses (not a loan of the group,
    more than is owed, nothing paid, a date ahead): a 409, with the message of each field."""
    return Response(
        {
            "detail": _("The receipt is refused: nothing is held."),
            "code": "refused",
            "errors": exc.errors,
        },
        status=status.HTTP_409_CONFLICT,
    )


def _key_reused(exc: custody.KeyReused) -> Response:
    return Response(
        {
            "detail": _("This Idempotency-Key was used for another receipt."),
            "code": "key_reused",
            "receipt": serializers.HeldReceiptSerializer(exc.receipt).data,
        },
        status=status.HTTP_409_CONFLICT,
    )


def _sheet_changed(group, exc: custody.SheetVersionChanged) -> Response:
    return Response(
        {
            "detail": _("The sheet changed since it was read: here is the new one."),
            "code": "sheet_changed",
            "sheet": serializers.SheetSerializer(_sheet_data(group, exc.sheet)).data,
        },
        status=status.HTTP_409_CONFLICT,
    )
