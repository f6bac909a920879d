"""The demo's regional information (issue 15, point 8): one informationsbrev per region, published by its coordinator
through the service, valid from the day the demo loads, unread by everyone. Idempotent: a letter with the same title
in the region is left as it is."""

from __future__ import annotations

from collections import Counter

from django.utils import timezone

from clinics.models import Region, RegionMembership, RegionRole
from regioninfo import services
from regioninfo.models import Publication, PublicationKind

LETTERS = {
    "vg": (
        "Informationsbrev: nya rutiner för förhandsbedömning",
        "Från och med nästa månad skickas alla förhandsbedömningar för S-tandvård med röntgenbilder som bilagor.\n\n"
        "Tandvårdssamordningen, Västra Götalandsregionen",
    ),
    "dalarna": (
        "Informationsbrev: fribeloppet för nästa år",
        "Fribeloppet utan förhandsbedömning är oförändrat 20 000 kr per patient och kalenderår.\n\n"
        "Tandvårdsenheten, Region Dalarna",
    ),
}


def demo_information_load(counts: Counter) -> None:
    for code, (title, body) in LETTERS.items():
        region = Region.objects.filter(code=code).first()
        if region is None:
            continue
        if Publication.objects.of_region(region).filter(title=title).exists():
            counts["unchanged"] += 1
            continue
        coordinator = (
            RegionMembership.objects.of_region(region)
            .filter(role=RegionRole.COORDINATOR, is_active=True)
            .select_related("user")
            .order_by("pk")
            .first()
        )
        if coordinator is None:
            continue
        services.publication_publish(
            actor=coordinator.user,
            region=region,
            kind=PublicationKind.LETTER,
            title=title,
            body=body,
            valid_from=timezone.localdate(),
        )
        counts["created"] += 1
