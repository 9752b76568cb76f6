"""The roles a user holds in an office, and what each may do."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    STAFF = "staff", _("Staff")
    MANAGER = "manager", _("Manager")
    AUDITOR = "auditor", _("Auditor")


# Roles that may post to the ledger or change records.
WRITE_ROLES = frozenset({Role.STAFF, Role.MANAGER})
# Roles that may approve loans, hold the business date and close months.
MANAGE_ROLES = frozenset({Role.MANAGER})
# Not a membership's role: what a group head's API token acts as in its group's office, for that
# request only (api.authentication). It reads its group and holds receipts; it writes nothing.
GROUP_HEAD = "group_head"
