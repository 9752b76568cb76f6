"""API tokens (docs/decisions/0019-api.md): a user's key for the API, stored as its SHA-256 (the
token itself is shown once, when it is made), with a scope and a revocation."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from borrowers.models import Household, SavingsGroup


class Scope(models.TextChoices):
    READ = "read", _("Read")
    COLLECT = "collect", _("Collect (read, and post what members paid)")
    ADMIN = "admin", _("Admin (everything, the core bank's feeds too)")


# What each scope may do, widest last: a scope includes every scope before it.
SCOPE_ORDER = (Scope.READ, Scope.COLLECT, Scope.ADMIN)


class ApiToken(models.Model):
    """A user's API token. It acts as its user, within the user's offices as they are at each
    request (a membership ended ends the token's reach at once), and no further than its scope."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="api_tokens"
    )
    name = models.CharField(_("name"), max_length=100)
    scope = models.CharField(_("scope"), max_length=10, choices=Scope.choices)
    # The token's first characters, shown in lists so its owner can tell tokens apart.
    prefix = models.CharField(_("prefix"), max_length=16)
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    # A group head's token reaches one group, a borrower's one household: narrower than the
    # user's offices, never wider (the user must still hold the office at each request).
    group = models.ForeignKey(
        SavingsGroup,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("group"),
    )
    household = models.ForeignKey(
        Household,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("household"),
    )
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(scope__in=["read", "collect", "admin"]),
                name="api_token_scope_known",
            ),
            models.CheckConstraint(
                condition=models.Q(group__isnull=True) | models.Q(household__isnull=True),
                name="api_token_one_restriction",
            ),
            models.CheckConstraint(
                condition=models.Q(household__isnull=True) | models.Q(scope="read"),
                name="api_token_household_reads_only",
            ),
            models.CheckConstraint(
                condition=models.Q(group__isnull=True) | ~models.Q(scope="admin"),
                name="api_token_group_not_admin",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name})"

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def allows(self, scope: str) -> bool:
        """Whether the token's scope includes `scope`."""
        return SCOPE_ORDER.index(Scope(self.scope)) >= SCOPE_ORDER.index(Scope(scope))


class GroupHead(models.Model):
    """A group head's login: a user who belongs to no office, so the pages show them nothing,
    and whose API tokens reach their own group only, to read it and to record what the members
    paid into their custody (docs/decisions/0019-api.md). Deactivating the user ends it."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="group_head"
    )
    group = models.ForeignKey(
        SavingsGroup, on_delete=models.PROTECT, related_name="+", verbose_name=_("group")
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["group__code", "user__username"]
        verbose_name = _("group head's login")
        verbose_name_plural = _("group heads' logins")

    def __str__(self) -> str:
        return f"{self.user.get_username()} ({self.group.code})"
