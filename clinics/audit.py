"""The audit actions of clinics, users and memberships (see portal.audit)."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from portal.audit import audit_actions_register


@audit_actions_register
class ClinicsAudit(models.TextChoices):
    CLINIC_UPDATED = "clinics.clinic.updated", _("Klinikens uppgifter ändrade")
    USER_CREATED = "clinics.user.created", _("Användare skapad")
    MEMBERSHIP_ADDED = "clinics.membership.added", _("Användare tillagd på kliniken")
    MEMBERSHIP_ROLE_CHANGED = "clinics.membership.role_changed", _("Användarens roll ändrad")
    MEMBERSHIP_REMOVED = "clinics.membership.removed", _("Användare borttagen från kliniken")
    REGION_ROLE_GRANTED = "clinics.region_role.granted", _("Roll i regionen given")
    ACCOUNT_CHANGE_REQUESTED = "clinics.account_change.requested", _("Ändring av konto begärd")
    ACCOUNT_CHANGE_CONFIRMED = "clinics.account_change.confirmed", _("Ändring av konto bekräftad")
    ACCOUNT_CHANGE_REJECTED = "clinics.account_change.rejected", _("Ändring av konto avvisad")
    ACCOUNT_CHANGE_WITHDRAWN = "clinics.account_change.withdrawn", _("Ändring av konto återkallad")
    INVITATION_SENT = "clinics.invitation.sent", _("Inbjudan till kliniken skickad")
    INVITATION_ACCEPTED = "clinics.invitation.accepted", _("Inbjudan till kliniken accepterad")
    INVITATION_DECLINED = "clinics.invitation.declined", _("Inbjudan till kliniken avböjd")
    REGION_PAYOUT_LIMIT_CHANGED = "clinics.region.payout_limit_changed", _("Beloppet för en andra bekräftelse ändrat")

    REGION_TWO_FACTOR_CHANGED = (
        "clinics.region.two_factor_changed",
        _("Krav på tvåstegsverifiering för klinikerna ändrat"),
    )
    API_KEY_CREATED = "clinics.api_key.created", _("API-nyckel skapad")
    API_KEY_REVOKED = "clinics.api_key.revoked", _("API-nyckel återkallad")
    API_KEY_WEBHOOK_SET = "clinics.api_key.webhook_set", _("Webhook för API-nyckel sparad")
    API_KEY_WEBHOOK_SECRET_ROTATED = "clinics.api_key.webhook_secret_rotated", _("Ny hemlighet för webhook skapad")
    API_KEY_WEBHOOK_REMOVED = "clinics.api_key.webhook_removed", _("Webhook för API-nyckel borttagen")
    TERMINATION_GIVEN = "clinics.termination.given", _("Kliniken uppsagd")
    TERMINATION_WITHDRAWN = "clinics.termination.withdrawn", _("Uppsägningen återkallad")
    CLINIC_CLOSED = "clinics.clinic.closed", _("Kliniken stängd efter uppsägning")
    MEMBERSHIP_LEFT = "clinics.membership.left", _("Användaren lämnade kliniken")
    # Region administration (issue 15): clinics, the region's people and its rules.
    CLINIC_CREATED = "clinics.clinic.created", _("Klinik tillagd")
    REGION_USER_INVITED = "clinics.region_user.invited", _("Person inbjuden till regionen")
    REGION_ROLE_CHANGED = "clinics.region_role.changed", _("Roll i regionen ändrad")
    REGION_ROLE_REMOVED = "clinics.region_role.removed", _("Roll i regionen borttagen")
    REGION_RULES_CHANGED = "clinics.region.rules_changed", _("Regionens regler ändrade")
    REGION_RULES_WITHDRAWN = "clinics.region.rules_withdrawn", _("Planerad ändring av regionens regler borttagen")
    CARE_MODEL_ADDED = "clinics.care_model.added", _("Vårdmodell tillagd")
    CARE_MODEL_CHANGED = "clinics.care_model.changed", _("Vårdmodell ändrad")
    PATIENT_CATEGORY_ADDED = "clinics.patient_category.added", _("Patientkategori tillagd")
    PATIENT_CATEGORY_CHANGED = "clinics.patient_category.changed", _("Patientkategori ändrad")
    ORGANISATION_CREATED = "clinics.organisation.created", _("Paraplyorganisation skapad")
    ORGANISATION_CLINICS_CHANGED = "clinics.organisation.clinics_changed", _("Paraplyorganisationens kliniker ändrade")
    ORGANISATION_MEMBER_ADDED = "clinics.organisation.member_added", _("Användare tillagd i paraplyorganisationen")
    ORGANISATION_MEMBER_REMOVED = (
        "clinics.organisation.member_removed",
        _("Användare borttagen från paraplyorganisationen"),
    )
