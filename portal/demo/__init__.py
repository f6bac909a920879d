"""Load fixtures/demo.json idempotently: a second load finds everything in place and changes nothing."""

from __future__ import annotations

import datetime
import hashlib
import json
import re
from collections import Counter
from pathlib import Path

from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from clinics.models import (
    CareModel,
    Clinic,
    ClinicMembership,
    Organisation,
    OrganisationMembership,
    PatientCategory,
    Region,
    RegionMembership,
    User,
)

from .accounts import demo_account_changes_load
from .agreements import demo_agreements_load
from .api_keys import demo_api_keys_load
from .applications import demo_applications_load
from .history import demo_history_load
from .information import demo_information_load
from .invoices import demo_invoices_load
from .payouts import demo_payouts_load
from .review import review_demo_load
from .two_factor import demo_two_factor_load

DEMO_PASSWORD = "tandvard-demo"
DEMO_FILE = Path(settings.BASE_DIR) / "fixtures" / "demo.json"
# <region code>-last-year.csv and <region code>-this-year.csv: the region's ersättningslistor for last year and
# this year, dated by the year of the day the demo loads (the demo's claims are dated relative to that day too).
DEMO_TARIFFS = Path(settings.BASE_DIR) / "fixtures" / "tariffs"
DEMO_TARIFF_YEARS = {"last-year": -1, "this-year": 0}
_DEMO_TARIFF_NAME = re.compile(r"(?P<region>[a-z0-9]+)-(?P<role>last-year|this-year)")


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
    # Umbrella organisations over some of a region's clinics (Folktandvården Demo over 31 and 32).
    organisations: dict[tuple[str, str], Organisation] = {}
    for item in data.get("organisations", []):
        region = regions[item["region"]]
        organisation = upsert(
            Organisation,
            {"region": region, "organisation_number": item["organisation_number"]},
            {"name": item["name"]},
            counts,
        )
        organisations[(region.code, organisation.organisation_number)] = organisation
        for number in item["clinics"]:
            upsert(Clinic, {"region": region, "number": number}, {"organisation": organisation}, counts)
    for item in data["users"]:
        user = User.objects.filter(email=item["email"]).first()
        if user is None:
            user = User.objects.create_user(
                email=item["email"],
                password=DEMO_PASSWORD,
                name=item["name"],
                is_system_admin=item.get("system_admin", False),
            )
            counts["created"] += 1
        else:
            values = {"name": item["name"], "is_system_admin": item.get("system_admin", False)}
            user = upsert(User, {"email": item["email"]}, values, counts)
        for region_code, number, role in item.get("clinics", []):
            upsert(
                ClinicMembership,
                {"user": user, "clinic": clinics[(region_code, number)]},
                {"role": role, "is_active": True},
                counts,
            )
        for region_code, organisation_number, role in item.get("organisations", []):
            upsert(
                OrganisationMembership,
                {"user": user, "organisation": organisations[(region_code, organisation_number)]},
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
    # The agreements before any claim: a clinic sends claims only under a signed agreement.
    demo_agreements_load(counts)
    # The tariffs before the patients: the demo's prior assessments are priced from them.
    _load_tariffs(regions, counts)
    _load_patients(data.get("patients", []), regions, clinics, counts)
    _load_payouts(counts)
    _load_invoices(counts)
    _load_review(counts)
    demo_account_changes_load(counts)  # after the payouts: the paid run went to 32's plusgiro
    demo_two_factor_load(counts)
    demo_api_keys_load(counts)
    demo_information_load(counts)
    demo_applications_load(counts)
    return counts


def demo_invoice_files_write(directory: Path) -> list[Path]:
    """The example invoice files, dated relative to today, for the demo's biller to upload at clinic 31."""
    from billing.invoice_file_examples import invoice_file_examples_write

    return invoice_file_examples_write(directory)


def demo_date(value: str | None, today: datetime.date) -> datetime.date | None:
    """A date in demo.json: ISO, or relative to the day of loading so the demo stays true over time."""
    if value is None:
        return None
    relative = {
        "@today": today,
        "@start_of_this_year": today.replace(month=1, day=1),
        "@end_of_this_year": today.replace(month=12, day=31),
        "@start_of_last_year": today.replace(year=today.year - 1, month=1, day=1),
        "@end_of_last_year": today.replace(year=today.year - 1, month=12, day=31),
        "@end_of_next_year": today.replace(year=today.year + 1, month=12, day=31),
        "@mid_last_month": (today - relativedelta(months=1)).replace(day=15),
    }
    return relative[value] if value.startswith("@") else datetime.date.fromisoformat(value)


def _load_patients(items: list[dict], regions: dict, clinics: dict, counts: Counter) -> None:
    from claims.tariffs import TariffBook
    from eligibility.models import Certificate, FreeCard, Patient, PriorAssessment
    from eligibility.services import prior_assessment_decide, prior_assessment_request
    from portal.money import parse_kronor

    today = timezone.localdate()
    for item in items:
        pin = item["personal_identity_number"]
        patient = upsert(Patient, {"personal_identity_number": pin}, {}, counts)
        for cert in item.get("certificates", []):
            upsert(
                Certificate,
                {"region": regions[cert["region"]], "number": cert["number"]},
                {
                    "patient": patient,
                    "support_form": cert["support_form"],
                    "group": cert["group"],
                    "valid_from": demo_date(cert["valid_from"], today),
                    "valid_to": demo_date(cert["valid_to"], today),
                    "revoked_from": demo_date(cert.get("revoked_from"), today),
                    "revocation_reason": cert.get("revocation_reason", ""),
                },
                counts,
            )
        for card in item.get("free_cards", []):
            upsert(
                FreeCard,
                {"region": clinics[tuple(card["clinic"])].region, "number": card["number"]},
                {
                    "patient": patient,
                    "valid_from": demo_date(card["valid_from"], today),
                    "valid_to": demo_date(card["valid_to"], today),
                    "registered_by": User.objects.get(email=card["registered_by"]),
                    "registered_at_clinic": clinics[tuple(card["clinic"])],
                },
                counts,
            )
        for request in item.get("prior_assessments", []):
            clinic = clinics[tuple(request["clinic"])]
            found = PriorAssessment.objects.filter(
                clinic=clinic, patient=patient, justification=request["justification"]
            ).exists()
            if found:
                counts["unchanged"] += 1
                continue
            # Priced as the clinic's request form prices them: the tariff's price on the planned day where the
            # tariff has one; the demo file's estimate only for codes whose price the clinic enters.
            tariff = TariffBook(clinic.region)

            def estimated_price(line: dict, tariff=tariff) -> int:
                row = tariff.row(today, line["code"])
                if row is not None and row.price is not None:
                    return row.price
                return parse_kronor(line["estimated_price"])

            # Through the services, as a clinic and a coordinator would: numbered, audited, with history.
            assessment = prior_assessment_request(
                actor=User.objects.get(email=request["requested_by"]),
                clinic=clinic,
                personal_identity_number=pin,
                support_form=request["support_form"],
                justification=request["justification"],
                lines=[
                    {
                        "code": line["code"],
                        "tooth": line.get("tooth", ""),
                        "jaw": line.get("jaw", ""),
                        "estimated_price": estimated_price(line),
                    }
                    for line in request["lines"]
                ],
                attachments=[],
                planned_date=today,
            )
            prior_assessment_decide(
                actor=User.objects.get(email=request["decided_by"]),
                assessment=assessment,
                approved_amounts={line.pk: line.estimated_price for line in assessment.lines.all()},
                reason=request["reason"],
            )
            counts["created"] += 1


def _demo_tariff_files() -> list[tuple[str, int, Path]]:
    """(region code, years before this year, path) of each demo tariff file, last year's first."""
    files = []
    for path in DEMO_TARIFFS.glob("*.csv"):
        match = _DEMO_TARIFF_NAME.fullmatch(path.stem)
        if match is None:
            raise ValueError(f"{path.name}: a demo tariff is named <region>-last-year.csv or <region>-this-year.csv")
        files.append((match["region"], DEMO_TARIFF_YEARS[match["role"]], path))
    return sorted(files, key=lambda item: (item[1], item[0]))


def _load_tariffs(regions: dict[str, Region], counts: Counter, *, today: datetime.date | None = None) -> None:
    """Last year's and this year's list of each region, named and dated by the year of today, each file through
    the import service as the region's coordinator would read it in. The same file again for the same year is
    found unchanged by the import (same content, same period). A year that already has another list is left as
    it is: the demo never replaces a list, be it one a coordinator read in or this year's list of a load in an
    earlier year (now last year's, and last year's file is not the same)."""
    from django.core.files.base import ContentFile

    from claims.models import TariffVersion
    from claims.tariffs import tariff_import
    from clinics.models import RegionRole

    this_year = (today or timezone.localdate()).year
    for region_code, offset, path in _demo_tariff_files():
        region = regions[region_code]
        year = this_year + offset
        valid_from, valid_to = datetime.date(year, 1, 1), datetime.date(year, 12, 31)
        content = path.read_bytes()
        existing = TariffVersion.objects.filter(region=region, valid_from=valid_from).first()
        if existing is not None and (existing.source_sha256, existing.valid_to) != (
            hashlib.sha256(content).hexdigest(),
            valid_to,
        ):
            counts["unchanged"] += 1
            continue
        coordinator = (
            User.objects.filter(
                region_memberships__region=region,
                region_memberships__role=RegionRole.COORDINATOR,
                region_memberships__is_active=True,
            )
            .order_by("email")
            .first()
        )
        result = tariff_import(
            actor=coordinator,
            region=region,
            # Named as a coordinator would have named the file of that year.
            uploaded=ContentFile(content, name=f"{region_code}-{year}.csv"),
            name=f"Ersättningslista {year}",
            valid_from=valid_from,
            valid_to=valid_to,
        )
        counts["created" if result.created else "unchanged"] += 1


def _load_invoices(counts: Counter) -> None:
    """Invoices in every state at clinics 31 and 2001, through the claim services (after the tariffs)."""
    # Past months of paid claims first, for the coordinator's start page: their payout runs come before the
    # credits of the demo invoices, which so wait for the next run to be set off (the preview shows it).
    demo_history_load(counts)
    demo_invoices_load(counts)


def _load_payouts(counts: Counter) -> None:
    """A paid payout run in the past for Västra Götaland; before the invoices, which it must not take."""
    demo_payouts_load(counts)


def _load_review(counts: Counter) -> None:
    """Review rules for Västra Götaland and questions on the demo claims under review (after the invoices)."""
    review_demo_load(counts)
