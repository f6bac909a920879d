"""The Avtal pages and the two roles in the web: the region administrator publishes a version with its PDF, the
region sees each clinic's signature, the clinic reads and signs; Ekonomi reads invoices and changes nothing; the
Avtalsansvarig appoints local administrators, and the clinic keeps one."""

from __future__ import annotations

import datetime

import lxml.html
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from agreements.models import AgreementVersion
from clinics.models import ClinicMembership, ClinicRole

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _doc(response):
    assert response.status_code == 200, response.status_code
    return lxml.html.document_fromstring(response.content)


def _menu(doc) -> list[str]:
    return [link.text_content().strip() for link in doc.xpath("//nav[@aria-label='Huvudmeny']//a")]


def test_the_region_administrator_publishes_a_version_with_its_pdf_and_sees_who_signed(client, world):
    client.force_login(world.region_admin)
    today = timezone.localdate()
    url = reverse("region_agreement_new", kwargs={"region_code": "vg"})
    response = client.post(
        url,
        {
            "title": "Avtal 2027",
            "text": "",
            "file": SimpleUploadedFile("Avtal 2027.pdf", PDF, content_type="application/pdf"),
            "valid_from": today.isoformat(),
            "must_sign_again": "on",
            "sign_by": (today + datetime.timedelta(days=30)).isoformat(),
        },
    )
    version = AgreementVersion.objects.of_region(world.vg).get(title="Avtal 2027")
    assert response.status_code == 302 and response["Location"].endswith(f"/avtal/{version.pk}/")
    doc = _doc(client.get(response["Location"]))
    rows = {row.get("data-clinic"): row.text_content() for row in doc.xpath("//tr[@data-clinic]")}
    assert set(rows) == {"31", "32"} and all("Inte signerat" in text for text in rows.values())
    download = client.get(reverse("region_agreement_file", kwargs={"region_code": "vg", "agreement_pk": version.pk}))
    assert download["Content-Type"] == "application/pdf" and b"".join(download.streaming_content) == PDF
    assert "attachment" in download["Content-Disposition"]

    # The clinic reads it and its Avtalsansvarig signs; the region's page shows who and when.
    client.force_login(world.user("avtal31@demo.test"))
    clinic_page = _doc(client.get(reverse("clinic_agreements", kwargs={"clinic_pk": world.clinic31.pk})))
    assert clinic_page.xpath("//button[normalize-space()='Signera version 3']")
    clinic_file = reverse("clinic_agreement_file", kwargs={"clinic_pk": world.clinic31.pk, "agreement_pk": version.pk})
    assert clinic_page.xpath("//a[@href=$href]", href=clinic_file)
    sign = reverse("clinic_agreement_sign", kwargs={"clinic_pk": world.clinic31.pk, "agreement_pk": version.pk})
    assert client.post(sign).status_code == 302
    client.force_login(world.coordinator_vg)
    doc = _doc(client.get(reverse("region_agreement", kwargs={"region_code": "vg", "agreement_pk": version.pk})))
    (row31,) = doc.xpath("//tr[@data-clinic='31']")
    assert "Alva Avtalsansvarig (Avtalsansvarig)" in row31.text_content()
    assert "Signerat av 1 av 2 kliniker" in doc.text_content()


def test_a_rejected_version_keeps_what_was_typed_and_says_why(client, world):
    client.force_login(world.region_admin)
    yesterday = timezone.localdate() - datetime.timedelta(days=1)
    response = client.post(
        reverse("region_agreement_new", kwargs={"region_code": "vg"}),
        {"title": "Avtal med fel", "text": "", "valid_from": yesterday.isoformat(), "sign_by": ""},
    )
    doc = _doc(response)
    text = doc.text_content()
    assert "Skriv avtalets text eller ladda upp det som PDF." in text
    assert "Avtalet kan inte gälla från ett datum som redan har passerat." in text
    assert doc.xpath("//input[@name='title']")[0].get("value") == "Avtal med fel"
    assert not AgreementVersion.objects.filter(title="Avtal med fel").exists()


def test_a_coordinator_sees_the_agreements_but_only_an_administrator_publishes(client, world):
    client.force_login(world.coordinator_vg)
    doc = _doc(client.get(reverse("region_agreements", kwargs={"region_code": "vg"})))
    assert "Avtal" in _menu(doc)
    assert not doc.xpath("//a[normalize-space()='Publicera ny version']")
    assert {row.get("data-clinic") for row in doc.xpath("//tr[@data-clinic]")} == {"31", "32"}
    client.force_login(world.region_admin)
    assert _doc(client.get(reverse("region_agreements", kwargs={"region_code": "vg"}))).xpath(
        "//a[normalize-space()='Publicera ny version']"
    )


def test_ekonomi_reads_invoices_and_payouts_and_is_offered_nothing_to_change(client, world):
    client.force_login(world.user("kamrer31@demo.test"))
    start = _doc(client.get(reverse("clinic_start", kwargs={"clinic_pk": world.clinic31.pk})))
    assert _menu(start)[:5] == ["Startsida", "Era fakturor", "Ersättningslista", "Dokument", "Avtal"]
    assert "Registrera räkning" not in _menu(start) and "Klinikadministration" not in _menu(start)
    since = (timezone.localdate() - datetime.timedelta(days=365)).isoformat()
    paid = _doc(
        client.get(reverse("invoice_list_paid", kwargs={"clinic_pk": world.clinic31.pk}) + f"?date_from={since}")
    )
    assert paid.xpath("//tbody[contains(@class, 'invoice')]")
    assert not paid.xpath("//button[contains(normalize-space(), 'Kreditera') or contains(normalize-space(), 'Radera')]")
    assert client.get(reverse("clinic_payout_list", kwargs={"clinic_pk": world.clinic31.pk})).status_code == 200
    avtal = _doc(client.get(reverse("clinic_agreements", kwargs={"clinic_pk": world.clinic31.pk})))
    assert not avtal.xpath("//button[starts-with(normalize-space(), 'Signera')]")
    assert client.get(reverse("claim_register", kwargs={"clinic_pk": world.clinic31.pk})).status_code == 403


def test_the_avtalsansvarig_appoints_a_local_administrator_but_never_leaves_the_clinic_without_one(client, world):
    client.force_login(world.user("avtal31@demo.test"))
    admin_page = _doc(client.get(reverse("clinic_administration", kwargs={"clinic_pk": world.clinic31.pk})))
    assert not admin_page.xpath("//a[normalize-space()='Ändra uppgifter']")
    assert not admin_page.xpath("//a[normalize-space()='Hantera API-nycklar']")
    assert admin_page.xpath("//a[normalize-space()='Ny användare']")

    only_admin = ClinicMembership.objects.of_clinic(world.clinic31).get(role=ClinicRole.LOCAL_ADMIN)
    role_url = reverse("clinic_user_role", kwargs={"clinic_pk": world.clinic31.pk, "membership_pk": only_admin.pk})
    refused = _doc(client.post(role_url, {"role": ClinicRole.BILLER}))
    assert "lokal administratör" in refused.text_content().lower()
    only_admin.refresh_from_db()
    assert only_admin.role == ClinicRole.LOCAL_ADMIN

    response = client.post(
        reverse("clinic_user_new", kwargs={"clinic_pk": world.clinic31.pk}),
        {"name": "Nils Ny", "email": "nils.ny@klinik.test", "role": ClinicRole.LOCAL_ADMIN},
    )
    assert response.status_code == 302
    added = ClinicMembership.objects.of_clinic(world.clinic31).get(user__email="nils.ny@klinik.test")
    assert added.role == ClinicRole.LOCAL_ADMIN
    # Now there are two: the first may become a biller.
    assert client.post(role_url, {"role": ClinicRole.BILLER}).status_code == 302
    only_admin.refresh_from_db()
    assert only_admin.role == ClinicRole.BILLER
