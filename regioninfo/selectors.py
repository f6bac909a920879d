"""Reads of the region's information: what a clinic's user sees (and has read), and the region's list with counts."""

from __future__ import annotations

import datetime

from django.db.models import Count, Exists, OuterRef, QuerySet

from clinics.models import ClinicMembership, Region, User

from .models import Publication, PublicationRead


def _with_read(queryset: QuerySet, user: User) -> QuerySet:
    return queryset.annotate(is_read=Exists(PublicationRead.objects.filter(publication=OuterRef("pk"), user=user)))


def clinic_publications(*, region: Region, user: User, today: datetime.date) -> list[Publication]:
    """Dokument: everything of the region the clinics see today, newest first, each with `is_read` for `user`."""
    return list(_with_read(Publication.objects.of_region(region).visible(today), user))


def clinic_unread(*, region: Region, user: User, today: datetime.date) -> list[Publication]:
    """What `user` has not opened yet, for the clinic's start page."""
    return [
        publication
        for publication in clinic_publications(region=region, user=user, today=today)
        if not publication.is_read
    ]


def clinic_publication_get(*, region: Region, publication_pk: int, today: datetime.date) -> Publication:
    """One publication the clinics of `region` see today; another region's, a future or a withdrawn one:
    DoesNotExist."""
    return Publication.objects.of_region(region).visible(today).get(pk=publication_pk)


def region_publication_get(*, region: Region, publication_pk: int) -> Publication:
    return Publication.objects.of_region(region).select_related("published_by", "withdrawn_by").get(pk=publication_pk)


def region_publications(*, region: Region) -> list[Publication]:
    """The region's list: every publication, withdrawn too, with how many have read it (`read_count`)."""
    return list(
        Publication.objects.of_region(region).select_related("published_by").annotate(read_count=Count("reads"))
    )


def region_readers_possible(*, region: Region) -> int:
    """How many people may read the region's information: the active users of its active clinics."""
    return (
        ClinicMembership.objects.of_region(region)
        .filter(is_active=True, clinic__is_active=True, user__is_active=True)
        .values("user")
        .distinct()
        .count()
    )


def publication_reads(*, publication: Publication) -> list[PublicationRead]:
    """Who read it and when, first reader first."""
    return list(
        PublicationRead.objects.of_region(publication.region_id)
        .filter(publication=publication)
        .select_related("user")
        .order_by("read_at", "pk")
    )
