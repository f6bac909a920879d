from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RegioninfoConfig(AppConfig):
    name = "regioninfo"
    verbose_name = _("Regionens information")
