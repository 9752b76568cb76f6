from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CommuneDayConfig(AppConfig):
    name = "commune_day"
    verbose_name = _("Commune transaction day")
