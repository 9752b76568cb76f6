from django.contrib import admin

from .models import DemandDepositRate, SavingsAccount, SavingsTransaction


@admin.register(DemandDepositRate)
class DemandDepositRateAdmin(admin.ModelAdmin):
    """The office sets its demand-deposit rate here: a row from a date on, for the office (or,
    without one, the default for every office). The seeded 0.10 %/yr is a placeholder. A rate
    changed for days already credited changes nothing posted: interest credits are entries."""

    list_display = ["effective_from", "office", "annual_rate", "placeholder", "decision"]
    list_filter = ["office", "placeholder"]

    # A new rate is a new dated row: a row once saved is kept as it was (like the fee rates),
    # so the rate a past day's interest used can always be read back.
    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(SavingsAccount)
class SavingsAccountAdmin(ReadOnlyAdmin):
    """The balance is a cache of the savings ledger: read here, posted through the app."""

    list_display = ["id", "household", "office", "opened_on", "status", "balance"]
    list_filter = ["office", "status"]
    search_fields = ["household__full_name", "household__citizen_id"]
    list_select_related = ["household", "office"]


@admin.register(SavingsTransaction)
class SavingsTransactionAdmin(ReadOnlyAdmin):
    """The savings ledger is append-only: the admin only reads it."""

    list_display = ["id", "account", "kind", "value_date", "amount", "reference", "user"]
    list_filter = ["office", "kind"]
    search_fields = ["account__household__full_name", "idempotency_key", "reference"]
    list_select_related = ["account__household", "user"]
    date_hierarchy = "value_date"
