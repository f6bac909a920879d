"""Demo API keys (issue 13): clinic 31's key is `tandportal-demo-31`, clinic 2001's `tandportal-demo-2001`.

Made through the service as a local administrator would make them, so they are stored hashed like any key.
Idempotent: a key already there (active or revoked in the demo) is left as it is.
"""

from __future__ import annotations

from collections import Counter

from clinics import services
from clinics.models import ApiKey, Clinic, ClinicMembership, ClinicRole

# clinic (region, number), the key's name, its secret
API_KEYS = (
    (("vg", "31"), "Demojournal", "tandportal-demo-31"),
    (("dalarna", "2001"), "Demojournal", "tandportal-demo-2001"),
)


def demo_api_keys_load(counts: Counter) -> None:
    for (region_code, number), name, secret in API_KEYS:
        clinic = Clinic.objects.filter(region__code=region_code, number=number).first()
        if clinic is None:
            continue
        if ApiKey.objects.filter(hash=services.api_key_hash(secret)).exists():
            counts["unchanged"] += 1
            continue
        admin = (
            ClinicMembership.objects.of_clinic(clinic)
            .filter(role=ClinicRole.LOCAL_ADMIN, is_active=True)
            .order_by("pk")
            .first()
        )
        services.api_key_create(actor=admin.user if admin else None, clinic=clinic, name=name, secret=secret)
        counts["created"] += 1
