"""Reads of applications, always of one region."""

from django.db.models import QuerySet

from clinics.models import Region

from .models import ApplicationState, ClinicApplication

# What the region's administrators see: an unconfirmed application is not yet anybody's business.
VISIBLE_STATES = [ApplicationState.CONFIRMED, ApplicationState.APPROVED, ApplicationState.REJECTED]


def region_applications(*, region: Region, state: str = "") -> QuerySet[ClinicApplication]:
    applications = (
        ClinicApplication.objects.of_region(region)
        .filter(state__in=VISIBLE_STATES)
        .select_related("clinic", "decided_by")
        .order_by("-confirmed_at", "-pk")
    )
    return applications.filter(state=state) if state else applications


def region_application_get(*, region: Region, application_pk: int) -> ClinicApplication:
    return (
        ClinicApplication.objects.of_region(region)
        .filter(state__in=VISIBLE_STATES)
        .select_related("clinic", "decided_by", "region")
        .get(pk=application_pk)
    )
