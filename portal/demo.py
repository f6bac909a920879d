"""Load fixtures/demo.json idempotently: a second load finds everything in place and changes nothing."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from django.conf import settings
from django.db import models, transaction

from clinics.models import CareModel, Clinic, ClinicMembership, PatientCategory, Region, RegionMembership, User

DEMO_PASSWORD = "tandvard-demo"
DEMO_FILE = Path(settings.BASE_DIR) / "fixtures" / "demo.json"


def upsert(model: type[models.Model], lookup: dict, values: dict, counts: Counter) -> models.Model:
    """Create the row, or bring it to `values`; count what happened."""
    obj = model.objects.filter(**lookup).first()
    if obj is None:
        obj = model.objects.create(**lookup, **values)
        counts["created"] += 1
        return obj
    changed = [name for name, value in values.items() if getattr(obj, name) != value]
    if changed:
        for name in changed:
            setattr(obj, name, values[name])
        obj.save(update_fields=changed)
        counts["changed"] += 1
    else:
        counts["unchanged"] += 1
    return obj


@transaction.atomic
def demo_load(path: Path = DEMO_FILE) -> Counter:
    data = json.loads(path.read_text(encoding="utf-8"))
    counts: Counter = Counter()
    regions: dict[str, Region] = {}
    for item in data["regions"]:
        item = dict(item)
        care_models = item.pop("care_models")
        categories = item.pop("patient_categories")
        code = item.pop("code")
        regions[code] = region = upsert(Region, {"code": code}, item, counts)
        for model_code, name in care_models:
            upsert(CareModel, {"region": region, "code": model_code}, {"name": name}, counts)
        for form, category_code, name in categories:
            upsert(
                PatientCategory, {"region": region, "code": category_code}, {"support_form": form, "name": name}, counts
            )
    clinics: dict[tuple[str, str], Clinic] = {}
    for item in data["clinics"]:
        item = dict(item)
        region = regions[item.pop("region")]
        number = item.pop("number")
        clinics[(region.code, number)] = upsert(Clinic, {"region": region, "number": number}, item, counts)
    for item in data["users"]:
        user = User.objects.filter(email=item["email"]).first()
        if user is None:
            user = User.objects.create_user(email=item["email"], password=DEMO_PASSWORD, name=item["name"])
            counts["created"] += 1
        else:
            user = upsert(User, {"email": item["email"]}, {"name": item["name"]}, counts)
        for region_code, number, role in item.get("clinics", []):
            upsert(
                ClinicMembership,
                {"user": user, "clinic": clinics[(region_code, number)]},
                {"role": role, "is_active": True},
                counts,
            )
        for region_code, role in item.get("regions", []):
            upsert(
                RegionMembership,
                {"user": user, "region": regions[region_code], "role": role},
                {"is_active": True},
                counts,
            )
    return counts
