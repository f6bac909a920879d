"""The demo's open application to join: a clinic in Dalarna has applied and confirmed its e-mail address, and waits
for the region administrator (regionadmin@demo.test → Dalarna → Ansökningar)."""

from __future__ import annotations

from collections import Counter

from clinics.models import Region
from onboarding import services
from onboarding.models import ClinicApplication

DEMO_APPLICATION = {
    "clinic_name": "Tandhälsan i Demoberg",
    "street_address": "Bergsgatan 12",
    "postal_code": "79171",
    "city": "Falun",
    "organisation_number": "5590123450",
    "gln": "7350000000023",
    "hsa_id": "",
    "payment_method": "bankgiro",
    "account_number": "5552047",
    "payout_email": "ekonomi@demoberg.test",
    "agreement_owner_name": "Agnes Avtalsdotter",
    "agreement_owner_email": "avtal@demoberg.test",
    "local_admin_name": "Love Lokal",
    "local_admin_email": "admin@demoberg.test",
}


def demo_applications_load(counts: Counter) -> None:
    region = Region.objects.get(code="dalarna")
    if (
        ClinicApplication.objects.of_region(region)
        .filter(organisation_number=DEMO_APPLICATION["organisation_number"])
        .exists()
    ):
        counts["unchanged"] += 1
        return
    application = services.application_submit(data={"region": region, **DEMO_APPLICATION})
    services.application_confirm(application=application)
    counts["created"] += 1
