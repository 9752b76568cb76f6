from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ReportsConfig(AppConfig):
    name = "reports"
    verbose_name = _("Reports")

    def ready(self) -> None:
        # The tasks register with Celery here, so that reports.services can queue its build by
        # name (services sit below tasks and do not import them).
        from . import tasks  # noqa: F401
