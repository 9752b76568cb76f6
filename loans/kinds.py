"""A loan's statuses and the kinds of ledger entry: apart from the models, so that the rulebook
(loans.ledger) names them without importing a model. loans.models re-exports both."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class LoanStatus(models.TextChoices):
    APPLIED = "applied", _("Applied")
    APPROVED = "approved", _("Approved")
    ACTIVE = "active", _("Active")
    SETTLED = "settled", _("Settled")
    WRITTEN_OFF = "written_off", _("Written off")
    TRANSFERRED = "transferred", _("Transferred out")
    REJECTED = "rejected", _("Rejected")


class TransactionKind(models.TextChoices):
    DISBURSEMENT = "disbursement", _("Disbursement")
    PRINCIPAL_REPAYMENT = "principal_repayment", _("Principal repayment")
    INTEREST_PAYMENT = "interest_payment", _("Interest payment")
    TRANSFER_TO_OVERDUE = "transfer_to_overdue", _("Transfer to overdue")
    EXTENSION = "extension", _("Extension")
    FREEZE = "freeze", _("Freeze")
    UNFREEZE = "unfreeze", _("Unfreeze")
    WRITE_OFF = "write_off", _("Write-off")
    TRANSFER_OUT = "transfer_out", _("Transfer to another office")
    TRANSFER_IN = "transfer_in", _("Transfer from another office")
    REVERSAL = "reversal", _("Reversal")
    # Interest received beyond what is due: a credit on the loan, counted as interest collected
    # when received (the cash came in), and used by the next interest due.
    INTEREST_PREPAYMENT = "interest_prepayment", _("Interest prepayment")
    # The prepaid credit used for interest due (no cash: not counted as collected again).
    PREPAYMENT_APPLIED = "prepayment_applied", _("Prepaid interest applied")
    # Interest due written off with the principal (xóa nợ lãi).
    INTEREST_WRITE_OFF = "interest_write_off", _("Interest written off")
