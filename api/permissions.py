"""What a token's scope lets it do: read, collect (read and post receipts), admin."""

from django.utils.translation import gettext as _
from rest_framework import permissions

from .models import ApiToken, Scope


class TokenScope(permissions.BasePermission):
    """A view names the scope it needs (`required_scope`, read by default); a token must include
    it. A request authenticated otherwise (the logged-in session, for the schema and the docs)
    is read-only."""

    message = _("This token's scope does not allow this request.")

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        needed = getattr(view, "required_scope", Scope.READ)
        token = request.auth
        if isinstance(token, ApiToken):
            return token.allows(needed)
        return needed == Scope.READ and request.method in permissions.SAFE_METHODS
