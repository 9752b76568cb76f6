"""Credit programmes and their dated rules, loans, repayment schedules and the ledger."""

import datetime as dt
from decimal import Decimal

import pghistory
import pgtrigger
from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from borrowers.models import (
    DATE_BOUNDS,
    Category,
    Household,
    Office,
    SavingsGroup,
    events_by_time,
)
from branch_portal.append_only import AppendOnly

from . import ledger
from .kinds import LoanStatus, TransactionKind
from .money import MAX_AMOUNT

# The longest term and extension a loan may have: fifty years, longer than any programme's.
MAX_TERM_MONTHS = 600
# The counts a job-creation or clean-water cap is multiplied by: a household business employs at
# most thousands, a household builds a few works. Beyond these a typo multiplies the cap.
MAX_WORKERS_EMPLOYED = 10_000
MAX_WORKS_BUILT = 100
RATE_BOUNDS = [MinValueValidator(Decimal(0)), MaxValueValidator(Decimal(10))]


def _amount_range(field: str, name: str, low: int = 1) -> models.CheckConstraint:
    return models.CheckConstraint(
        condition=models.Q(**{f"{field}__gte": low, f"{field}__lte": MAX_AMOUNT}), name=name
    )


class Programme(models.Model):
    """A credit programme. Its terms live in dated ProgrammeRule rows, not in code."""

    class Outcome(models.TextChoices):
        HOUSEHOLDS = "households", _("Households")
        WORKERS = "workers", _("Workers employed")
        WORKS = "works", _("Works built")
        STUDENTS = "students", _("Students")
        ABROAD = "abroad", _("Workers sent abroad")
        HOUSES = "houses", _("Houses")

    code = models.CharField(_("code"), max_length=20, unique=True)
    name = models.CharField(_("name"), max_length=200)
    name_en = models.CharField(_("English name"), max_length=200)
    outcome = models.CharField(_("outcome counted"), max_length=20, choices=Outcome.choices)
    # Principal falls due in equal instalments this many months apart.
    instalment_months = models.PositiveSmallIntegerField(
        _("months between instalments"),
        default=6,
        validators=[MinValueValidator(1), MaxValueValidator(120)],
    )
    sort_order = models.PositiveSmallIntegerField(default=0)

    class FundSource(models.TextChoices):
        CENTRAL = "central", _("Central capital")
        LOCAL = "local", _("Local budget entrusted")

    # Where the programme's money comes from, for the daily journal's breakdown: central capital
    # unless the office sets a programme its province funds (a plausible default, the office's
    # to set).
    fund_source = models.CharField(
        _("fund source"),
        max_length=10,
        choices=FundSource.choices,
        default=FundSource.CENTRAL,
        db_default=FundSource.CENTRAL,
    )

    class Meta:
        ordering = ["sort_order", "code"]
        verbose_name = _("credit programme")
        verbose_name_plural = _("credit programmes")

    def __str__(self) -> str:
        return f"{self.code} – {self.name}"


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class ProgrammeRule(models.Model):
    """The terms of a programme from a date on, by government decision.

    A rule that applies_to_existing changes the rate of loans approved before it too (the
    government sometimes lowers rates retroactively); otherwise it applies to new loans only.
    """

    programme = models.ForeignKey(Programme, on_delete=models.PROTECT, related_name="rules")
    effective_from = models.DateField(_("effective from"), validators=DATE_BOUNDS)
    # Policy rates are a fraction of a per cent a month; 10 % a month is far past any decision
    # and catches a rate typed per year (6.6 for 0.55) or per unit (0.0055).
    monthly_rate = models.DecimalField(
        _("rate, % per month"), max_digits=7, decimal_places=4, validators=RATE_BOUNDS
    )
    preferential_rate = models.DecimalField(
        _("preferential rate, % per month"),
        max_digits=7,
        decimal_places=4,
        null=True,
        blank=True,
        validators=RATE_BOUNDS,
        help_text=_("For borrowers with a disability or of an ethnic minority, where it applies."),
    )
    overdue_multiplier = models.DecimalField(
        _("overdue rate multiplier"),
        max_digits=5,
        decimal_places=2,
        default=Decimal("1.30"),
        validators=[MinValueValidator(Decimal(1)), MaxValueValidator(Decimal(3))],
    )
    max_amount = models.BigIntegerField(
        _("maximum amount (VND)"), validators=[MinValueValidator(1), MaxValueValidator(MAX_AMOUNT)]
    )
    max_term_months = models.PositiveSmallIntegerField(
        _("maximum term (months)"),
        validators=[MinValueValidator(1), MaxValueValidator(MAX_TERM_MONTHS)],
    )
    eligible_categories = ArrayField(
        models.CharField(max_length=20, choices=Category.choices),
        verbose_name=_("eligible categories"),
    )
    applies_to_existing = models.BooleanField(_("applies to existing loans"), default=False)
    decision = models.CharField(_("decision"), max_length=200, blank=True)

    class Meta:
        ordering = ["programme", "-effective_from"]
        verbose_name = _("programme rule")
        verbose_name_plural = _("programme rules")
        constraints = [
            models.UniqueConstraint(
                fields=["programme", "effective_from"], name="one_rule_per_programme_date"
            ),
            models.CheckConstraint(condition=models.Q(max_amount__gt=0), name="rule_cap_positive"),
            _amount_range("max_amount", "rule_cap_in_range"),
            models.CheckConstraint(
                condition=models.Q(max_term_months__gte=1, max_term_months__lte=MAX_TERM_MONTHS),
                name="rule_term_in_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.programme.code} {self.effective_from:%d/%m/%Y}: {self.monthly_rate}%"


# What a posting updates on the loan row: the cached balances and what follows from them.
CACHED_FIELDS = ("outstanding", "overdue", "frozen", "disbursed", "first_disbursed_on", "status")


# The balance fields of Loan are a cache of the ledger: pghistory does not snapshot them, the
# ledger is their history.
@pghistory.track(
    pghistory.InsertEvent(),
    pghistory.UpdateEvent(),
    pghistory.DeleteEvent(),
    exclude=["outstanding", "overdue", "frozen", "disbursed", "first_disbursed_on"],
    meta=events_by_time("loan_event_at"),
)
class Loan(models.Model):
    Status = LoanStatus

    office = models.ForeignKey(Office, on_delete=models.PROTECT, related_name="loans")
    number = models.CharField(_("loan number"), max_length=40)
    household = models.ForeignKey(Household, on_delete=models.PROTECT, related_name="loans")
    programme = models.ForeignKey(Programme, on_delete=models.PROTECT, related_name="loans")
    group = models.ForeignKey(
        SavingsGroup,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="loans",
        verbose_name=_("group"),
    )
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.APPLIED
    )
    approved_amount = models.BigIntegerField(
        _("amount (VND)"), validators=[MinValueValidator(1), MaxValueValidator(MAX_AMOUNT)]
    )
    term_months = models.PositiveSmallIntegerField(
        _("term (months)"), validators=[MinValueValidator(1), MaxValueValidator(MAX_TERM_MONTHS)]
    )
    preferential = models.BooleanField(_("preferential rate"), default=False)
    applied_on = models.DateField(_("applied on"))
    approved_on = models.DateField(_("approved on"), null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    purpose = models.CharField(_("purpose"), max_length=500, blank=True)
    workers_employed = models.PositiveIntegerField(
        _("workers employed"), default=0, validators=[MaxValueValidator(MAX_WORKERS_EMPLOYED)]
    )
    works_built = models.PositiveIntegerField(
        _("works built"), default=0, validators=[MaxValueValidator(MAX_WORKS_BUILT)]
    )
    transferred_from = models.OneToOneField(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="transferred_to"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # The application form's key: a double-submitted application creates one loan.
    application_key = models.CharField(max_length=100, unique=True, null=True, blank=True)

    # The ledger cache, maintained by loans.services in the transaction that posts.
    outstanding = models.BigIntegerField(_("outstanding"), default=0)
    overdue = models.BigIntegerField(_("overdue"), default=0)
    frozen = models.BigIntegerField(_("frozen"), default=0)
    disbursed = models.BigIntegerField(_("disbursed"), default=0)
    first_disbursed_on = models.DateField(_("first disbursed on"), null=True, blank=True)

    class Meta:
        ordering = ["-applied_on", "-id"]
        verbose_name = _("loan")
        verbose_name_plural = _("loans")
        constraints = [
            models.UniqueConstraint(fields=["office", "number"], name="loan_number_per_office"),
            models.CheckConstraint(
                condition=models.Q(approved_amount__gt=0), name="loan_amount_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(
                    overdue__gte=0,
                    frozen__gte=0,
                    outstanding__gte=models.F("overdue") + models.F("frozen"),
                    disbursed__lte=models.F("approved_amount"),
                ),
                name="loan_balances_consistent",
            ),
            # Every amount within the range all amounts share (loans.money): sums stay in bigint.
            _amount_range("approved_amount", "loan_amount_in_range"),
            _amount_range("outstanding", "loan_outstanding_in_range", low=0),
            _amount_range("disbursed", "loan_disbursed_in_range", low=0),
            models.CheckConstraint(
                condition=models.Q(term_months__gte=1, term_months__lte=MAX_TERM_MONTHS),
                name="loan_term_in_range",
            ),
            models.CheckConstraint(
                condition=models.Q(
                    workers_employed__lte=MAX_WORKERS_EMPLOYED, works_built__lte=MAX_WORKS_BUILT
                ),
                name="loan_outcome_counts_in_range",
            ),
        ]
        # The loan list walks these in its order (newest first) for each common filter.
        indexes = [
            models.Index(fields=["office", "-applied_on", "-id"], name="loan_office_recent"),
            models.Index(
                fields=["office", "status", "-applied_on", "-id"], name="loan_office_status"
            ),
            models.Index(
                fields=["office", "programme", "-applied_on", "-id"], name="loan_office_programme"
            ),
            models.Index(
                fields=["office", "-applied_on", "-id"],
                condition=models.Q(overdue__gt=0),
                name="loan_office_overdue",
            ),
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def in_term(self) -> int:
        return ledger.in_term(self.outstanding, self.overdue, self.frozen)

    @property
    def maturity_date(self) -> dt.date | None:
        if self.first_disbursed_on is None:
            return None
        return add_months(self.first_disbursed_on, self.term_months)


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day `months` later, clamped to the month's end (31 Jan + 1 month = 28/29 Feb)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    last = (dt.date(year + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1)).day
    return dt.date(year, month, min(day.day, last))


class Instalment(models.Model):
    """One principal instalment of a loan's repayment schedule."""

    loan = models.ForeignKey(Loan, on_delete=models.CASCADE, related_name="instalments")
    seq = models.PositiveSmallIntegerField()
    due_date = models.DateField(_("due date"))
    principal = models.BigIntegerField(_("principal"))
    # Set by an extension entry (and cleared by its reversal): the instalment now falls due here.
    extended_to = models.DateField(_("extended to"), null=True, blank=True)

    class Meta:
        ordering = ["loan", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["loan", "seq"], name="instalment_seq_per_loan"),
            _amount_range("principal", "instalment_principal_in_range", low=0),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.effective_due_date:%d/%m/%Y}: {self.principal}"

    @property
    def effective_due_date(self) -> dt.date:
        return self.extended_to or self.due_date


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise TypeError("The ledger is append-only: post a reversal instead of updating.")

    def delete(self):
        raise TypeError("The ledger is append-only: post a reversal instead of deleting.")


class ImportBatch(models.Model):
    """One run of the portfolio import (seeding.importer): what it read, who ran it, when, and how
    many ledger entries it wrote; each of those entries points at it. Written once, with the
    entries, in the import's transaction; the application may only read and add batches.

    `files` lists the CSV file names read (in the format's order), or the workbook's name and
    its sheets, or ["demo"] for tables built in memory; `checksum` is the SHA-256 of the input's
    bytes in that order (of the tables' canonical JSON for tables built in memory), so the same
    files imported again give the same checksum.
    """

    office = models.ForeignKey(Office, on_delete=models.PROTECT, related_name="+")
    files = models.JSONField(_("files"), default=list)
    checksum = models.CharField(_("checksum"), max_length=64)
    run_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    started_at = models.DateTimeField(_("started at"))
    entries = models.PositiveIntegerField(_("entries"))

    class Meta:
        ordering = ["-started_at", "-id"]
        verbose_name = _("import batch")
        verbose_name_plural = _("import batches")

    def __str__(self) -> str:
        return f"#{self.pk} {self.office_id} {self.started_at:%d/%m/%Y %H:%M}"


class LoanTransaction(AppendOnly, models.Model):
    """One entry of the ledger. Append-only: the database refuses UPDATE and DELETE.

    Each entry carries its signed effect on the loan's principal balances (d_outstanding,
    d_overdue, d_frozen), so a balance as of any date is one SUM over the entries up to it.
    """

    append_only_message = (
        "The ledger is append-only: post a reversal instead of updating or deleting."
    )

    office = models.ForeignKey(Office, on_delete=models.PROTECT, related_name="+")
    loan = models.ForeignKey(Loan, on_delete=models.PROTECT, related_name="transactions")
    kind = models.CharField(_("kind"), max_length=30, choices=TransactionKind.choices)
    # The column reports count the entry in: its own kind, or for a reversal the kind it cancels.
    counted_kind = models.CharField(max_length=30, choices=TransactionKind.choices)
    value_date = models.DateField(_("value date"))
    amount = models.BigIntegerField(_("amount (VND)"))
    d_outstanding = models.BigIntegerField(default=0)
    d_overdue = models.BigIntegerField(default=0)
    d_frozen = models.BigIntegerField(default=0)
    reverses = models.OneToOneField(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reversed_by",
        verbose_name=_("reverses"),
    )
    instalment = models.ForeignKey(
        Instalment, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    new_due_date = models.DateField(_("new due date"), null=True, blank=True)
    counterparty_office = models.ForeignKey(
        Office, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    note = models.CharField(_("note"), max_length=500, blank=True)
    reference = models.CharField(_("reference"), max_length=100, blank=True)
    idempotency_key = models.CharField(max_length=100, unique=True)
    posted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    posted_at = models.DateTimeField(_("posted at"), auto_now_add=True)
    # The second person who approved the operation (maker-checker, ApprovalRequest): the entry
    # carries both names from its insert; empty when no approval was needed.
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("approved by"),
    )
    # The import that wrote the entry (set at insert, like every column); empty when posted
    # through the services.
    import_batch = models.ForeignKey(
        ImportBatch, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["value_date", "id"]
        verbose_name = _("ledger entry")
        verbose_name_plural = _("ledger entries")
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="entry_amount_positive"),
            # Nothing beyond the shared range is stored, whatever wrote it: one amount near 2^63
            # made every sum over the office's entries overflow.
            _amount_range("amount", "entry_amount_in_range"),
            models.CheckConstraint(
                condition=models.Q(
                    d_outstanding__gte=-MAX_AMOUNT,
                    d_outstanding__lte=MAX_AMOUNT,
                    d_overdue__gte=-MAX_AMOUNT,
                    d_overdue__lte=MAX_AMOUNT,
                    d_frozen__gte=-MAX_AMOUNT,
                    d_frozen__lte=MAX_AMOUNT,
                ),
                name="entry_effects_in_range",
            ),
            models.CheckConstraint(
                condition=models.Q(kind="reversal", reverses__isnull=False)
                | (~models.Q(kind="reversal") & models.Q(reverses__isnull=True)),
                name="reversal_points_at_entry",
            ),
        ]
        indexes = [
            models.Index(fields=["loan", "value_date"], name="entry_loan_date"),
            # A report reads a period's entries of an office from this index alone (an
            # index-only scan): fetching each from the table cost 0.5 s for a month of a
            # million-loan office, whose entries lie all over the table.
            models.Index(
                fields=["office", "value_date"],
                include=[
                    "id",
                    "loan",
                    "kind",
                    "counted_kind",
                    "amount",
                    "d_outstanding",
                    "d_overdue",
                    "d_frozen",
                ],
                name="entry_office_date",
            ),
            # The office log (reports.audit) reads what was entered in a range of days, newest
            # first, a page at a time: without it a week of a million-loan office is a scan of
            # the office's 15 M entries. It costs every insert one more B-tree entry.
            models.Index(fields=["office", "posted_at"], name="entry_office_posted"),
        ]
        triggers = [
            pgtrigger.Protect(
                name="ledger_append_only", operation=pgtrigger.Update | pgtrigger.Delete
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount} ({self.value_date:%d/%m/%Y})"

    @property
    def is_companion(self) -> bool:
        """Posted beside another entry of its operation, and reversed only with it."""
        return ledger.is_companion(self.kind, self.idempotency_key)


@pghistory.track(
    pghistory.InsertEvent(), pghistory.DeleteEvent(), meta=events_by_time("closed_month_event_at")
)
class ClosedMonth(models.Model):
    """A month an office's manager has closed: no posting may carry a value date inside it."""

    office = models.ForeignKey(Office, on_delete=models.PROTECT, related_name="closed_months")
    month = models.DateField(_("month"), help_text=_("The first day of the month."))
    closed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    closed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-month"]
        constraints = [models.UniqueConstraint(fields=["office", "month"], name="close_month_once")]

    def __str__(self) -> str:
        return f"{self.office_id} {self.month:%m/%Y}"


class EndOfDay(models.Model):
    """One office's day closed by the end-of-day run (loans.services.end_of_day).

    The run for day D posts, dated D, the transfer to overdue of every instalment due before D
    that is neither paid nor extended (an instalment due on D is overdue from D + 1), then the
    office's business date becomes D + 1, in one transaction: a day is run wholly or not at all,
    and once. `run_by` is empty for the scheduler's run. A month closes only when each of its days
    from the office's first business date on has its row (docs/decisions/0011-end-of-day.md).
    """

    office = models.ForeignKey(Office, on_delete=models.PROTECT, related_name="end_of_days")
    day = models.DateField(_("day"))
    run_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True
    )
    started_at = models.DateTimeField(_("started at"))
    finished_at = models.DateTimeField(_("finished at"))
    entries_posted = models.PositiveIntegerField(_("entries posted"))
    # The principal those entries moved to overdue, in VND.
    amount_posted = models.BigIntegerField(_("amount posted"))

    class Meta:
        ordering = ["-day"]
        verbose_name = _("end of day")
        verbose_name_plural = _("ends of day")
        constraints = [models.UniqueConstraint(fields=["office", "day"], name="end_of_day_once")]

    def __str__(self) -> str:
        return f"{self.office_id} {self.day:%d/%m/%Y}"


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent())
class ApprovalRequest(models.Model):
    """An operation a user submitted that the office's four-eyes policy holds for a second
    person (maker-checker): its validated payload waits here and nothing posts until a checker
    approves it; approving validates it again against the book and posts it through the same
    service, the entry carrying both names. Rejected (with a reason), withdrawn by its maker, or
    approved, it stays as history.

    The database, not only the code, refuses a checker who is the maker, and a second pending
    request for the same loan (or household, or month) and operation.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    office = models.ForeignKey(Office, on_delete=models.PROTECT, related_name="+")
    # The operation's code (a loan operation's slug, "reversal", "citizen_id", "month_reopen").
    operation = models.CharField(_("operation"), max_length=30)
    # What it applies to: a loan, else a household (a citizen-ID change), else the office (a month
    # reopen, whose month is in the payload and in `subject`).
    loan = models.ForeignKey(
        Loan, on_delete=models.PROTECT, null=True, blank=True, related_name="approval_requests"
    )
    household = models.ForeignKey(
        Household,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="approval_requests",
    )
    # The one-per-pending key: "loan:<id>", "household:<id>" or "month:<YYYY-MM>".
    subject = models.CharField(max_length=40)
    # The validated form data, as JSON (dates as ISO strings, amounts as integers).
    payload = models.JSONField(_("payload"), default=dict)
    # The amount applied for, when the operation has one; a checker may approve less.
    amount = models.BigIntegerField(_("amount applied for"), null=True, blank=True)
    approved_amount = models.BigIntegerField(_("amount approved"), null=True, blank=True)
    # Why the policy holds it ("write-off", "dated 40 days before the business date", ...).
    held_because = models.CharField(_("held because"), max_length=200, blank=True)
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.PENDING
    )
    maker = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        db_column="maker",
        verbose_name=_("maker"),
    )
    made_at = models.DateTimeField(_("submitted at"), auto_now_add=True)
    checker = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_column="checker",
        verbose_name=_("checker"),
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    reason = models.CharField(_("reason"), max_length=500, blank=True)
    # The entry the approval posted (the first, when it posted several).
    entry = models.ForeignKey(
        LoanTransaction, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-made_at", "-id"]
        verbose_name = _("approval request")
        verbose_name_plural = _("approval requests")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(checker__isnull=True) | ~models.Q(checker=models.F("maker")),
                name="checker_is_not_maker",
            ),
            models.UniqueConstraint(
                fields=["office", "subject", "operation"],
                condition=models.Q(status="pending"),
                name="one_pending_request",
            ),
            models.CheckConstraint(
                condition=models.Q(status="pending")
                | models.Q(checker__isnull=False)
                | models.Q(status="withdrawn"),
                name="decided_request_has_checker",
            ),
            models.CheckConstraint(
                condition=models.Q(approved_amount__isnull=True)
                | models.Q(
                    amount__isnull=False,
                    approved_amount__gt=0,
                    approved_amount__lte=models.F("amount"),
                ),
                name="approved_amount_at_most_applied",
            ),
        ]
        triggers = [pgtrigger.Protect(name="request_kept", operation=pgtrigger.Delete)]
        indexes = [
            models.Index(
                fields=["office", "made_at"],
                condition=models.Q(status="pending"),
                name="pending_requests",
            )
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.operation} {self.subject} ({self.status})"


# The most days back an entry may be dated before the policy holds it: a year.
MAX_BACKDATED_DAYS = 366


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent())
class FourEyesPolicy(models.Model):
    """Which operations of an office need a second person (maker-checker, ApprovalRequest), and
    which role that person holds. One row per office, made with these defaults when missing
    (loans.approvals.policy_for); an admin edits it. loans.approvals.held_because reads it."""

    office = models.OneToOneField(Office, on_delete=models.PROTECT, related_name="four_eyes")
    write_off = models.BooleanField(_("write-off"), default=True)
    freeze = models.BooleanField(_("freeze"), default=True)
    unfreeze = models.BooleanField(_("unfreeze"), default=True)
    reversal = models.BooleanField(_("reversal"), default=True)
    transfer = models.BooleanField(_("transfer to another office"), default=True)
    extension = models.BooleanField(_("extension"), default=True)
    month_reopen = models.BooleanField(_("month reopen"), default=True)
    citizen_id = models.BooleanField(_("citizen-ID change"), default=True)
    backdated = models.BooleanField(_("back-dated entries"), default=True)
    backdated_days = models.PositiveSmallIntegerField(
        _("back-dated by more than (days)"),
        default=7,
        validators=[MinValueValidator(0), MaxValueValidator(MAX_BACKDATED_DAYS)],
        help_text=_("An entry dated more than this many days before the business date is held."),
    )
    large_disbursement = models.BooleanField(_("large disbursements"), default=True)
    disbursement_above = models.BigIntegerField(
        _("disbursement above (VND)"),
        default=100_000_000,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_AMOUNT)],
        help_text=_("A disbursement above this amount is held."),
    )
    checker_role = models.CharField(
        _("checker's role"),
        max_length=20,
        choices=[("manager", _("Manager")), ("staff", _("Staff or manager"))],
        default="manager",
        help_text=_("Who may approve: never the maker, never an auditor."),
    )

    class Meta:
        verbose_name = _("four-eyes policy")
        verbose_name_plural = _("four-eyes policies")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(backdated_days__gte=0, backdated_days__lte=MAX_BACKDATED_DAYS),
                name="policy_backdated_days_in_range",
            ),
            _amount_range("disbursement_above", "policy_disbursement_in_range"),
            models.CheckConstraint(
                condition=models.Q(checker_role__in=["manager", "staff"]),
                name="policy_checker_role_known",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.office_id}"
