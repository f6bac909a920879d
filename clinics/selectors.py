"""Reads about clinics, regions and memberships, always from the point of view of one user."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, QuerySet
from django.urls import reverse

from portal.models import AuditEvent, ClinicEventKind, WebhookAttempt, WebhookDelivery, WebhookDeliveryState

from .audit import ClinicsAudit
from .models import (
    AccountChange,
    AccountChangeState,
    ApiKey,
    CareModel,
    Clinic,
    ClinicInvitation,
    ClinicMembership,
    InvitationState,
    Organisation,
    OrganisationMembership,
    PatientCategory,
    Region,
    RegionMembership,
    RegionRules,
    Termination,
)


@dataclass(frozen=True)
class Place:
    """A clinic or region the user may work for, as listed on *Välj klinik*."""

    kind: str  # "clinic", "organisation" or "region"
    name: str
    region_name: str
    role: str
    url: str


def user_places(*, user) -> list[Place]:
    places = [
        Place(
            kind="clinic",
            name=str(m.clinic),
            region_name=m.clinic.region.name,
            role=m.get_role_display(),
            url=reverse("clinic_start", kwargs={"clinic_pk": m.clinic_id}),
        )
        for m in ClinicMembership.objects.filter(user=user, is_active=True, clinic__is_active=True)
        .select_related("clinic__region")
        .order_by("clinic__region__name", "clinic__number")
    ]
    places += _organisation_places(user=user, own_clinics={place.url for place in places})
    by_region: dict[int, list[RegionMembership]] = {}
    for m in RegionMembership.objects.filter(user=user, is_active=True).select_related("region"):
        by_region.setdefault(m.region_id, []).append(m)
    for memberships in sorted(by_region.values(), key=lambda ms: ms[0].region.name):
        region = memberships[0].region
        places.append(
            Place(
                kind="region",
                name=region.name,
                region_name=region.name,
                role=", ".join(sorted(m.get_role_display() for m in memberships)),
                url=reverse("region_start", kwargs={"region_code": region.code}),
            )
        )
    return places


def _organisation_places(*, user, own_clinics: set[str]) -> list[Place]:
    """Each umbrella organisation the user works for (its overview, *Alla kliniker*) and its active clinics the
    user is not a member of already."""
    places: list[Place] = []
    memberships = (
        OrganisationMembership.objects.filter(user=user, is_active=True)
        .select_related("organisation__region")
        .order_by("organisation__region__name", "organisation__name")
    )
    for membership in memberships:
        organisation = membership.organisation
        clinics = list(organisation_clinics(organisation=organisation))
        if not clinics:
            continue
        role = membership.get_role_display()
        places.append(
            Place(
                kind="organisation",
                name=organisation.name,
                region_name=organisation.region.name,
                role=role,
                url=reverse("organisation_start", kwargs={"organisation_pk": organisation.pk}),
            )
        )
        for clinic in clinics:
            url = reverse("clinic_start", kwargs={"clinic_pk": clinic.pk})
            if url not in own_clinics:
                places.append(Place("clinic", str(clinic), organisation.region.name, role, url))
    return places


def organisation_clinics(*, organisation: Organisation) -> QuerySet[Clinic]:
    """The organisation's active clinics, by number: those its users work for."""
    return Clinic.objects.of_region(organisation.region_id).filter(organisation=organisation, is_active=True)


def region_organisations(*, region: Region) -> QuerySet[Organisation]:
    return Organisation.objects.of_region(region).prefetch_related("clinics").order_by("name")


def region_organisation_get(*, region: Region, organisation_pk: int) -> Organisation:
    """One of the region's organisations (another region's answers DoesNotExist)."""
    return Organisation.objects.of_region(region).get(pk=organisation_pk)


def organisation_memberships(*, organisation: Organisation) -> QuerySet[OrganisationMembership]:
    return (
        OrganisationMembership.objects.of_region(organisation.region_id)
        .filter(organisation=organisation, is_active=True)
        .select_related("user")
        .order_by("user__name", "user__email")
    )


def user_regions(*, user) -> QuerySet[Region]:
    """Regions the user works in or bills, for the support page."""
    return Region.objects.filter(clinics__memberships__user=user, clinics__memberships__is_active=True).union(
        Region.objects.filter(memberships__user=user, memberships__is_active=True),
        Region.objects.filter(organisations__memberships__user=user, organisations__memberships__is_active=True),
    )


def clinic_memberships(*, clinic: Clinic) -> QuerySet[ClinicMembership]:
    return (
        ClinicMembership.objects.of_clinic(clinic)
        .filter(is_active=True)
        .select_related("user")
        .order_by("user__name", "user__email")
    )


def clinic_membership_get(*, clinic: Clinic, membership_pk: int) -> ClinicMembership:
    """A membership of this clinic (scoped: another clinic's answers DoesNotExist)."""
    return ClinicMembership.objects.of_clinic(clinic).select_related("user").get(pk=membership_pk, is_active=True)


def region_clinics(*, region: Region) -> QuerySet[Clinic]:
    return Clinic.objects.of_region(region).order_by("number")


def region_clinic_get(*, region: Region, number: str) -> Clinic:
    """One of the region's clinics by its number (another region's answers DoesNotExist)."""
    return Clinic.objects.of_region(region).get(number=number)


def account_change_pending(*, clinic: Clinic) -> AccountChange | None:
    """The clinic's change of account that waits for a second person, if any (at most one)."""
    return (
        AccountChange.objects.of_clinic(clinic)
        .filter(state=AccountChangeState.PENDING)
        .select_related("requested_by")
        .first()
    )


def clinic_account_change_get(*, clinic: Clinic, change_pk: int) -> AccountChange:
    return AccountChange.objects.of_clinic(clinic).select_related("clinic__region").get(pk=change_pk)


def region_account_change_get(*, region: Region, change_pk: int) -> AccountChange:
    return AccountChange.objects.of_region(region).select_related("clinic__region").get(pk=change_pk)


ACCOUNT_CHANGE_ACTIONS = [
    ClinicsAudit.ACCOUNT_CHANGE_REQUESTED,
    ClinicsAudit.ACCOUNT_CHANGE_CONFIRMED,
    ClinicsAudit.ACCOUNT_CHANGE_REJECTED,
    ClinicsAudit.ACCOUNT_CHANGE_WITHDRAWN,
]


def account_change_history(*, clinic: Clinic) -> QuerySet[AuditEvent]:
    """Every request and decision about the clinic's account, newest first, from the audit log."""
    return AuditEvent.objects.filter(clinic_id=clinic.pk, action__in=ACCOUNT_CHANGE_ACTIONS).order_by(
        "-occurred_at", "-id"
    )


def clinic_invitations_pending(*, clinic: Clinic) -> QuerySet[ClinicInvitation]:
    return (
        ClinicInvitation.objects.of_clinic(clinic)
        .filter(state=InvitationState.PENDING)
        .select_related("user")
        .order_by("created_at")
    )


def user_invitations(*, user) -> QuerySet[ClinicInvitation]:
    """The invitations waiting for the signed-in person's answer, from every clinic."""
    return (
        ClinicInvitation.objects.filter(user=user, state=InvitationState.PENDING)
        .select_related("clinic__region", "invited_by")
        .order_by("created_at")
    )


def clinic_api_keys(*, clinic: Clinic) -> QuerySet[ApiKey]:
    return ApiKey.objects.of_clinic(clinic).select_related("created_by", "revoked_by").order_by("-created_at", "-id")


def clinic_api_key_get(*, clinic: Clinic, key_pk: int) -> ApiKey:
    return ApiKey.objects.of_clinic(clinic).select_related("clinic").get(pk=key_pk)


WEBHOOK_ATTEMPTS_SHOWN = 20


def api_key_webhook_overview(*, key: ApiKey) -> dict:
    """What the key's page shows of its webhook: the latest attempts (with their event's kind) and the deliveries
    still waiting or given up."""
    attempts = list(
        WebhookAttempt.objects.of_clinic(key.clinic_id)
        .filter(key=key)
        .select_related("delivery__event")
        .order_by("-attempted_at", "-id")[:WEBHOOK_ATTEMPTS_SHOWN]
    )
    counts = dict(
        WebhookDelivery.objects.of_clinic(key.clinic_id)
        .filter(key=key)
        .exclude(state=WebhookDeliveryState.DELIVERED)
        .values_list("state")
        .annotate(count=Count("pk"))
        .values_list("state", "count")
    )
    return {
        "attempts": attempts,
        "pending_count": counts.get(WebhookDeliveryState.PENDING, 0),
        "failed_count": counts.get(WebhookDeliveryState.FAILED, 0),
        "kind_labels": [ClinicEventKind(kind).label for kind in key.webhook_kinds if kind in ClinicEventKind.values],
    }


def clinic_terminations(*, clinic: Clinic) -> list[Termination]:
    """The clinic's notices (uppsägningar), newest first: the running one and every one before, with who and when."""
    return list(
        Termination.objects.of_clinic(clinic).select_related("given_by", "withdrawn_by").order_by("-given_at", "-pk")
    )


# Region administration (issue 15) ------------------------------------------------------------------------------

REGION_RULE_ACTIONS = [
    ClinicsAudit.REGION_RULES_CHANGED,
    ClinicsAudit.REGION_RULES_WITHDRAWN,
    ClinicsAudit.REGION_PAYOUT_LIMIT_CHANGED,
    ClinicsAudit.REGION_TWO_FACTOR_CHANGED,
    ClinicsAudit.CARE_MODEL_ADDED,
    ClinicsAudit.CARE_MODEL_CHANGED,
    ClinicsAudit.PATIENT_CATEGORY_ADDED,
    ClinicsAudit.PATIENT_CATEGORY_CHANGED,
]
REGION_PEOPLE_ACTIONS = [
    ClinicsAudit.REGION_USER_INVITED,
    ClinicsAudit.REGION_ROLE_GRANTED,
    ClinicsAudit.REGION_ROLE_CHANGED,
    ClinicsAudit.REGION_ROLE_REMOVED,
]
CLINIC_DETAIL_ACTIONS = [ClinicsAudit.CLINIC_CREATED, ClinicsAudit.CLINIC_UPDATED]
HISTORY_SHOWN = 100


def region_history(*, region: Region, actions: list[str]) -> QuerySet[AuditEvent]:
    """The region's audited changes of these kinds, newest first: who and when, from the audit log."""
    return AuditEvent.objects.filter(region_id=region.pk, action__in=actions).order_by("-occurred_at", "-id")[
        :HISTORY_SHOWN
    ]


def clinic_details_history(*, clinic: Clinic) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(clinic_id=clinic.pk, action__in=CLINIC_DETAIL_ACTIONS).order_by(
        "-occurred_at", "-id"
    )[:HISTORY_SHOWN]


def region_people(*, region: Region) -> QuerySet[RegionMembership]:
    """The region's coordinators and administrators with an active role."""
    return (
        RegionMembership.objects.of_region(region)
        .filter(is_active=True)
        .select_related("user")
        .order_by("user__name", "user__email", "role")
    )


def region_membership_get(*, region: Region, membership_pk: int) -> RegionMembership:
    return RegionMembership.objects.of_region(region).select_related("user").get(pk=membership_pk, is_active=True)


def region_care_models(*, region: Region) -> QuerySet[CareModel]:
    return CareModel.objects.of_region(region).order_by("code")


def region_patient_categories(*, region: Region) -> QuerySet[PatientCategory]:
    return PatientCategory.objects.of_region(region).order_by("support_form", "code")


def region_care_model_get(*, region: Region, pk: int) -> CareModel:
    return CareModel.objects.of_region(region).get(pk=pk)


def region_patient_category_get(*, region: Region, pk: int) -> PatientCategory:
    return PatientCategory.objects.of_region(region).get(pk=pk)


def region_rules_version_get(*, region: Region, pk: int) -> RegionRules:
    return RegionRules.objects.of_region(region).get(pk=pk)
