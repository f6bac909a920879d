"""An umbrella organisation's invoice file: Huvud names the organisation (Organisationsnummer), each Rakning its
clinic (Kliniknummer); each claim is checked for its own clinic and the sending makes one invoice per clinic. A
clinic outside the organisation, or one the person may not bill for, is a fault of that claim only."""

import datetime
import io
import re

import lxml.html
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from billing.invoice_file import parse_invoice_file
from claims.models import Claim, Invoice, InvoiceFileFault, InvoiceFileState, InvoiceFileUpload, InvoiceSource
from tests.claims.factories import ClaimFactory, InvoiceFactory

GOOD_PIN = "200001012384"  # an N certificate (764153) in Västra Götaland: good at clinics 31 and 32 alike
ORGANISATION_NUMBER = "5566778899"  # Folktandvården Demo, over clinics 31 and 32 in the demo


def _claim(reference: str, clinic: str | None) -> str:
    number = int(re.search(r"(\d*)$", reference).group(1) or 0)
    day = timezone.localdate() - datetime.timedelta(days=5 + number)
    clinic_element = f"<Kliniknummer>{clinic}</Kliniknummer>" if clinic is not None else ""
    return f"""
  <Rakning>
    <Rakningsreferens>{reference}</Rakningsreferens>
    {clinic_element}
    <Personnummer>{GOOD_PIN}</Personnummer>
    <Stodform>N</Stodform>
    <Intygsnummer>764153</Intygsnummer>
    <Vardmodell>K1</Vardmodell>
    <Besok datum="{day.isoformat()}">
      <Patientavgift belopp="200"/>
      <Atgard kod="101"/>
    </Besok>
  </Rakning>"""


def organisation_xml(claims: list[str], *, number: str = ORGANISATION_NUMBER, reference: str = "F-8001") -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Fakturafil xmlns="urn:se:tandvardsstod:fakturafil:1" version="1">
  <Huvud>
    <Organisationsnummer>{number}</Organisationsnummer>
    <Fakturareferens>{reference}</Fakturareferens>
    <Skapad>2026-01-01T08:00:00</Skapad>
  </Huvud>{"".join(claims)}
</Fakturafil>
""".encode()


@pytest.fixture
def organisation_user(client, world):
    client.force_login(world.user("organisation@demo.test"))
    return client


def _upload(client, clinic, content: bytes, capture) -> InvoiceFileUpload:
    url = reverse("invoice_file_upload", kwargs={"clinic_pk": clinic.pk})
    with capture(execute=True):
        response = client.post(url, {"file": SimpleUploadedFile("org.xml", content, content_type="text/xml")})
    assert response.status_code == 302, response.content[:500]
    return InvoiceFileUpload.objects.of_clinic(clinic).latest("created_at")


def _send(client, upload, capture):
    url = reverse("invoice_file_send", kwargs={"clinic_pk": upload.clinic_id, "upload_pk": upload.pk})
    with capture(execute=True):
        return client.post(url)


def _faults(upload) -> list[tuple[str, str, str]]:
    return list(
        InvoiceFileFault.objects.of_clinic(upload.clinic)
        .filter(upload=upload)
        .order_by("claim_index", "pk")
        .values_list("clinic_number", "claim_reference", "message")
    )


def test_the_parser_reads_the_organisation_and_each_claims_clinic():
    parsed = parse_invoice_file(io.BytesIO(organisation_xml([_claim("ORG-1", "31"), _claim("ORG-2", None)])))
    with parsed:
        claims = list(parsed.claims)
    assert (parsed.header.organisation_number, parsed.header.clinic_number) == (ORGANISATION_NUMBER, "")
    assert [(claim.clinic_number, claim.faults) for claim in claims] == [("31", []), ("", [])]


def test_two_clinics_in_one_file_are_checked_and_sent_as_one_invoice_per_clinic(
    organisation_user, world, django_capture_on_commit_callbacks
):
    content = organisation_xml([_claim("ORG-1", "31"), _claim("ORG-2", "32"), _claim("ORG-3", "32")])
    upload = _upload(organisation_user, world.clinic31, content, django_capture_on_commit_callbacks)
    assert (upload.state, upload.claim_count, upload.faulty_count) == (InvoiceFileState.CHECKED, 3, 0)

    response = _send(organisation_user, upload, django_capture_on_commit_callbacks)

    assert response.status_code == 302
    at_31 = Invoice.objects.of_clinic(world.clinic31).get(reference="F-8001")
    at_32 = Invoice.objects.of_clinic(world.clinic32).get(reference="F-8001")
    assert at_31.source == at_32.source == InvoiceSource.FILE
    assert list(at_31.claims.values_list("reference", "clinic_id")) == [("ORG-1", world.clinic31.pk)]
    assert sorted(at_32.claims.values_list("reference", "clinic_id")) == [
        ("ORG-2", world.clinic32.pk),
        ("ORG-3", world.clinic32.pk),
    ]
    upload.refresh_from_db()
    assert upload.state == InvoiceFileState.SENT
    assert upload.invoice == at_31
    assert set(upload.invoices.all()) == {at_31, at_32}
    # The file's page names each clinic's invoice.
    page = lxml.html.document_fromstring(organisation_user.get(response["Location"]).content)
    listed = [li.text_content().split("·")[0].strip() for li in page.xpath("//ul[@data-import='clinic_invoices']/li")]
    assert listed == [
        "31 Folktandvården Demostaden: faktura F-8001",
        "32 Tandläkarna i Demohamn: faktura F-8001",
    ]


def test_a_clinic_outside_the_organisation_is_a_fault_of_its_claim_only(
    organisation_user, world, django_capture_on_commit_callbacks
):
    content = organisation_xml([_claim("ORG-1", "31"), _claim("ORG-2", "2001"), _claim("ORG-3", None)])
    upload = _upload(organisation_user, world.clinic31, content, django_capture_on_commit_callbacks)

    assert (upload.state, upload.claim_count, upload.faulty_count) == (InvoiceFileState.CHECKED, 3, 2)
    assert _faults(upload) == [
        (
            "2001",
            "ORG-2",
            "Klinik 2001 hör inte till Folktandvården Demo (556677-8899) och kan inte faktureras i "
            "organisationens fil.",
        ),
        (
            "31",
            "ORG-3",
            "Räkningen saknar Kliniknummer. I en fil för en organisation ska varje räkning ange sin klinik.",
        ),
    ]
    _send(organisation_user, upload, django_capture_on_commit_callbacks)
    assert list(
        Claim.objects.of_clinic(world.clinic31).filter(reference__startswith="ORG-").values_list("reference", flat=True)
    ) == ["ORG-1"]
    assert not Claim.objects.of_clinic(world.clinic2001).filter(reference__startswith="ORG-").exists()


def test_each_claim_is_checked_for_its_own_clinic(organisation_user, world, django_capture_on_commit_callbacks):
    """A räkningsreferens is new per clinic: one used at 32 is a fault there, one used at 31 is free at 32."""
    ClaimFactory(invoice__clinic=world.clinic32, invoice__created_by=world.biller, reference="ORG-2")
    ClaimFactory(invoice__clinic=world.clinic31, invoice__created_by=world.biller, reference="ORG-5")
    content = organisation_xml([_claim("ORG-1", "31"), _claim("ORG-2", "32"), _claim("ORG-5", "32")])
    upload = _upload(organisation_user, world.clinic31, content, django_capture_on_commit_callbacks)

    assert [(number, reference) for number, reference, _message in _faults(upload)] == [("32", "ORG-2")]
    assert "Räkningsreferensen har redan använts" in _faults(upload)[0][2]
    _send(organisation_user, upload, django_capture_on_commit_callbacks)
    assert Claim.objects.of_clinic(world.clinic32).filter(reference="ORG-5", invoice__reference="F-8001").exists()


def test_the_invoice_reference_must_be_new_at_each_clinic_of_the_file(
    organisation_user, world, django_capture_on_commit_callbacks
):
    InvoiceFactory(clinic=world.clinic32, created_by=world.biller, reference="F-8001")
    content = organisation_xml([_claim("ORG-1", "31"), _claim("ORG-2", "32")])
    upload = _upload(organisation_user, world.clinic31, content, django_capture_on_commit_callbacks)
    assert upload.state == InvoiceFileState.REJECTED
    assert upload.failure_message == "Klinik 32: OCR/Fakturanumret har redan använts."


def test_a_biller_of_one_clinic_may_send_only_that_clinics_claims(client, world, django_capture_on_commit_callbacks):
    client.force_login(world.admin31)  # clinic 31's local administrator, nothing at 32
    content = organisation_xml([_claim("ORG-1", "31"), _claim("ORG-2", "32")])
    upload = _upload(client, world.clinic31, content, django_capture_on_commit_callbacks)
    assert _faults(upload) == [("32", "ORG-2", "Du får inte fakturera för klinik 32.")]


def test_a_file_of_another_organisation_is_rejected_whole(organisation_user, world, django_capture_on_commit_callbacks):
    upload = _upload(
        organisation_user,
        world.clinic31,
        organisation_xml([_claim("ORG-1", "31")], number="5560123456"),
        django_capture_on_commit_callbacks,
    )
    assert upload.state == InvoiceFileState.REJECTED
    assert upload.failure_message == (
        "Filen gäller organisationsnummer 5560123456, men klinik 31 hör inte till någon paraplyorganisation med "
        "det numret."
    )


def test_a_clinics_own_file_may_name_the_clinic_on_each_claim_but_no_other(
    organisation_user, world, django_capture_on_commit_callbacks
):
    content = f"""<?xml version="1.0" encoding="UTF-8"?>
<Fakturafil xmlns="urn:se:tandvardsstod:fakturafil:1" version="1">
  <Huvud><Kliniknummer>31</Kliniknummer><Fakturareferens>F-8002</Fakturareferens><Skapad>2026-01-01T08:00:00</Skapad></Huvud>
  {_claim("ORG-1", "31")}{_claim("ORG-2", "32")}
</Fakturafil>""".encode()
    upload = _upload(organisation_user, world.clinic31, content, django_capture_on_commit_callbacks)
    assert _faults(upload) == [("32", "ORG-2", "Räkningen gäller klinik 32, men filen gäller klinik 31.")]
