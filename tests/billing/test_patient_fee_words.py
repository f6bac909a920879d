"""The patient fee line says "Patientavgift" (in English "Patient fee") on the clinic's claim page and in review, and
no page of a claim (Kreditera too) shows the tariff row's input hint "patAvg Patientavgift (ange pris)"."""

import pytest
from django.urls import reverse
from django.utils import translation

from claims.models import PATIENT_FEE_CODE, Claim


@pytest.fixture(autouse=True)
def _back_to_swedish():
    yield
    translation.activate("sv")


def _claim_with_fee(world) -> Claim:
    claim = (
        Claim.objects.filter(clinic=world.clinic31, lines__code=PATIENT_FEE_CODE, state="paid").order_by("pk").first()
    )
    assert claim is not None
    assert "ange pris" in claim.lines.get(code=PATIENT_FEE_CODE).tariff_row.description.lower()
    return claim


def _pages(world, claim):
    """(who, url, lists the fee line): Kreditera lists the creditable lines only, the fee not among them."""
    clinic_claim = {"clinic_pk": world.clinic31.pk, "claim_pk": claim.pk}
    return [
        (world.biller, reverse("invoice_claim_detail", kwargs=clinic_claim), True),
        (world.biller, reverse("invoice_claim_credit", kwargs=clinic_claim), False),
        (
            world.coordinator_vg,
            reverse("review_claim_detail", kwargs={"region_code": world.vg.code, "claim_pk": claim.pk}),
            True,
        ),
    ]


@pytest.mark.parametrize("language,words", [("sv", "Patientavgift"), ("en", "Patient fee")])
def test_the_patient_fee_line_has_no_input_hint(client, world, language, words):
    claim = _claim_with_fee(world)
    for user, url, lists_fee in _pages(world, claim):
        client.force_login(user)
        client.post("/sprak/", {"language": language, "next": "/"})
        body = client.get(url).content.decode()
        assert "ange pris" not in body.lower(), url
        assert words in body or not lists_fee, url
