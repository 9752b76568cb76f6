from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LoansConfig(AppConfig):
    name = "loans"
    verbose_name = _("Loans and ledger")

    def ready(self) -> None:
        # The operations maker-checker may hold, by the code their requests carry, and the
        # hooks borrowers calls for a citizen-ID change (borrowers does not import loans).
        from borrowers import four_eyes
        from borrowers import services as borrower_services

        from . import approvals, services

        for operation, service, title in [
            ("disburse", services.loan_disburse, _("Disbursement")),
            ("repay", services.loan_repay_principal, _("Principal repayment")),
            ("interest", services.loan_pay_interest, _("Interest payment")),
            ("extend", services.loan_extend, _("Extension")),
            ("freeze", services.loan_freeze, _("Freeze")),
            ("unfreeze", services.loan_unfreeze, _("Unfreeze")),
            ("write-off", services.loan_write_off, _("Write-off")),
            ("transfer", services.loan_transfer, _("Transfer to another office")),
            ("reversal", services.loan_reverse, _("Reversal")),
            (
                "citizen_id",
                borrower_services.household_change_citizen_id,
                _("Citizen-ID change"),
            ),
        ]:
            approvals.register(operation, service, title)
        four_eyes.gate = approvals.citizen_id_gate
        four_eyes.perform = approvals.perform
