"""Fees and commissions: the effective-dated rate tables and what was paid.

The bank pays each group's management board a commission and each organisation's commune
chapter an entrustment fee, monthly, out of the interest collected through them
(commune_day.fees computes the month's statement). The rates are the bank's own decisions, not
public: they are data, entered by the office. A rate is never edited: a new rate is a new row
dated from the first day of the month it applies to, so a statement of any past month is
computed with the rates of that month. Rows without an office are the bank-wide defaults
(seeded as placeholders by migration 0003); an office's own rows take their place from their
date on.
"""

import pgtrigger
from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from borrowers.models import DATE_BOUNDS, Chapter, Office, Organisation, SavingsGroup
from branch_portal.append_only import AppendOnly
from loans.models import AppendOnlyQuerySet

from .sessions import TransactionSession

__all__ = ["CommissionRate", "EntrustmentFeeRate", "FeePayment", "FeeTier"]

PERCENT = [MinValueValidator(0), MaxValueValidator(100)]


def _append_only(name: str) -> list:
    """The database refuses a DELETE and an UPDATE that changes a figure. An UPDATE writing the
    row back as it is passes: Django's test runner restores the seeded rates so after a
    transactional test (serialized rollback), with created_at cut to milliseconds by its JSON.
    The application role may not UPDATE these tables at all (branch_portal.db_roles)."""
    return [
        pgtrigger.Protect(
            name=f"{name}_update",
            operation=pgtrigger.Update,
            condition=pgtrigger.AnyChange(exclude_auto=True),
        ),
        pgtrigger.Protect(name=f"{name}_delete", operation=pgtrigger.Delete),
    ]


def _from_month_start(name: str) -> models.CheckConstraint:
    # A rate applies to whole months: a statement is of a month, and a rate changed on the 15th
    # would leave half a month under each with no rule for the split.
    return models.CheckConstraint(condition=Q(effective_from__day=1), name=name)


class DatedRate(AppendOnly, models.Model):
    """What every rate row carries: from when, for which office (none: the bank's default),
    under which decision, who entered it. Refuses update and delete, in code and in the
    database."""

    append_only_message = "A rate is never edited nor deleted: add a new one from a later month."

    office = models.ForeignKey(
        Office,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("office"),
        help_text=_("Empty: the bank-wide default."),
    )
    effective_from = models.DateField(_("effective from"), validators=DATE_BOUNDS)
    decision = models.CharField(_("decision"), max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True
        ordering = ["-effective_from", "id"]


class CommissionRate(DatedRate):
    """The commission to a group's management board: a percent of the interest collected
    through the group in the month."""

    percent = models.DecimalField(
        _("percent of interest collected"), max_digits=5, decimal_places=2, validators=PERCENT
    )

    class Meta(DatedRate.Meta):
        verbose_name = _("commission rate")
        verbose_name_plural = _("commission rates")
        constraints = [
            _from_month_start("commission_from_month_start"),
            models.CheckConstraint(
                condition=Q(percent__gte=0, percent__lte=100), name="commission_percent"
            ),
            models.UniqueConstraint(
                fields=["office", "effective_from"],
                nulls_distinct=False,
                name="one_commission_rate_per_month",
            ),
        ]
        triggers = _append_only("commission_rate")

    def __str__(self) -> str:
        return f"{self.percent} % ({self.effective_from:%m/%Y})"


class EntrustmentFeeRate(DatedRate):
    """The entrustment fee to an organisation's commune chapter: a percent of the interest
    collected through the chapter's groups, for one organisation or (empty) all of them."""

    organisation = models.ForeignKey(
        Organisation,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("organisation"),
        help_text=_("Empty: every organisation."),
    )
    percent = models.DecimalField(
        _("percent of interest collected"), max_digits=5, decimal_places=2, validators=PERCENT
    )

    class Meta(DatedRate.Meta):
        verbose_name = _("entrustment fee rate")
        verbose_name_plural = _("entrustment fee rates")
        constraints = [
            _from_month_start("fee_from_month_start"),
            models.CheckConstraint(
                condition=Q(percent__gte=0, percent__lte=100), name="fee_percent"
            ),
            models.UniqueConstraint(
                fields=["office", "organisation", "effective_from"],
                nulls_distinct=False,
                name="one_fee_rate_per_month",
            ),
        ]
        triggers = _append_only("fee_rate")

    def __str__(self) -> str:
        return f"{self.percent} % ({self.effective_from:%m/%Y})"


class FeeTier(DatedRate):
    """One quality tier of the entrustment fee: a chapter whose overdue ratio is at most
    `max_overdue_ratio` and whose collection rate is at least `min_collection_rate` is paid
    `factor` × the fee. The tiers of one date are one table: a new table is new rows of a later
    date, and a chapter gets the best factor whose conditions it meets (none: 0)."""

    max_overdue_ratio = models.DecimalField(
        _("overdue ratio at most (%)"), max_digits=6, decimal_places=2, validators=PERCENT
    )
    min_collection_rate = models.DecimalField(
        _("collection rate at least (%)"),
        max_digits=6,
        decimal_places=2,
        default=0,
        validators=PERCENT,
    )
    factor = models.DecimalField(
        _("factor"),
        max_digits=4,
        decimal_places=3,
        validators=[MinValueValidator(0), MaxValueValidator(1)],
    )

    class Meta(DatedRate.Meta):
        ordering = ["-effective_from", "-factor", "id"]
        verbose_name = _("fee tier")
        verbose_name_plural = _("fee tiers")
        constraints = [
            _from_month_start("tier_from_month_start"),
            models.CheckConstraint(
                condition=Q(
                    max_overdue_ratio__gte=0,
                    max_overdue_ratio__lte=100,
                    min_collection_rate__gte=0,
                    min_collection_rate__lte=100,
                    factor__gte=0,
                    factor__lte=1,
                ),
                name="tier_bounds",
            ),
            models.UniqueConstraint(
                fields=["office", "effective_from", "max_overdue_ratio", "min_collection_rate"],
                nulls_distinct=False,
                name="one_tier_per_condition",
            ),
        ]
        triggers = _append_only("fee_tier")

    def __str__(self) -> str:
        return f"≤ {self.max_overdue_ratio} %, ≥ {self.min_collection_rate} %: × {self.factor}"


class FeePayment(AppendOnly, models.Model):
    """A commission (to a group) or an entrustment fee (to a chapter) for one month, paid in
    cash at a transaction session. Append-only like the ledger; the key makes a resubmitted
    form pay once."""

    append_only_message = "A fee payment is never edited nor deleted."

    session = models.ForeignKey(
        TransactionSession, on_delete=models.PROTECT, related_name="fee_payments"
    )
    group = models.ForeignKey(
        SavingsGroup,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("group"),
    )
    chapter = models.ForeignKey(
        Chapter,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("chapter"),
    )
    month = models.DateField(_("month paid for"))
    amount = models.BigIntegerField(_("amount (VND)"))
    paid_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    idempotency_key = models.CharField(max_length=100, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["session", "id"]
        verbose_name = _("fee payment")
        verbose_name_plural = _("fee payments")
        constraints = [
            models.CheckConstraint(
                condition=Q(group__isnull=False, chapter__isnull=True)
                | Q(group__isnull=True, chapter__isnull=False),
                name="fee_payment_one_payee",
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="fee_payment_positive"),
            models.CheckConstraint(condition=Q(month__day=1), name="fee_payment_month_start"),
        ]
        indexes = [
            models.Index(fields=["group", "month"], name="fee_payment_group_month"),
            models.Index(fields=["chapter", "month"], name="fee_payment_chapter_month"),
        ]
        triggers = _append_only("fee_payment")

    def __str__(self) -> str:
        return f"{self.month:%m/%Y} {self.amount}"
