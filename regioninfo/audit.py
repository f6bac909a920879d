"""The audit actions of the region's information (see portal.audit)."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from portal.audit import audit_actions_register


@audit_actions_register
class RegionInfoAudit(models.TextChoices):
    PUBLISHED = "regioninfo.publication.published", _("Information publicerad")
    WITHDRAWN = "regioninfo.publication.withdrawn", _("Information avpublicerad")
