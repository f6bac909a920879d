"""The agreement gate (billing.services.agreement_gate) on the web's doors: Registrera räkning and Ladda upp of an
invoice file are refused, with the reason and a link to sign, until the clinic signs the version in force; Sök
person and checking a file still work; signed, the same claim and file go through. The API's doors:
tests/billing/api/test_agreement_gate_api.py; the rule: tests/agreements/test_standing.py."""

from __future__ import annotations

import lxml.html
import pytest
from django.urls import reverse

from agreements.models import AgreementSignature
from billing import services as billing_services
from claims.models import Claim, Invoice, InvoiceFileState, InvoiceFileUpload
from tests.agreements.helpers import overdue_version
from tests.billing.test_duplicate_care import PIN, _day, _form_claim
from tests.billing.test_invoice_file_flow import (  # noqa: F401 (fixtures)
    biller,
    mixed_file,
    press_send,
    upload_file,
)
from tests.claims.factories import tariff_for

REFUSAL = "Kliniken har inte signerat avtalet Avtal om särskilt tandvårdsstöd, ny version (version 3)."


def _doc(response):
    return lxml.html.document_fromstring(response.content)


def _sign(client, world, version, email="avtal31@demo.test"):
    client.force_login(world.user(email))
    url = reverse("clinic_agreement_sign", kwargs={"clinic_pk": world.clinic31.pk, "agreement_pk": version.pk})
    assert client.post(url).status_code == 302
    assert AgreementSignature.objects.filter(version=version, clinic=world.clinic31).exists()


def test_registrera_rakning_is_refused_with_a_link_to_sign_and_goes_through_once_signed(client, world):
    day = _day(2)
    tariff_for(world.vg, day)
    version = overdue_version(world.vg, world.region_admin)
    page = _form_claim(client, world, lines=[(day, "101")], reference="AVTAL-1", invoice="4911")
    assert page.response.status_code == 200
    (refusal,) = page.doc.xpath("//*[@data-agreement='refused']")
    assert REFUSAL in refusal.text_content() and "lokala administratör" in refusal.text_content()
    (link,) = refusal.xpath(".//a")
    assert link.get("href") == f"/klinik/{world.clinic31.pk}/avtal/"
    assert page.doc.xpath("//*[@data-agreement='blocked']")  # the banner says so before anyone presses
    assert not Claim.objects.filter(clinic=world.clinic31, reference="AVTAL-1").exists()

    _sign(client, world, version)
    again = _form_claim(client, world, lines=[(day, "101")], reference="AVTAL-1", invoice="4911")
    assert again.response.status_code == 302
    assert Claim.objects.filter(clinic=world.clinic31, reference="AVTAL-1").exists()


def test_sok_person_works_while_sending_is_refused(client, world):
    overdue_version(world.vg, world.region_admin)
    client.force_login(world.biller)
    url = reverse("person_search", kwargs={"clinic_pk": world.clinic31.pk})
    response = client.post(url, {"personal_identity_number": PIN})
    assert response.status_code == 200
    assert "Intyget giltigt" in _doc(response).text_content()


def test_a_file_is_checked_but_not_sent_until_the_agreement_is_signed(
    client,
    world,
    biller,  # noqa: F811 (the fixture imported above)
    upload_file,  # noqa: F811
    press_send,  # noqa: F811
):
    version = overdue_version(world.vg, world.region_admin)
    upload_file(mixed_file())
    upload = InvoiceFileUpload.objects.get()
    assert upload.state == InvoiceFileState.CHECKED  # checking still works
    response = press_send(upload)
    assert response.status_code == 302
    upload.refresh_from_db()
    assert upload.state == InvoiceFileState.CHECKED and upload.invoice is None
    assert not Invoice.objects.filter(clinic=world.clinic31, reference="F-7001").exists()
    page = _doc(biller.get(response["Location"]))
    assert REFUSAL in page.text_content()
    (banner,) = page.xpath("//*[@data-agreement='blocked']")
    assert banner.xpath(".//a[@href=$href]", href=f"/klinik/{world.clinic31.pk}/avtal/")

    _sign(client, world, version, email="admin31@demo.test")  # a local administrator signs as well
    client.force_login(world.biller)
    press_send(upload)
    upload.refresh_from_db()
    assert upload.state == InvoiceFileState.SENT


def test_the_old_signature_holds_until_the_sign_by_day_and_the_pages_say_so(client, world):
    """The demo: Västra Götaland's version 2 waits for clinic 32, which signed version 1; it may send meanwhile."""
    standing = billing_services.agreement_gate(clinic=world.clinic32)
    assert standing.current.number == 2 and not standing.covered and standing.grace_until is not None
    client.force_login(world.biller)
    page = _doc(client.get(reverse("clinic_start", kwargs={"clinic_pk": world.clinic32.pk})))
    (banner,) = page.xpath("//*[@data-agreement='grace']")
    assert f"Version 2 av avtalet ska signeras senast {standing.grace_until.isoformat()}" in banner.text_content()
    assert "räkningar kan skickas som vanligt" in banner.text_content()
    # Clinic 31 signed it: no banner.
    assert not _doc(client.get(reverse("clinic_start", kwargs={"clinic_pk": world.clinic31.pk}))).xpath(
        "//*[@data-agreement]"
    )


def test_the_gate_is_asked_by_the_service_every_door_uses(world):
    overdue_version(world.vg, world.region_admin)
    with pytest.raises(billing_services.AgreementUnsigned) as refused:
        billing_services.agreement_gate(clinic=world.clinic31)
    assert refused.value.message.startswith(REFUSAL)
    assert refused.value.sign_path == f"/klinik/{world.clinic31.pk}/avtal/"
    # Dalarna's clinic is not held back by Västra Götaland's agreement.
    assert billing_services.agreement_gate(clinic=world.clinic2001).covered
