"""Making and revoking API tokens, and the group heads' logins."""

import hashlib
import secrets

from django.contrib.auth import get_user_model, password_validation
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from borrowers.access import Role, access_for
from borrowers.selectors import check_scope

from .models import ApiToken, GroupHead, Scope

TOKEN_PREFIX = "bp_"
NAME_LENGTH = 100


def digest_of(token: str) -> str:
    """What is stored of a token. A token is 256 random bits, so a plain SHA-256 is enough: no
    dictionary or brute force reaches it, and a lookup is one unique-index probe."""
    return hashlib.sha256(token.encode()).hexdigest()


def scopes_allowed(user) -> list[str]:
    """The scopes a user may hold: read for everyone with an office; collect for staff and
    managers; admin for managers and superusers."""
    if user.is_superuser:
        return [s.value for s in Scope]
    if head_of(user) is not None:
        return [Scope.READ.value, Scope.COLLECT.value]
    roles = access_for(user).roles_held
    allowed = [Scope.READ.value] if roles else []
    if roles & {Role.STAFF, Role.MANAGER}:
        allowed.append(Scope.COLLECT.value)
    if Role.MANAGER in roles:
        allowed.append(Scope.ADMIN.value)
    return allowed


def may_manage_tokens_of(actor, user) -> bool:
    return actor.pk == user.pk or actor.is_superuser


@transaction.atomic
def token_create(
    *, user, name: str, scope: str, actor, group=None, household=None
) -> tuple[ApiToken, str]:
    """A new token for `user`, made by `actor` (the user, or a superuser): the row and the token
    itself, which is not stored and cannot be shown again. With `group`, it reaches that group
    only (the group head's phone: read or collect); with `household`, that household only (the
    borrower's statement: read)."""
    if not may_manage_tokens_of(actor, user):
        raise PermissionDenied(_("Only the user or an administrator makes the user's tokens."))
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": _("Give the token a name (what uses it).")})
    if len(name) > NAME_LENGTH or any(ord(c) < 32 or 127 <= ord(c) < 160 for c in name):
        raise ValidationError(
            {"name": _("A name has at most %(n)s characters, without control characters.")
             % {"n": NAME_LENGTH}}
        )  # fmt: skip
    if scope not in Scope.values:
        raise ValidationError({"scope": _("Choose read, collect or admin.")})
    if scope not in scopes_allowed(user):
        raise ValidationError(
            {"scope": _("%(u)s's role does not allow the %(s)s scope.")
             % {"u": user.get_username(), "s": scope}}
        )  # fmt: skip
    head = head_of(user)
    if head is not None:
        if household is not None or (group is not None and group.pk != head.group_id):
            raise ValidationError({"group": _("A group head's tokens reach their own group only.")})
        group = head.group
    else:
        _check_restriction(user, scope, group, household)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken.objects.create(
        user=user,
        group=group,
        household=household,
        name=name,
        scope=scope,
        prefix=token[:10],
        digest=digest_of(token),
        created_by=actor,
    )
    return row, token


def _check_restriction(user, scope: str, group, household) -> None:
    if group is not None and household is not None:
        raise ValidationError({"group": _("A token reaches one group or one household, not both.")})
    target = group if group is not None else household
    if target is None:
        return
    if target.office_id not in access_for(user).office_ids and not user.is_superuser:
        raise ValidationError(
            {"group" if group is not None else "household":
             _("%(u)s does not work in the office of %(t)s.")
             % {"u": user.get_username(), "t": str(target)[:60]}}
        )  # fmt: skip
    if group is not None and scope == Scope.ADMIN:
        raise ValidationError({"scope": _("A group's token reads or collects; it is not admin.")})
    if household is not None and scope != Scope.READ:
        raise ValidationError({"scope": _("A household's token only reads.")})


@transaction.atomic
def token_revoke(*, token: ApiToken, actor) -> ApiToken:
    """Revoke a token: refused from its next request on. Revoking twice changes nothing."""
    token = ApiToken.objects.select_for_update().get(pk=token.pk)
    if not may_manage_tokens_of(actor, token.user):
        raise PermissionDenied(_("Only the token's user or an administrator revokes it."))
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.revoked_by = actor
        token.save(update_fields=["revoked_at", "revoked_by"])
    return token


def head_of(user) -> GroupHead | None:
    """The user's group head login, if they are a group head."""
    if not getattr(user, "is_authenticated", False):
        return None
    return GroupHead.objects.select_related("group__office").filter(user=user).first()


@transaction.atomic
def group_head_create(*, group, username: str, full_name: str, password: str, actor) -> GroupHead:
    """A login for the group's head, made by staff or a manager of the group's office: a user
    with no office membership, whose tokens reach that group only."""
    check_scope(actor, group.office, write=True)
    username = (username or "").strip()
    users = get_user_model()
    errors: dict[str, str] = {}
    if (
        not username
        or len(username) > 150
        or not all(c.isalnum() or c in "@.+-_" for c in username)
    ):
        errors["username"] = _("Letters, digits and @ . + - _ only, at most 150 characters.")
    elif users.objects.filter(username__iexact=username).exists():
        errors["username"] = _("The user name %(u)s is taken.") % {"u": username}
    full_name = (full_name or "").strip()
    if not full_name or len(full_name) > 150 or any(ord(c) < 32 for c in full_name):
        errors["full_name"] = _("Give the group head's name (at most 150 characters).")
    candidate = users(username=username, first_name=full_name[:150])
    try:
        password_validation.validate_password(password, candidate)
    except ValidationError as exc:
        errors["password"] = " ".join(exc.messages)
    if errors:
        raise ValidationError(errors)
    try:
        with transaction.atomic():
            user = users.objects.create_user(
                username=username, password=password, first_name=full_name
            )
    except IntegrityError:  # taken between the check and the insert
        raise ValidationError(
            {"username": _("The user name %(u)s is taken.") % {"u": username}}
        ) from None
    return GroupHead.objects.create(user=user, group=group, created_by=actor)


@transaction.atomic
def group_head_deactivate(*, head: GroupHead, actor) -> GroupHead:
    """End a group head's login (a new head took over): the user can no longer log in and their
    tokens are refused from the next request on."""
    check_scope(actor, head.group.office, write=True)
    user = head.user
    if user.is_active:
        user.is_active = False
        user.save(update_fields=["is_active"])
    ApiToken.objects.filter(user=user, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoked_by=actor
    )
    return head
