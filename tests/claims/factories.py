"""Factories for tariffs, invoices and claims, and a small realistic tariff for tests."""

import datetime

import factory

from claims.models import (
    PATIENT_FEE_CODE,
    Claim,
    ClaimLine,
    ClaimState,
    Invoice,
    TariffRow,
    TariffVersion,
    ToothOrJaw,
)
from clinics.models import SupportForm
from portal.db import PreparedQuery
from tests.clinics.factories import ClinicFactory, RegionFactory, UserFactory
from tests.eligibility.factories import PatientFactory

ALL_FORMS = [SupportForm.N, SupportForm.F, SupportForm.S]

# code, description, price in öre (None: entered by the clinic), requires, needs FHB
STANDARD_ROWS = [
    (PATIENT_FEE_CODE, "Patientavgift (ange pris)", None, ToothOrJaw.NONE, False),
    ("101", "Basundersökning och diagnostik, utförd av tandläkare", 98000, ToothOrJaw.NONE, False),
    ("103", "Akut eller annan undersökning, utförd av tandläkare", 52000, ToothOrJaw.NONE, False),
    ("121", "Röntgenundersökning", 41000, ToothOrJaw.NONE, False),
    ("301", "Sjukdomsbehandling, mindre omfattande", 43000, ToothOrJaw.NONE, False),
    ("401", "Tanduttagning, en tand", 145000, ToothOrJaw.TOOTH, False),
    ("701", "Fyllning av en yta på framtand eller hörntand", 97000, ToothOrJaw.TOOTH, False),
    ("825", "Komplicerad partiell protes med metallskelett", 1270500, ToothOrJaw.JAW, False),
    ("825S", "Komplicerad partiell protes med metallskelett, specialist", 1519500, ToothOrJaw.JAW, True),
    ("901", "Tandteknisk kostnad, faktisk kostnad", None, ToothOrJaw.NONE, False),
]
# Codes STANDARD_ROWS marks repeatable: billed more than once for a patient on a day (TariffRow.repeatable).
REPEATABLE_CODES = {"901"}


class TariffVersionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TariffVersion

    region = factory.SubFactory(RegionFactory)
    name = factory.LazyAttribute(lambda o: f"Ersättningslista {o.valid_from.year}")
    valid_from = datetime.date(2026, 1, 1)
    valid_to = datetime.date(2026, 12, 31)


class TariffRowFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TariffRow

    version = factory.SubFactory(TariffVersionFactory)
    code = factory.Sequence(lambda n: str(200 + n))
    description = "Åtgärd"
    price = 50000
    requires = ToothOrJaw.NONE
    support_forms = factory.LazyFunction(lambda: list(ALL_FORMS))


def standard_tariff(region, year: int) -> TariffVersion:
    """A tariff version for the calendar year with the rows of STANDARD_ROWS."""
    version = TariffVersionFactory(
        region=region, valid_from=datetime.date(year, 1, 1), valid_to=datetime.date(year, 12, 31)
    )
    # One INSERT for the rows, not one each, of rows made as TariffRow (as TariffRowFactory.build would make them,
    # without its machinery ten times over): a small world's tariff is made in about every third fast test.
    TariffRow.objects.bulk_create(
        TariffRow(
            version=version,
            code=code,
            description=description,
            price=price,
            requires=requires,
            support_forms=list(ALL_FORMS),
            requires_prior_assessment=needs_fhb,
            repeatable=code in REPEATABLE_CODES,
        )
        for code, description, price, requires, needs_fhb in STANDARD_ROWS
    )
    return version


def tariff_for(region, day: datetime.date, *more_days: datetime.date) -> TariffVersion:
    """The region's version covering each day (the demo's regions have last year's and this year's), else the
    standard tariff for the day's year, made now; returns the first day's. The days' versions in one query."""
    days = (day, *more_days)
    versions = list(
        TariffVersion.objects.filter(region=region, valid_from__lte=max(days), valid_to__gte=min(days)).order_by(
            "-valid_from"
        )
    )
    for each in days:
        if not any(version.valid_from <= each <= version.valid_to for version in versions):
            versions.append(standard_tariff(region, each.year))
            versions.sort(key=lambda version: version.valid_from, reverse=True)
    return next(version for version in versions if version.valid_from <= day <= version.valid_to)


class InvoiceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Invoice

    clinic = factory.SubFactory(ClinicFactory)
    reference = factory.Sequence(lambda n: f"{7000 + n}")
    created_by = factory.SubFactory(UserFactory)


class ClaimFactory(factory.django.DjangoModelFactory):
    """A claim with one 101 line on `visit_date` (default 2026-10-01); give `tariff` to use real rows."""

    class Meta:
        model = Claim
        skip_postgeneration_save = True

    invoice = factory.SubFactory(InvoiceFactory)
    clinic = factory.SelfAttribute("invoice.clinic")
    reference = factory.Sequence(lambda n: f"R{n:06d}")
    patient = factory.SubFactory(PatientFactory)
    support_form = SupportForm.N
    state = ClaimState.RECEIVED
    total = 98000
    created_by = factory.SelfAttribute("invoice.created_by")

    @factory.post_generation
    def with_line(obj, create, extracted, **kwargs):
        if not create or extracted is False:
            return
        found = REGIONS_101.rows(region=obj.clinic.region_id)
        if found:
            ((row_id, price),) = found
        else:
            row = TariffRowFactory(version=TariffVersionFactory(region=obj.clinic.region), code="101", price=98000)
            row_id, price = row.pk, row.price
        ClaimLine.objects.create(
            claim=obj, position=1, visit_date=datetime.date(2026, 10, 1), code="101", tariff_row_id=row_id, amount=price
        )
        if obj.total != price:  # the default total is the standard 101's price: no UPDATE then
            obj.total = price
            obj.save(update_fields=["total"])


# The region's first 101 row, looked up for every claim ClaimFactory makes (thousands a run): compiled once.
REGIONS_101 = PreparedQuery(
    lambda region: (
        TariffRow.objects.filter(version__region=region, code="101").order_by("pk").values_list("pk", "price")[:1]
    ),
    region=int,
)
