"""Factories for patients, certificates, free cards and prior assessments (test personnummer only)."""

import datetime

import factory
from django.core.files.base import ContentFile

from clinics.models import SupportForm
from eligibility import services
from eligibility.models import (
    Certificate,
    FreeCard,
    Patient,
    PriorAssessment,
    PriorAssessmentAttachment,
    PriorAssessmentLine,
    PriorAssessmentState,
)
from tests.clinics.factories import ClinicFactory, GetOrCreateFactory, UserFactory
from tests.testdata import TEST_PERSONNUMMER

# Test numbers the demo data does not use, from shared/data/testpersonnummer.txt (via tests/testdata.py).
TEST_PINS = TEST_PERSONNUMMER[8:26]
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


class PatientFactory(GetOrCreateFactory):
    class Meta:
        model = Patient
        django_get_or_create = ("personal_identity_number",)

    personal_identity_number = factory.Iterator(TEST_PINS)


class CertificateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Certificate

    patient = factory.SubFactory(PatientFactory)
    # A clinic's region unless the test gives one (a Params entry was made, and a clinic and region with it, even
    # when the test gave the region: two INSERTs per certificate for nothing).
    region = factory.LazyFunction(lambda: ClinicFactory().region)
    support_form = SupportForm.N
    number = factory.Sequence(lambda n: f"T{n:06d}")
    group = "N1"
    valid_from = datetime.date(2024, 1, 1)
    valid_to = None


class FreeCardFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = FreeCard

    patient = factory.SubFactory(PatientFactory)
    number = factory.Sequence(lambda n: f"FK{n:05d}")
    valid_from = datetime.date(2026, 1, 1)
    valid_to = datetime.date(2026, 12, 31)
    registered_by = factory.SubFactory(UserFactory)
    # A card is the region's where a clinic registered it; pass `region` alone for a card of that region.
    registered_at_clinic = factory.Maybe(
        "region", no_declaration=factory.SubFactory(ClinicFactory), yes_declaration=None
    )
    region = factory.LazyAttribute(lambda card: card.registered_at_clinic.region)


class PriorAssessmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PriorAssessment
        skip_postgeneration_save = True  # the lines hook creates rows of its own; the assessment is unchanged

    number = factory.Sequence(lambda n: f"FHB-2099-{n:06d}")
    clinic = factory.SubFactory(ClinicFactory)
    region = factory.SelfAttribute("clinic.region")
    patient = factory.SubFactory(PatientFactory)
    support_form = SupportForm.S
    justification = "Planerad sjukdomsbehandling."
    state = PriorAssessmentState.SUBMITTED
    created_by = factory.SubFactory(UserFactory)

    @factory.post_generation
    def lines(obj, create, extracted, **kwargs):
        if create:
            for position, (code, price) in enumerate(extracted or [("401", 145000), ("101", 98000)], start=1):
                PriorAssessmentLine.objects.create(assessment=obj, position=position, code=code, estimated_price=price)


class PriorAssessmentAttachmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PriorAssessmentAttachment

    assessment = factory.SubFactory(PriorAssessmentFactory)
    file = factory.LazyFunction(lambda: ContentFile(PNG, name="rontgen.png"))
    original_name = "röntgen.png"
    content_type = "image/png"
    size = len(PNG)
    sha256 = "0" * 64
    uploaded_by = factory.SubFactory(UserFactory)


def approved_prior_assessment(world, *, pin: str, clinic=None):
    """An S prior assessment for extraction of 36 and an examination (401, 101), requested by the world's biller
    at `clinic` (the world's clinic unless told) and approved by its coordinator at the estimates."""
    assessment = services.prior_assessment_request(
        actor=world.biller,
        clinic=clinic or world.clinic,
        personal_identity_number=pin,
        support_form=SupportForm.S,
        justification="Extraktion av tand 36 inför strålbehandling.",
        lines=[{"code": "401", "tooth": "36", "estimated_price": 145000}, {"code": "101", "estimated_price": 98000}],
        attachments=[],
    )
    services.prior_assessment_decide(
        actor=world.coordinator,
        assessment=assessment,
        approved_amounts={line.pk: line.estimated_price for line in assessment.lines.all()},
        reason="Enligt underlaget.",
    )
    assessment.refresh_from_db()
    return assessment
