"""Transaction sessions at the commune points, their team and what they post."""

import pghistory
from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from borrowers.models import Commune, Office, SavingsGroup

__all__ = ["SheetPosting", "SheetPrintRun", "TransactionSession"]


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class TransactionSession(models.Model):
    """One commune point's transaction day: its team of three, the groups it serves, what the
    teller counted when it closed and the controller's countersignature.

    The leader opens it; a session opened from a file (post_collection_sheet) has only its
    leader until the controller and teller are named, which closing requires.

    Open, it takes postings; closing (the cash counted against what the postings say, any
    difference explained) stops them, and the controller's countersignature closes it."""

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        CLOSING = "closing", _("Awaiting countersignature")
        CLOSED = "closed", _("Closed")

    office = models.ForeignKey(
        Office, on_delete=models.PROTECT, related_name="transaction_sessions"
    )
    commune = models.ForeignKey(
        Commune, on_delete=models.PROTECT, related_name="transaction_sessions"
    )
    date = models.DateField(_("date"))
    leader = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("leader"),
    )
    controller = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("controller"),
    )
    teller = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("teller"),
    )
    groups = models.ManyToManyField(
        SavingsGroup, related_name="transaction_sessions", verbose_name=_("groups")
    )
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.OPEN
    )
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    opened_at = models.DateTimeField(auto_now_add=True)
    # Closing: the teller's count against the postings' cash, and why they differ.
    cash_expected = models.BigIntegerField(_("cash the postings say"), null=True, blank=True)
    cash_counted = models.BigIntegerField(_("cash counted"), null=True, blank=True)
    difference_explanation = models.TextField(_("explanation of the difference"), blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    countersigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    countersigned_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-date", "commune__name"]
        verbose_name = _("transaction session")
        verbose_name_plural = _("transaction sessions")
        constraints = [
            models.UniqueConstraint(fields=["commune", "date"], name="one_session_per_point_day"),
            # A NULL comparison is unknown, which a CHECK passes: a team named so far is
            # distinct, and closing (below) needs all three.
            models.CheckConstraint(
                condition=~Q(leader=F("controller"))
                & ~Q(leader=F("teller"))
                & ~Q(controller=F("teller")),
                name="session_team_of_three",
            ),
            models.CheckConstraint(
                condition=Q(status="open")
                | Q(
                    controller__isnull=False,
                    teller__isnull=False,
                    cash_expected__isnull=False,
                    cash_counted__isnull=False,
                    closed_by__isnull=False,
                    closed_at__isnull=False,
                ),
                name="session_closing_counted",
            ),
            models.CheckConstraint(
                condition=~Q(status="closed")
                | Q(countersigned_by__isnull=False, countersigned_at__isnull=False),
                name="session_closed_countersigned",
            ),
            models.CheckConstraint(
                condition=Q(countersigned_by__isnull=True) | ~Q(countersigned_by=F("closed_by")),
                name="session_countersigned_by_a_second_person",
            ),
            models.CheckConstraint(
                condition=Q(cash_counted__isnull=True)
                | Q(cash_expected=F("cash_counted"))
                | ~Q(difference_explanation=""),
                name="session_difference_explained",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.commune} {self.date:%d/%m/%Y}"

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.OPEN

    @property
    def cash_difference(self) -> int | None:
        if self.cash_counted is None or self.cash_expected is None:
            return None
        return self.cash_counted - self.cash_expected


class SheetPosting(models.Model):
    """A group's sheet posted in a session: every line posted in one transaction, once. The
    lines are the ledger entries keyed `s{session}:g{group}:{loan}:{column}`; this row is what
    makes a resubmitted or concurrent sheet post nothing twice (unique per session, group and
    kind, and by its key) and carries the sheet's totals for the session's summary."""

    class Kind(models.TextChoices):
        COLLECTION = "collection", _("Collection sheet")
        DISBURSEMENT = "disbursement", _("Disbursements")

    session = models.ForeignKey(
        TransactionSession, on_delete=models.PROTECT, related_name="postings"
    )
    group = models.ForeignKey(SavingsGroup, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.COLLECTION)
    idempotency_key = models.CharField(max_length=100, unique=True)
    posted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    posted_at = models.DateTimeField(auto_now_add=True)
    lines = models.PositiveIntegerField(_("lines"), default=0)
    interest = models.BigIntegerField(_("interest paid in cash"), default=0)
    principal = models.BigIntegerField(_("principal paid in cash"), default=0)
    savings_deposited = models.BigIntegerField(_("savings deposited"), default=0)
    savings_for_interest = models.BigIntegerField(_("savings used for interest"), default=0)
    savings_for_principal = models.BigIntegerField(_("savings used for principal"), default=0)
    disbursed = models.BigIntegerField(_("disbursed"), default=0)

    class Meta:
        ordering = ["session", "group__code", "kind"]
        constraints = [
            models.UniqueConstraint(
                fields=["session", "group", "kind"], name="one_sheet_per_group_and_kind"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.session} {self.group.code} {self.kind}"

    @property
    def cash_in(self) -> int:
        """The cash the group handed in for this sheet (savings used moves no cash)."""
        return self.interest + self.principal + self.savings_deposited


class SheetPrintRun(models.Model):
    """Every group's collection sheet of a session in one PDF, built in the worker (a session's
    twenty sheets take seconds to lay out: never in a request). The PDF is stored in the row,
    as a report run's files are, written with its status in one transaction."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    session = models.ForeignKey(
        TransactionSession, on_delete=models.CASCADE, related_name="print_runs"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField(auto_now_add=True)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.QUEUED
    )
    progress = models.PositiveSmallIntegerField(_("progress"), default=0)
    progress_message = models.CharField(_("progress message"), max_length=200, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    pdf = models.BinaryField(null=True, blank=True, editable=False)
    pdf_pages = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(progress__lte=100), name="sheet_run_progress_le_100"
            ),
            models.CheckConstraint(
                condition=~Q(status="done") | Q(pdf__isnull=False), name="sheet_run_done_has_pdf"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.session} #{self.pk}"
