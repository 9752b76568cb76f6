"""What a user may see and do: their offices and their role in each, read in one query.

A request reads them once: AccessMiddleware resolves them for request.user and sets
request.access; the scoped getters of borrowers.selectors, loans and reports, called with
request.user, find them there. A user with no request around it (a service called by a command
or a Celery task, a test) is read afresh at every call, so a membership granted between two
calls counts at the second one.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

from branch_portal.roles import MANAGE_ROLES, WRITE_ROLES, Role

from .models import Office, OfficeMembership

# Where the middleware leaves a request user's Access (the user is one object per request).
_ON_USER = "_portal_access"


@dataclass(frozen=True)
class Access:
    roles: dict[int, str] = field(default_factory=dict)  # office id -> role
    is_superuser: bool = False

    @property
    def office_ids(self) -> tuple[int, ...]:
        """The offices the user is a member of (a superuser's are all of them: see offices())."""
        return tuple(self.roles)

    @property
    def roles_held(self) -> frozenset[str]:
        """Every role the user holds in some office; superusers act as managers everywhere."""
        held = frozenset(self.roles.values())
        return (held | {Role.MANAGER}) if self.is_superuser else held

    def role_in(self, office: Office) -> str | None:
        """The user's role in the office (superusers act as managers everywhere)."""
        if self.is_superuser:
            return Role.MANAGER
        return self.roles.get(office.pk)

    def can_write(self, office: Office) -> bool:
        return self.role_in(office) in WRITE_ROLES

    def can_manage(self, office: Office) -> bool:
        return self.role_in(office) in MANAGE_ROLES

    def offices(self) -> QuerySet[Office]:
        # A superuser's are read when the queryset is, so an office created since counts.
        if self.is_superuser:
            return Office.objects.all()
        return Office.objects.filter(id__in=self.office_ids)


def resolve(user: User | AnonymousUser) -> Access:
    """The user's Access from the database: one query of their memberships."""
    if not user.is_authenticated:
        return Access()
    rows = OfficeMembership.objects.filter(user=user).order_by("office_id")
    return Access(roles=dict(rows.values_list("office_id", "role")), is_superuser=user.is_superuser)


def access_for(user: User | AnonymousUser) -> Access:
    """request.user's Access as the middleware resolved it; any other user's, read now."""
    cached: Access | None = getattr(user, _ON_USER, None)
    return cached if cached is not None else resolve(user)


def attach(user: User, access: Access | None = None) -> Access:
    """Resolve a user's Access once for a request the middleware did not see authenticated
    (an API call, authenticated by its token inside the view) and keep it on the user; or keep
    the one given (a group head's, which no membership holds)."""
    access = access if access is not None else resolve(user)
    setattr(user, _ON_USER, access)
    return access


class PortalRequest(HttpRequest):
    """The request a logged-in view receives, with what AccessMiddleware sets (for annotations:
    HttpRequest's own user is a User or an AnonymousUser)."""

    access: Access
    user: User


class AccessMiddleware:
    """Sets request.access, and keeps it on request.user for the getters called with the user."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        access = resolve(request.user)
        if request.user.is_authenticated:
            setattr(request.user, _ON_USER, access)
        request.access = access  # type: ignore[attr-defined]
        return self.get_response(request)
