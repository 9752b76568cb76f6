"""The outbox (docs/decisions/0021-outbox.md): every loan and savings ledger entry, once, with a
position in commit order that the core bank reads with a cursor.

The database writes it, not Python: a statement trigger on each ledger adds a row per entry with no
position, and a deferred trigger at commit numbers the transaction's rows under one lock, so
positions follow the order transactions commit in and a reader never sees a position above one
that is still to commit.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _

from borrowers.models import Office
from loans.models import LoanTransaction
from savings.models import SavingsTransaction


class OutboxEntry(models.Model):
    # Set at commit (NULL only inside the transaction that wrote the entry); unique, with gaps
    # where a transaction failed after being numbered.
    position = models.BigIntegerField(_("position"), null=True, unique=True)
    office = models.ForeignKey(Office, on_delete=models.PROTECT, related_name="+", db_index=False)
    # Exactly one of the two: one-to-one, so an entry is in the outbox once.
    loan_entry = models.OneToOneField(
        LoanTransaction, on_delete=models.PROTECT, null=True, related_name="+"
    )
    savings_entry = models.OneToOneField(
        SavingsTransaction, on_delete=models.PROTECT, null=True, related_name="+"
    )

    class Meta:
        verbose_name = _("outbox entry")
        verbose_name_plural = _("outbox entries")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(loan_entry__isnull=False, savings_entry__isnull=True)
                | models.Q(loan_entry__isnull=True, savings_entry__isnull=False),
                name="outbox_one_entry",
            ),
        ]
        indexes = [
            # The feed of one office (or a few) reads its positions in order.
            models.Index(fields=["office", "position"], name="outbox_office_position"),
            # What the committing transaction numbers: only its own rows are ever unnumbered.
            models.Index(
                fields=["id"], name="outbox_unnumbered", condition=models.Q(position__isnull=True)
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.position} {self.source} {self.loan_entry_id or self.savings_entry_id}"

    @property
    def source(self) -> str:
        return "loan" if self.loan_entry_id else "savings"
