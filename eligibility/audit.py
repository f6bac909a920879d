"""The audit actions of patients, certificates, free cards and prior assessments (see portal.audit)."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from portal.audit import audit_actions_register


@audit_actions_register
class EligibilityAudit(models.TextChoices):
    PATIENT_CREATED = "eligibility.patient.created", _("Patient registrerad")
    CERTIFICATE_REGISTERED = "eligibility.certificate.registered", _("Intyg registrerat")
    CERTIFICATE_ENDED = "eligibility.certificate.ended", _("Intygets slutdatum ändrat")
    CERTIFICATE_REVOKED = "eligibility.certificate.revoked", _("Intyg återkallat")
    CERTIFICATE_IMPORTED = "eligibility.certificate.imported", _("Intyg ändrat genom import")
    CERTIFICATE_IMPORT_UPLOADED = "eligibility.certificate_import.uploaded", _("Intygsfil uppladdad")
    FREE_CARD_REGISTERED = "eligibility.free_card.registered", _("Frikort registrerat")
    FREE_CARD_ENDED = "eligibility.free_card.ended", _("Frikort avslutat")
    FREE_CARD_CORRECTED = "eligibility.free_card.corrected", _("Frikort rättat")
    PRIOR_ASSESSMENT_SUBMITTED = "eligibility.prior_assessment.submitted", _("Förhandsbedömning inskickad")
    PRIOR_ASSESSMENT_REVIEW_STARTED = (
        "eligibility.prior_assessment.review_started",
        _("Förhandsbedömning satt under bedömning"),
    )
    PRIOR_ASSESSMENT_DECIDED = "eligibility.prior_assessment.decided", _("Förhandsbedömning beslutad")
    PRIOR_ASSESSMENT_INFORMATION_REQUESTED = (
        "eligibility.prior_assessment.information_requested",
        _("Komplettering av förhandsbedömning begärd"),
    )
    PRIOR_ASSESSMENT_INFORMATION_SUPPLIED = (
        "eligibility.prior_assessment.information_supplied",
        _("Förhandsbedömning kompletterad"),
    )
    PRIOR_ASSESSMENT_WRITTEN_OFF = "eligibility.prior_assessment.written_off", _("Förhandsbedömning avskriven")
