"""The audit actions of payout runs, notices and repayments (see portal.audit)."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from portal.audit import audit_actions_register


@audit_actions_register
class PayoutsAudit(models.TextChoices):
    RUN_CREATED = "payouts.run.created", _("Utbetalningskörning skapad")
    RUN_CONFIRMED = "payouts.run.confirmed", _("Utbetalningskörning bekräftad av andra samordnare")
    RUN_FILE_DOWNLOADED = "payouts.run.file_downloaded", _("Betalningsfil nedladdad")
    RUN_CANCELLED = "payouts.run.cancelled", _("Utbetalningskörning makulerad")
    RUN_PAID = "payouts.run.paid", _("Utbetalningskörning utbetald")
    NOTICE_SENT = "payouts.notice.sent", _("Utbetalningsbesked skickat")
    REPAYMENT_OWED = "payouts.repayment.owed", _("Återbetalning registrerad")
    REPAYMENT_RECEIVED = "payouts.repayment.received", _("Återbetalning mottagen")
