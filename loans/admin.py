from django.contrib import admin

from .models import (
    ClosedMonth,
    FourEyesPolicy,
    Instalment,
    Loan,
    LoanTransaction,
    Programme,
    ProgrammeRule,
)


class RuleInline(admin.TabularInline):
    model = ProgrammeRule
    extra = 0


@admin.register(Programme)
class ProgrammeAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "name_en", "outcome", "instalment_months"]
    inlines = [RuleInline]


@admin.register(ProgrammeRule)
class ProgrammeRuleAdmin(admin.ModelAdmin):
    list_display = [
        "programme",
        "effective_from",
        "monthly_rate",
        "max_amount",
        "max_term_months",
        "applies_to_existing",
    ]
    list_filter = ["programme"]


class InstalmentInline(admin.TabularInline):
    model = Instalment
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Loan)
class LoanAdmin(admin.ModelAdmin):
    """Balances are a cache of the ledger: shown, never edited here (post through the app)."""

    list_display = ["number", "household", "programme", "status", "outstanding", "overdue"]
    list_filter = ["office", "programme", "status"]
    search_fields = ["number", "household__full_name", "household__citizen_id"]
    list_select_related = ["household", "programme"]
    raw_id_fields = ["household", "group", "transferred_from", "approved_by", "created_by"]
    readonly_fields = ["outstanding", "overdue", "frozen", "disbursed", "first_disbursed_on"]
    inlines = [InstalmentInline]


@admin.register(LoanTransaction)
class LoanTransactionAdmin(admin.ModelAdmin):
    """The ledger is append-only: the admin only reads it."""

    list_display = ["id", "loan", "kind", "value_date", "amount", "posted_by", "posted_at"]
    list_filter = ["office", "kind"]
    search_fields = ["loan__number", "idempotency_key"]
    list_select_related = ["loan", "posted_by"]
    date_hierarchy = "value_date"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ClosedMonth)
class ClosedMonthAdmin(admin.ModelAdmin):
    """Read-only: months are closed and reopened on the reports page (reports.month_close),
    which keeps them in order and takes or drops their month-end snapshots."""

    list_display = ["office", "month", "closed_by", "closed_at"]
    list_filter = ["office"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(FourEyesPolicy)
class FourEyesPolicyAdmin(admin.ModelAdmin):
    """Which operations of an office need a second person (maker-checker). A row per office; an
    office without one follows the defaults (loans.approvals.policy_for)."""

    list_display = [
        "office",
        "write_off",
        "freeze",
        "unfreeze",
        "reversal",
        "transfer",
        "extension",
        "month_reopen",
        "citizen_id",
        "backdated",
        "backdated_days",
        "large_disbursement",
        "disbursement_above",
        "checker_role",
    ]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "office",
                    "checker_role",
                    ("write_off", "freeze", "unfreeze", "reversal"),
                    ("transfer", "extension", "month_reopen", "citizen_id"),
                    ("backdated", "backdated_days"),
                    ("large_disbursement", "disbursement_above"),
                ]
            },
        )
    ]

    def has_delete_permission(self, request, obj=None):
        return False
