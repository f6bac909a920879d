"""The audit actions of claims, invoices, tariffs and invoice files (see portal.audit)."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from portal.audit import audit_actions_register


@audit_actions_register
class ClaimsAudit(models.TextChoices):
    CLAIM_SUBMITTED = "claims.claim.submitted", _("Räkning inskickad")
    CLAIM_REVIEW_STARTED = "claims.claim.review_started", _("Räkning satt under granskning")
    CLAIM_APPROVED = "claims.claim.approved", _("Räkning godkänd för utbetalning")
    CLAIM_SCHEDULED = "claims.claim.scheduled", _("Godkänd räkning fick utbetalningsdatum")
    CLAIM_PAID = "claims.claim.paid", _("Räkning utbetald")
    CLAIM_PAYOUT_CANCELLED = "claims.claim.payout_cancelled", _("Räkningens utbetalningskörning makulerad")
    CLAIM_VOIDED = "claims.claim.voided", _("Räkning makulerad")
    CLAIM_DELETED = "claims.claim.deleted", _("Räkning raderad")
    CLAIM_CREDITED = "claims.claim.credited", _("Räkning krediterad")
    INVOICE_RECEIVED = "claims.invoice.received", _("Faktura mottagen")
    INVOICE_DELETED = "claims.invoice.deleted", _("Faktura raderad")
    INVOICE_PAID = "claims.invoice.paid", _("Faktura utbetald")
    INVOICE_PAYOUT_CANCELLED = "claims.invoice.payout_cancelled", _("Fakturans utbetalningskörning makulerad")
    INVOICE_VOIDED = "claims.invoice.voided", _("Faktura makulerad")
    CREDIT_INVOICE_CREATED = "claims.credit_invoice.created", _("Kreditfaktura skapad")
    TARIFF_IMPORTED = "claims.tariff.imported", _("Ersättningslista importerad")
    TARIFF_ENDED = "claims.tariff.ended", _("Ersättningslista avslutad")
    INVOICE_FILE_UPLOADED = "claims.invoice_file.uploaded", _("Fakturafil uppladdad")
    INVOICE_FILE_SENT = "claims.invoice_file.sent", _("Fakturafil skickad")
    INVOICE_FILE_DISCARDED = "claims.invoice_file.discarded", _("Granskad fakturafil kastad")
