"""`Authorization: Bearer <token>`: the API's one way in."""

import datetime as dt
import logging
from typing import NoReturn

from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from borrowers.access import Access, attach
from branch_portal.roles import GROUP_HEAD

from .models import ApiToken, GroupHead
from .services import digest_of

log = logging.getLogger("branch_portal.api.auth")

# last_used_at is written at most this often: not one UPDATE per request.
USE_RECORDED_EVERY = dt.timedelta(minutes=1)


def _client(request) -> str:
    return request.META.get("REMOTE_ADDR", "?")


class BearerTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request)
        if not header:
            return None
        parts = header.split()
        if not parts or parts[0].lower() != self.keyword.lower().encode():
            return None
        if len(parts) != 2:
            self._fail(request, "malformed header")
        try:
            token = parts[1].decode("ascii")
        except UnicodeDecodeError:
            self._fail(request, "token not ASCII")
        row = (
            ApiToken.objects.select_related("user", "user__group_head__group")
            .filter(digest=digest_of(token), revoked_at__isnull=True)
            .first()
        )
        if row is None or not row.user.is_active:
            self._fail(request, f"unknown or revoked token {token[:10]!r}")
        now = timezone.now()
        if row.last_used_at is None or now - row.last_used_at > USE_RECORDED_EVERY:
            ApiToken.objects.filter(pk=row.pk).update(last_used_at=now)
        head = _head(row.user)
        if head is None:
            attach(row.user)
        elif row.group_id != head.group_id:
            # Made before the head moved group, or by hand: reaches nothing.
            self._fail(request, f"group head token {token[:10]!r} outside the head's group")
        else:
            # The group's office, as a group head: reads (narrowed to the group) and receipts.
            attach(row.user, Access(roles={head.group.office_id: GROUP_HEAD}))
        return row.user, row

    def _fail(self, request, why: str) -> NoReturn:
        log.warning("API authentication failed from %s: %s", _client(request), why)
        raise exceptions.AuthenticationFailed(_("Invalid or revoked token."))

    def authenticate_header(self, request):
        return self.keyword


def _head(user) -> GroupHead | None:
    try:
        return user.group_head
    except GroupHead.DoesNotExist:
        return None


class BearerTokenScheme(OpenApiAuthenticationExtension):
    """Tells the schema how BearerTokenAuthentication authenticates (an HTTP bearer scheme)."""

    target_class = BearerTokenAuthentication
    name = "BearerAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A token from /api/tokens/ or `manage.py create_api_token`.",
        }
