"""Member savings: accounts, their append-only ledger and the dated demand-deposit rate.

The ledger has the loan ledger's guarantees (docs/decisions/0014-member-savings.md): the database
refuses UPDATE and DELETE on it (and TRUNCATE, branch_portal.db_roles), the account's cached
balance is checked against the ledger at commit (migration 0002), every entry carries a unique
idempotency key, and no balance is ever negative.
"""

from decimal import Decimal

import pghistory
import pgtrigger
from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from borrowers.models import DATE_BOUNDS, Household, Office, events_by_time
from branch_portal.append_only import AppendOnly
from loans.models import AppendOnlyQuerySet, LoanTransaction
from loans.money import MAX_AMOUNT

# Voluntary savings start at 5,000 ₫ a deposit (the bank's rule for members' savings).
MIN_DEPOSIT = 5_000


# The balance is a cache of the ledger: pghistory does not snapshot it, the ledger is its history.
@pghistory.track(
    pghistory.InsertEvent(),
    pghistory.UpdateEvent(),
    pghistory.DeleteEvent(),
    exclude=["balance"],
    meta=events_by_time("savings_account_event_at"),
)
class SavingsAccount(models.Model):
    """A depositing member household's savings account, opened by its first deposit."""

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        CLOSED = "closed", _("Closed")

    office = models.ForeignKey(Office, on_delete=models.PROTECT, related_name="savings_accounts")
    household = models.OneToOneField(
        Household, on_delete=models.PROTECT, related_name="savings_account"
    )
    opened_on = models.DateField(_("opened on"), validators=DATE_BOUNDS)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.OPEN
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # The ledger cache, maintained by savings.services in the transaction that posts.
    balance = models.BigIntegerField(_("savings balance"), default=0)

    class Meta:
        ordering = ["office", "id"]
        verbose_name = _("savings account")
        verbose_name_plural = _("savings accounts")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(balance__gte=0, balance__lte=MAX_AMOUNT),
                name="savings_balance_in_range",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=["open", "closed"]), name="savings_status_known"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.household_id}: {self.balance}"


class SavingsKind(models.TextChoices):
    DEPOSIT = "deposit", _("Deposit")
    WITHDRAWAL = "withdrawal", _("Withdrawal")
    LOAN_PAYMENT = "loan_payment", _("Paid to a loan")
    INTEREST_CREDIT = "interest_credit", _("Interest credited")


# The sign each kind moves the balance by: a balance as of any date is one SUM of d_balance.
KIND_SIGN = {
    SavingsKind.DEPOSIT: 1,
    SavingsKind.WITHDRAWAL: -1,
    SavingsKind.LOAN_PAYMENT: -1,
    SavingsKind.INTEREST_CREDIT: 1,
}


class SavingsTransaction(AppendOnly, models.Model):
    """One entry of the savings ledger. Append-only: the database refuses UPDATE and DELETE."""

    append_only_message = "The savings ledger is append-only: post another entry instead."

    Kind = SavingsKind

    office = models.ForeignKey(Office, on_delete=models.PROTECT, related_name="+")
    account = models.ForeignKey(
        SavingsAccount, on_delete=models.PROTECT, related_name="transactions"
    )
    kind = models.CharField(_("kind"), max_length=20, choices=SavingsKind.choices)
    value_date = models.DateField(_("value date"))
    amount = models.BigIntegerField(_("amount"))
    d_balance = models.BigIntegerField(default=0)
    # A payment to a loan points at the loan entry it paid: both ledgers, one operation.
    loan_entry = models.OneToOneField(
        LoanTransaction,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="savings_entry",
        verbose_name=_("loan entry"),
    )
    # The member's receipt (01/BL) or the group list's number.
    reference = models.CharField(_("reference"), max_length=100, blank=True)
    idempotency_key = models.CharField(max_length=100, unique=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    created_at = models.DateTimeField(_("posted at"), auto_now_add=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["value_date", "id"]
        verbose_name = _("savings entry")
        verbose_name_plural = _("savings entries")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(amount__gt=0, amount__lte=MAX_AMOUNT),
                name="savings_entry_amount_in_range",
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(kind__in=["deposit", "interest_credit"], d_balance=models.F("amount"))
                    | models.Q(
                        kind__in=["withdrawal", "loan_payment"], d_balance=-models.F("amount")
                    )
                ),
                name="savings_entry_sign_follows_kind",
            ),
            models.CheckConstraint(
                condition=models.Q(kind="loan_payment") | models.Q(loan_entry__isnull=True),
                name="savings_loan_entry_only_for_payments",
            ),
        ]
        indexes = [
            models.Index(fields=["account", "value_date"], name="savings_entry_account_date"),
            models.Index(
                fields=["office", "value_date"],
                include=["account", "kind", "amount", "d_balance"],
                name="savings_entry_office_date",
            ),
        ]
        triggers = [
            pgtrigger.Protect(
                name="savings_ledger_append_only", operation=pgtrigger.Update | pgtrigger.Delete
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount} ({self.value_date:%d/%m/%Y})"


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class DemandDepositRate(models.Model):
    """The demand-deposit rate savings earn from a date on, in % a year (0.10 meaning 0.10 %/yr).

    A row without an office is the default for every office; an office's own row, from its
    date, takes over. The seeded row is a placeholder (`placeholder`): the office sets its rate.
    """

    office = models.ForeignKey(
        Office,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("Empty: the default for every office."),
    )
    effective_from = models.DateField(_("effective from"), validators=DATE_BOUNDS)
    annual_rate = models.DecimalField(
        _("rate, % per year"),
        max_digits=7,
        decimal_places=4,
        validators=[MinValueValidator(Decimal(0)), MaxValueValidator(Decimal(20))],
    )
    placeholder = models.BooleanField(
        _("placeholder"),
        default=False,
        help_text=_("A seeded figure the office has yet to set to the bank's rate."),
    )
    decision = models.CharField(_("decision"), max_length=200, blank=True)

    class Meta:
        ordering = ["office", "-effective_from"]
        verbose_name = _("demand-deposit rate")
        verbose_name_plural = _("demand-deposit rates")
        constraints = [
            models.UniqueConstraint(
                fields=["office", "effective_from"],
                nulls_distinct=False,
                name="one_deposit_rate_per_office_date",
            ),
            models.CheckConstraint(
                condition=models.Q(annual_rate__gte=0, annual_rate__lte=20),
                name="deposit_rate_in_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.effective_from:%d/%m/%Y}: {self.annual_rate}%/yr"
