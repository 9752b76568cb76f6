from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ReportsConfig(AppConfig):
    name = "reports"
    verbose_name = _("Reports")

    def ready(self) -> None:
        # The tasks register with Celery here, so that reports.services can queue its build by
        # name (services sit below tasks and do not import them).
        from loans import approvals

        from . import tasks  # noqa: F401
        from .month_close import month_reopen

        # A month reopen may be held for a second manager: loans' approvals run it from here
        # (loans does not import reports).
        approvals.register("month_reopen", month_reopen, _("Month reopen"))
