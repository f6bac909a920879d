"""Every message of the spec's table, produced by an invoice file: each for the right Räkningsnummer, and
then only the correct claims sent. And the spec's example file, with the patients it names, passes."""

import datetime
from collections import defaultdict

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from billing.invoice_file_examples import invoice_file_example
from billing.invoice_file_services import (
    invoice_file_check,
    invoice_file_send,
    invoice_file_send_start,
    invoice_file_start,
)
from claims.models import Claim, InvoiceFileState, InvoiceSource
from claims.validation import billing_deadline_text
from eligibility.models import PriorAssessmentState
from tests.claims.factories import ClaimFactory
from tests.clinics.factories import ClinicFactory
from tests.eligibility.factories import CertificateFactory, PriorAssessmentFactory
from tests.kept import kept
from tests.worlds import SmallWorld

N_PATIENT = "200001012384"  # N certificate 764153 tills vidare in the region
S_PATIENT = "200001022383"  # no certificate, an approved FHB (S) at clinic 31 for 401 tand 36 and 101
NO_CERTIFICATE_PATIENT = "200001042399"  # no certificate at all
INVALID_PIN = "200001012385"  # wrong check digit


def sent(world, upload):
    """Ladda upp, then the sending as its task does it."""
    invoice_file_send_start(actor=world.biller, upload=upload)
    return invoice_file_send(upload=upload)


def _day(days_ago: int) -> str:
    return (timezone.localdate() - datetime.timedelta(days=days_ago)).isoformat()


def rakning(
    reference: str,
    pin: str = N_PATIENT,
    *,
    form: str = "N",
    certificate: str | None = None,
    care_model: str | None = None,
    category: str | None = None,
    fhb: str | None = None,
    day: str | None = None,
    fee: str | None = "200",
    actions: str = '<Atgard kod="101"/>',
) -> str:
    """One Rakning; an N claim takes certificate 764153 and care model K1 unless told otherwise."""
    if form == "N":
        certificate = "764153" if certificate is None else certificate
        care_model = "K1" if care_model is None else care_model
    optional = "".join(
        f"<{name}>{value}</{name}>"
        for name, value in (
            ("Intygsnummer", certificate),
            ("Vardmodell", care_model),
            ("Patientkategori", category),
            ("Forhandsbedomning", fhb),
        )
        if value
    )
    fee_element = f'<Patientavgift belopp="{fee}"/>' if fee is not None else ""
    return f"""
  <Rakning>
    <Rakningsreferens>{reference}</Rakningsreferens>
    <Personnummer>{pin}</Personnummer>
    <Stodform>{form}</Stodform>
    {optional}
    <Besok datum="{day or _day(5)}">{fee_element}{actions}</Besok>
  </Rakning>"""


def fakturafil(claims: list[str], *, reference: str = "MSG-F-1", clinic: str = "31") -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Fakturafil xmlns="urn:se:tandvardsstod:fakturafil:1" version="1">
  <Huvud>
    <Kliniknummer>{clinic}</Kliniknummer>
    <Fakturareferens>{reference}</Fakturareferens>
    <Skapad>{timezone.localdate().isoformat()}T08:00:00</Skapad>
    <Programvara>Testjournal 1.0</Programvara>
  </Huvud>{"".join(claims)}
</Fakturafil>
""".encode()


def checked(world, content: bytes):
    """Store the file through the upload service and run the check as the task does."""
    started = invoice_file_start(
        actor=world.biller, clinic=world.clinic, uploaded=SimpleUploadedFile("fakturafil.xml", content)
    )
    assert not started.earlier
    return invoice_file_check(upload=started.upload)


def faults_by_reference(upload) -> dict[str, list[str]]:
    found = defaultdict(list)
    for fault in upload.faults.order_by("claim_index", "pk"):
        found[fault.claim_reference].append(fault.message)
    return dict(found)


def _file_world() -> SmallWorld:
    """The small world with what the files name, as the demo has it: clinic 31; N_PATIENT's N certificate 764153
    tills vidare; S_PATIENT's approved S prior assessment at the clinic for 401 tand 36 and 101; a claim of the
    clinic's, whose reference is used; the tariff of every visit (the one in the future too)."""
    world = SmallWorld()
    today = timezone.localdate()
    world.clinic = ClinicFactory(region=world.region, number="31")
    world.tariff(*(today - datetime.timedelta(days=days) for days in (5, 8, 10, 240, -3)))
    CertificateFactory(
        patient__personal_identity_number=N_PATIENT,
        region=world.region,
        number="764153",
        valid_from=today - datetime.timedelta(days=400),
    )
    assessment = PriorAssessmentFactory(
        clinic=world.clinic,
        patient__personal_identity_number=S_PATIENT,
        support_form="S",
        state=PriorAssessmentState.APPROVED,
        valid_until=today + datetime.timedelta(days=180),
    )
    assessment.lines.filter(code="401").update(tooth="36")
    for line in assessment.lines.all():
        line.approved, line.approved_amount = True, line.estimated_price
        line.save(update_fields=["approved", "approved_amount"])
    ClaimFactory(invoice__clinic=world.clinic, invoice__created_by=world.biller)
    world.fhb = assessment
    return world


# The same world for each test of the files: made once per module (tests/kept.py). A module that imports
# `file_world` imports `file_world_made` with it.
file_world_made = kept(_file_world, "file_world_made")


@pytest.fixture
def file_world(file_world_made, db) -> SmallWorld:
    return file_world_made.fresh()


@pytest.fixture
def fhb_number(file_world) -> str:
    return file_world.fhb.number


def test_every_message_of_the_table_for_its_claim_and_only_the_correct_claims_are_sent(file_world, fhb_number):
    used_before = Claim.objects.filter(clinic=file_world.clinic).values_list("reference", flat=True).first()
    assert used_before
    future, too_old, recent = _day(-3), _day(240), _day(5)
    s_claim = {"pin": S_PATIENT, "form": "S", "category": "S3", "fhb": fhb_number}
    claims = {
        # Correct: N with a fixed-price code and a jaw; S within its FHB; an entered price and patAvg as the fee.
        "MSG-OK-1": rakning("MSG-OK-1", actions='<Atgard kod="101"/><Atgard kod="825" kak="UK"/>'),
        "MSG-OK-2": rakning("MSG-OK-2", **s_claim, actions='<Atgard kod="401" tand="36"/>'),
        "MSG-OK-3": rakning(
            "MSG-OK-3",
            day=_day(8),  # another visit than MSG-OK-1's: the same 101 on its day would be duplicate care
            fee=None,
            actions='<Atgard kod="101"/><Atgard kod="901" pris="350"/><Atgard kod="patAvg" pris="200"/>',
        ),
        # Faulty.
        used_before: rakning(used_before),
        "MSG-TWICE": rakning("MSG-TWICE") + rakning("MSG-TWICE"),
        "MSG-PIN": rakning("MSG-PIN", INVALID_PIN),
        "MSG-NO-CERT": rakning("MSG-NO-CERT", NO_CERTIFICATE_PATIENT),
        "MSG-FHB-BAD": rakning(
            "MSG-FHB-BAD", **{**s_claim, "fhb": "FHB-2000-999999"}, actions='<Atgard kod="401" tand="36"/>'
        ),
        "MSG-S-NO-FHB": rakning("MSG-S-NO-FHB", **{**s_claim, "fhb": None}, actions='<Atgard kod="401" tand="36"/>'),
        "MSG-MIXED": rakning(
            "MSG-MIXED", **s_claim, actions='<Atgard kod="401" tand="36"/><Atgard kod="825" kak="UK"/>'
        ),
        "MSG-CODE": rakning("MSG-CODE", actions='<Atgard kod="999"/>'),
        "MSG-TOOTH": rakning("MSG-TOOTH", actions='<Atgard kod="401"/><Atgard kod="101" tand="11"/>'),
        "MSG-JAW": rakning("MSG-JAW", actions='<Atgard kod="825"/><Atgard kod="101" kak="UK"/>'),
        "MSG-PRICE": rakning("MSG-PRICE", actions='<Atgard kod="901"/><Atgard kod="101" pris="950"/>'),
        "MSG-FUTURE": rakning("MSG-FUTURE", day=future),
        "MSG-OLD": rakning("MSG-OLD", day=too_old),
        "MSG-NO-FEE": rakning("MSG-NO-FEE", fee=None),
        "MSG-NO-MODEL": rakning("MSG-NO-MODEL", care_model=""),
        "MSG-NO-CATEGORY": rakning(
            "MSG-NO-CATEGORY", **{**s_claim, "category": None}, actions='<Atgard kod="401" tand="36"/>'
        ),
        "MSG-SCHEMA": rakning("MSG-SCHEMA", "20000101238X"),
    }
    upload = checked(file_world, fakturafil(list(claims.values())))

    assert upload.state == InvoiceFileState.CHECKED, upload.failure_message
    assert upload.claim_count == 21
    faults = faults_by_reference(upload)
    used = "Räkningsreferensen har redan använts, använd ett annat"
    expected = {
        used_before: [used],
        "MSG-TWICE": [used, used],  # one for each of the two claims
        "MSG-PIN": ["Personnumret är ogiltigt."],
        "MSG-NO-CERT": ["Patienten saknar giltigt intyg för N-tandvård."],
        "MSG-FHB-BAD": ["Räkningens förhandsbedömningsnummer FHB-2000-999999 är ogiltigt."],
        "MSG-S-NO-FHB": ["S-tandvård kräver förhandsbedömning."],
        "MSG-MIXED": ["Förhandsbedömd vård kan inte faktureras i samma räkning som icke-förhandsbedömd vård."],
        "MSG-CODE": [f"Åtgärdskod 999 finns inte i ersättningslistan för {recent}."],
        "MSG-TOOTH": ["Åtgärd 401 kräver tand.", "Åtgärd 101 ska inte ha tand."],
        "MSG-JAW": ["Åtgärd 825 kräver käke (ÖK eller UK).", "Åtgärd 101 ska inte ha käke."],
        "MSG-PRICE": ["Ange pris för åtgärd 901.", "Åtgärd 101 har fast pris i ersättningslistan; ange inget pris."],
        "MSG-FUTURE": [f"Besöksdatum {future} ligger i framtiden."],
        "MSG-OLD": [f"Vård utförd {too_old} är äldre än {billing_deadline_text(file_world.region)} och ersätts inte."],
        "MSG-NO-FEE": [f"Patientavgift saknas för besöket {recent}."],
        "MSG-NO-MODEL": ["Ange vårdmodell för N-tandvård."],
        "MSG-NO-CATEGORY": ["Ange patientkategori för S-tandvård."],
    }
    for reference, messages in expected.items():
        for message in messages:
            assert message in faults.get(reference, []), (reference, message, faults.get(reference))
        assert faults[reference].count(used) == messages.count(used)
    assert faults["MSG-TWICE"].count(used) == 2
    # The schema's complaint names the element.
    assert any(message.startswith("Elementet Personnummer") for message in faults["MSG-SCHEMA"]), faults["MSG-SCHEMA"]
    # The correct claims have no fault rows; every faulty claim has at least one.
    assert not {"MSG-OK-1", "MSG-OK-2", "MSG-OK-3"} & faults.keys()
    assert faults.keys() == set(expected) | {"MSG-SCHEMA"}
    assert (upload.faulty_count, upload.correct_count) == (18, 3)
    # The fault rows carry the clinic and the personnummer as written.
    pin_row = upload.faults.get(claim_reference="MSG-PIN")
    assert (pin_row.clinic_number, pin_row.personal_identity_number) == ("31", INVALID_PIN)

    invoice = sent(file_world, upload)

    assert (invoice.clinic, invoice.reference, invoice.source) == (file_world.clinic, "MSG-F-1", InvoiceSource.FILE)
    assert sorted(invoice.claims.values_list("reference", flat=True)) == ["MSG-OK-1", "MSG-OK-2", "MSG-OK-3"]
    assert not Claim.objects.filter(clinic=file_world.clinic, reference__in=set(expected) - {used_before}).exists()
    assert Claim.objects.filter(clinic=file_world.clinic, reference=used_before).count() == 1
    upload.refresh_from_db()
    assert (upload.state, upload.invoice) == (InvoiceFileState.SENT, invoice)


def test_the_example_file_from_the_spec_passes_with_the_patients_it_names(file_world, fhb_number):
    # The example names the first FHB of the year (the demo's); here the small world's stands in for it.
    content = invoice_file_example(today=timezone.localdate())
    demo_number = f"FHB-{timezone.localdate().year}-000001"
    assert demo_number in content
    content = content.replace(demo_number, fhb_number)

    upload = checked(file_world, content.encode())

    assert upload.state == InvoiceFileState.CHECKED, upload.failure_message
    assert list(upload.faults.values_list("claim_reference", "message")) == []
    assert (upload.claim_count, upload.faulty_count, upload.correct_count) == (2, 0, 2)

    invoice = sent(file_world, upload)

    assert invoice.reference == "212962"
    assert sorted(invoice.claims.values_list("reference", flat=True)) == ["980890", "980891"]


def test_a_visits_fee_given_twice_in_a_file_is_the_validations_fault(file_world):
    # Two Besok of one date, each with its fee: the validation's words, as for a claim with a patAvg line too.
    day = _day(5)
    visit = f'<Besok datum="{day}"><Patientavgift belopp="200"/><Atgard kod="103"/></Besok>'
    twice = rakning("MSG-FEE-TWICE").replace(f'<Besok datum="{day}">', visit + f'<Besok datum="{day}">', 1)
    upload = checked(file_world, fakturafil([twice, rakning("MSG-FEE-OK")], reference="MSG-F-FEE"))

    assert faults_by_reference(upload) == {
        "MSG-FEE-TWICE": [f"Patientavgiften för besöket {day} är angiven två gånger."]
    }
    assert list(upload.faults.values_list("code", flat=True)) == ["patient_fee_given_twice"]


def test_a_file_checked_in_swedish_is_read_in_english_by_a_reader_in_english(file_world):
    from django.utils import translation

    upload = checked(
        file_world,
        fakturafil([rakning("MSG-EN-1", INVALID_PIN), rakning("MSG-EN-2", NO_CERTIFICATE_PATIENT, form="F")]),
    )
    faults = list(upload.faults.order_by("claim_index", "pk"))
    assert {fault.message for fault in faults} >= {"Personnumret är ogiltigt."}
    # The words as made stay (the error list as the clinic saw it); the reader's language says them again.
    with translation.override("en"):
        english = [fault.text for fault in faults]
    with translation.override("sv"):
        swedish = [fault.text for fault in faults]
    assert swedish == [fault.message for fault in faults]
    assert "The personal identity number is invalid." in english
    assert all(said != made for said, made in zip(english, swedish, strict=True)), english
