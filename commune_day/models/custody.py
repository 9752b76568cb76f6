"""What a group head collected at home and holds until the session (issue 14): each member's
payment with its 01/BL receipt, recorded from the head's phone, is in the head's custody, not in
the ledger, until the teller confirms it at the session, where it posts with the group's sheet."""

import pghistory
import pgtrigger
from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from borrowers.models import Office, SavingsGroup
from loans.models import Loan

from .sessions import SheetPosting, TransactionSession

__all__ = ["CustodyHandover", "HeldReceipt"]


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent())
class HeldReceipt(models.Model):
    """One member's payment to the group head: held until a posted sheet of the group confirms
    it (status and posting set together, once; a database CHECK holds it). Its key is the
    phone's: a repeat of the key is the same receipt, not a second one."""

    class Status(models.TextChoices):
        HELD = "held", _("Held by the group head")
        CONFIRMED = "confirmed", _("Confirmed at the session")

    office = models.ForeignKey(Office, on_delete=models.PROTECT, related_name="+")
    group = models.ForeignKey(SavingsGroup, on_delete=models.PROTECT, related_name="receipts")
    loan = models.ForeignKey(Loan, on_delete=models.PROTECT, related_name="held_receipts")
    receipt = models.CharField(_("receipt (01/BL)"), max_length=50)
    interest = models.BigIntegerField(_("interest"), default=0)
    principal = models.BigIntegerField(_("principal"), default=0)
    savings = models.BigIntegerField(_("savings deposit"), default=0)
    paid_on = models.DateField(_("paid on"))
    idempotency_key = models.CharField(max_length=100)
    sheet_date = models.DateField(_("for the session of"))
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.HELD)
    posting = models.ForeignKey(
        SheetPosting, null=True, blank=True, on_delete=models.PROTECT, related_name="receipts"
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField(auto_now_add=True)
    # The API token it came through (its prefix, as the tokens page lists it): which phone.
    token_prefix = models.CharField(max_length=10, blank=True)

    class Meta:
        ordering = ["group", "id"]
        verbose_name = _("receipt held in custody")
        verbose_name_plural = _("receipts held in custody")
        constraints = [
            models.UniqueConstraint(
                fields=["group", "idempotency_key"], name="held_receipt_key_per_group"
            ),
            models.CheckConstraint(
                condition=Q(interest__gte=0, principal__gte=0, savings__gte=0)
                & (Q(interest__gt=0) | Q(principal__gt=0) | Q(savings__gt=0)),
                name="held_receipt_amounts",
            ),
            models.CheckConstraint(
                condition=(Q(status="held") & Q(posting__isnull=True))
                | (Q(status="confirmed") & Q(posting__isnull=False)),
                name="held_receipt_confirmed_with_its_posting",
            ),
        ]
        indexes = [models.Index(fields=["group", "status"], name="held_receipt_group_status")]
        triggers = [
            # A receipt is evidence of money handed to the head: never deleted, and once
            # confirmed never changed.
            pgtrigger.Protect(name="held_receipt_not_deleted", operation=pgtrigger.Delete),
            pgtrigger.Protect(
                name="confirmed_receipt_immutable",
                operation=pgtrigger.Update,
                condition=pgtrigger.Q(old__status="confirmed"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.group.code} {self.receipt}"

    @property
    def total(self) -> int:
        return self.interest + self.principal + self.savings


class CustodyHandover(models.Model):
    """At the session, what the group head handed over for the receipts held: their total, the
    cash counted, and the explanation of any difference (a head who keeps money back is seen)."""

    session = models.ForeignKey(
        TransactionSession, on_delete=models.PROTECT, related_name="handovers"
    )
    group = models.ForeignKey(SavingsGroup, on_delete=models.PROTECT, related_name="+")
    posting = models.OneToOneField(SheetPosting, on_delete=models.PROTECT, related_name="handover")
    receipts = models.PositiveIntegerField(_("receipts"))
    held = models.BigIntegerField(_("held by the group head"))
    handed_in = models.BigIntegerField(_("handed in"))
    note = models.TextField(_("explanation"), blank=True)
    counted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    counted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["session", "group__code"]
        constraints = [
            models.UniqueConstraint(fields=["session", "group"], name="one_handover_per_group"),
            models.CheckConstraint(
                condition=Q(held__gte=0, handed_in__gte=0), name="handover_amounts"
            ),
            models.CheckConstraint(
                condition=Q(held=models.F("handed_in")) | ~Q(note=""),
                name="handover_difference_explained",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.session} {self.group.code}: {self.handed_in}/{self.held}"

    @property
    def difference(self) -> int:
        return self.handed_in - self.held
