"""Report runs: who asked for which figures, when, and what they were.

A run is built once by a Celery task (reports.services.report_run_build) and, once done, never
changes: what the manager downloaded in July is what the auditor sees in December. The code
refuses it (save(), delete(), queryset update()/delete()) and so does the database (a pgtrigger
refuses UPDATE and DELETE of a row whose status is done).

The files are stored in the row (BinaryField), not under MEDIA_ROOT: they are then written in the
same transaction as the figures and the status, protected by the same trigger, backed up with the
database, and a killed worker can leave no orphan or half-written file (docs/reports.md).
"""

import pgtrigger
from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from borrowers.models import Office


class FinishedRunError(TypeError):
    """A done run is immutable."""


class ReportRunQuerySet(models.QuerySet):
    def _refuse_done(self) -> None:
        if self.filter(status=ReportRun.Status.DONE).exists():
            raise FinishedRunError("A finished report run never changes.")

    def update(self, **kwargs):
        self._refuse_done()
        return super().update(**kwargs)

    def delete(self):
        self._refuse_done()
        return super().delete()


class ReportRun(models.Model):
    class Kind(models.TextChoices):
        MONTHLY = "monthly", _("Monthly pack")
        ON_DEMAND = "on_demand", _("On demand")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    office = models.ForeignKey(
        Office, on_delete=models.PROTECT, related_name="report_runs", verbose_name=_("office")
    )
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices, default=Kind.ON_DEMAND)
    start = models.DateField(_("from"))
    as_of = models.DateField(_("as of"))
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("requested by"),
    )
    requested_at = models.DateTimeField(_("requested at"), auto_now_add=True)

    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.QUEUED
    )
    progress = models.PositiveSmallIntegerField(_("progress"), default=0)
    progress_message = models.CharField(_("progress message"), max_length=200, blank=True)
    # Each claim increments it; a worker writes only while the run carries its own attempt, so
    # a worker whose run was taken back (stale heartbeat) cannot overwrite its successor's work.
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    heartbeat_at = models.DateTimeField(_("heartbeat at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)

    # Max LoanTransaction id visible in the snapshot the figures were computed in.
    ledger_position = models.BigIntegerField(_("ledger position"), null=True, blank=True)
    # The exact `portfolio_report --json` object for [start, as_of], and the same for the month
    # that ends at as_of (the headline page's second column).
    figures = models.JSONField(_("figures"), null=True, blank=True)
    month_figures = models.JSONField(_("month figures"), null=True, blank=True)
    pdf = models.BinaryField(_("PDF"), null=True, blank=True, editable=False)
    xlsx = models.BinaryField(_("XLSX"), null=True, blank=True, editable=False)
    pdf_pages = models.PositiveIntegerField(_("PDF pages"), null=True, blank=True)

    objects = ReportRunQuerySet.as_manager()

    class Meta:
        ordering = ["-requested_at", "-id"]
        verbose_name = _("report run")
        verbose_name_plural = _("report runs")
        indexes = [models.Index(fields=["office", "-requested_at"], name="reportrun_office_idx")]
        constraints = [
            # Month-end packs are claimed once: a second request finds the first (unless failed).
            models.UniqueConstraint(
                fields=["office", "start", "as_of"],
                condition=Q(kind="monthly") & ~Q(status="failed"),
                name="one_monthly_run_per_period",
            ),
            models.CheckConstraint(condition=Q(as_of__gte=models.F("start")), name="run_period"),
            models.CheckConstraint(condition=Q(progress__lte=100), name="run_progress_le_100"),
            models.CheckConstraint(
                condition=~Q(status="done")
                | (
                    Q(figures__isnull=False)
                    & Q(pdf__isnull=False)
                    & Q(xlsx__isnull=False)
                    & Q(ledger_position__isnull=False)
                ),
                name="done_run_is_complete",
            ),
        ]
        triggers = [
            pgtrigger.Protect(
                name="done_run_immutable",
                operation=pgtrigger.Update | pgtrigger.Delete,
                condition=pgtrigger.Q(old__status="done"),
            )
        ]

    def __str__(self) -> str:
        return f"{self.office.code} {self.start:%d/%m/%Y}–{self.as_of:%d/%m/%Y} ({self.status})"

    def save(self, *args, **kwargs):
        if self.is_finished:
            raise FinishedRunError("A finished report run never changes.")
        super().save(*args, **kwargs)
        self._loaded_status = self.status

    def delete(self, *args, **kwargs):
        if self.is_finished or self.status == self.Status.DONE:
            raise FinishedRunError("A finished report run is never deleted.")
        return super().delete(*args, **kwargs)

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        instance._loaded_status = instance.__dict__.get("status")
        return instance

    def refresh_from_db(self, *args, **kwargs):
        super().refresh_from_db(*args, **kwargs)
        if "status" in self.__dict__:
            self._loaded_status = self.status

    @property
    def is_finished(self) -> bool:
        return getattr(self, "_loaded_status", None) == self.Status.DONE

    @property
    def pdf_filename(self) -> str:
        return f"bao-cao-{self.office.code}-{self.start:%Y%m%d}-{self.as_of:%Y%m%d}-{self.pk}.pdf"

    @property
    def xlsx_filename(self) -> str:
        return f"bao-cao-{self.office.code}-{self.start:%Y%m%d}-{self.as_of:%Y%m%d}-{self.pk}.xlsx"


class MonthEndSnapshot(models.Model):
    """Every loan's balances at the end of a closed month, so that a report reads them instead of
    re-summing the office's whole ledger (reports.snapshots).

    Derived data: taken when a month is closed (from the previous snapshot plus the month's
    entries), dropped when that month or an earlier one is reopened, rebuildable from the ledger
    (`rebuild_month_end_snapshots`) and compared with it by `check_ledger`. No entry can be dated
    on or before a snapshot's day: the services refuse closed months, and a trigger on the ledger
    table refuses the insert whatever the path."""

    office = models.ForeignKey(Office, on_delete=models.PROTECT, related_name="month_end_snapshots")
    month_end = models.DateField(_("month end"))
    taken_at = models.DateTimeField(auto_now_add=True)
    loans = models.PositiveIntegerField(_("loans"), default=0)
    outstanding = models.BigIntegerField(_("principal outstanding"), default=0)
    # What the statement that read the loans' breakdown keys could see: pg_current_snapshot()
    # (and its xmin), its own transaction id and the last DimensionChange id then. A key change
    # it could not see is a DimensionChange outside that (reports.sql.DIRTY).
    seen = models.TextField(default="")
    seen_xmin = models.BigIntegerField(default=0)
    seen_txid = models.BigIntegerField(default=0)
    seen_change = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["office", "-month_end"]
        constraints = [
            models.UniqueConstraint(fields=["office", "month_end"], name="one_snapshot_per_month")
        ]

    def __str__(self) -> str:
        return f"{self.office_id} {self.month_end:%d/%m/%Y}"


class MonthEndBalance(models.Model):
    """One loan's balances in a snapshot: every loan of the office with an entry up to the
    month end, settled ones too (a loan appears in a report's breakdowns once it has an
    entry, whatever its balance)."""

    pk = models.CompositePrimaryKey("snapshot", "loan")
    # No foreign-key checks on a million derived rows (they come from the ledger's loans, and
    # reports.snapshots deletes them with their snapshot); the primary key is the index.
    snapshot = models.ForeignKey(
        MonthEndSnapshot,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="rows",
    )
    loan = models.ForeignKey(
        "loans.Loan", on_delete=models.DO_NOTHING, db_constraint=False, db_index=False
    )
    outstanding = models.BigIntegerField()
    overdue = models.BigIntegerField()
    frozen = models.BigIntegerField()
    first_disbursed = models.DateField(null=True)
    # The loan's breakdown keys when the snapshot was taken (ids; organisation and group are
    # null for a direct loan).
    household_id = models.BigIntegerField()
    programme_id = models.BigIntegerField()
    commune_id = models.BigIntegerField()
    organisation_id = models.BigIntegerField(null=True)
    group_id = models.BigIntegerField(null=True)

    class Meta:
        # A report recounts the customers of the households where a loan gained or lost a balance.
        indexes = [
            models.Index(fields=["snapshot", "household_id"], name="month_end_balance_household")
        ]

    def __str__(self) -> str:
        return f"{self.snapshot_id}/{self.loan_id}"


class MonthEndTotal(models.Model):
    """A snapshot's balances rolled up: the totals (dimension "total", key null) and one row per
    programme, commune, organisation and group id (key null: direct loans), so that a report
    adds only what changed since instead of re-aggregating every loan."""

    snapshot = models.ForeignKey(
        MonthEndSnapshot,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="totals",
    )
    dimension = models.CharField(max_length=12)
    key = models.BigIntegerField(null=True)
    loans = models.BigIntegerField()
    outstanding = models.BigIntegerField()
    overdue = models.BigIntegerField()
    frozen = models.BigIntegerField()
    customers = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["snapshot", "dimension", "key"],
                name="one_total_per_key",
                nulls_distinct=False,
            )
        ]

    def __str__(self) -> str:
        return f"{self.snapshot_id}/{self.dimension}/{self.key}"


class DimensionChange(models.Model):
    """A loan whose breakdown keys changed (its programme, group, household or office; its
    group's village or chapter; a chapter's organisation; a village's commune; a direct
    borrower's village), logged by triggers (migration reports 0002) with the writing
    transaction's id: a report starting from a snapshot treats the loans changed by
    transactions that snapshot could not see as changed loans."""

    loan_id = models.BigIntegerField()
    txid = models.BigIntegerField()
    changed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["txid"], name="dimension_change_txid")]

    def __str__(self) -> str:
        return f"{self.loan_id}@{self.txid}"
