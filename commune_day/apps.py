from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CommuneDayConfig(AppConfig):
    name = "commune_day"
    verbose_name = _("Commune transaction day")

    def ready(self) -> None:
        # The tasks register with Celery here, so that commune_day.printing can queue its build
        # by name (it sits below the tasks and does not import them).
        from . import tasks  # noqa: F401
