"""Reads about clinics, regions and memberships, always from the point of view of one user."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet
from django.urls import reverse

from .models import Clinic, ClinicMembership, Region, RegionMembership


@dataclass(frozen=True)
class Place:
    """A clinic or region the user may work for, as listed on *Välj klinik*."""

    kind: str  # "clinic" or "region"
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


def user_regions(*, user) -> QuerySet[Region]:
    """Regions the user works in or bills, for the support page."""
    return Region.objects.filter(clinics__memberships__user=user, clinics__memberships__is_active=True).union(
        Region.objects.filter(memberships__user=user, memberships__is_active=True)
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
