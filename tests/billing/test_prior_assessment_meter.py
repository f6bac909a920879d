"""The FHB meter (Godkänt · Fakturerat · Kvar) on the FHB's page, the coordinator's claim page and the claim form,
and the one click from an approved FHB to Registrera räkning with its approved lines. On the demo, whose FHB has
its 101 billed once (portal/demo/history.py)."""

import json

import lxml.html
import pytest
from django.urls import reverse

from claims.models import Claim
from claims.selectors import prior_assessment_use
from eligibility.models import PriorAssessment
from tests.billing.test_register_views import FHB_PIN, _open, vg_tariff  # noqa: F401 (fixture)

NBSP = "\u00a0"
# 401 at the tariff's 1 220 kr, 101 at 980 kr.
METER = f"Godkänt 2{NBSP}200{NBSP}kr · Fakturerat 980{NBSP}kr · Kvar 1{NBSP}220{NBSP}kr"


@pytest.fixture
def fhb(world) -> PriorAssessment:
    return PriorAssessment.objects.get(patient__personal_identity_number=FHB_PIN, clinic=world.clinic31)


def meter_texts(content: bytes) -> list[str]:
    doc = lxml.html.document_fromstring(content)
    return [normal(p.text_content()) for p in doc.xpath("//*[@data-fhb-use-meter]/p[1]")]


def normal(text: str) -> str:
    return " ".join(text.replace(NBSP, "\x00").split()).replace("\x00", NBSP)


def test_the_demo_fhb_is_partly_used(fhb):
    use = prior_assessment_use(fhb)
    assert (use.approved, use.billed, use.left, use.share) == (220000, 98000, 122000, 44)


def test_the_fhb_page_shows_the_meter_to_the_clinic_and_the_region(client, world, fhb):
    client.force_login(world.biller)
    response = client.get(
        reverse("prior_assessment_detail", kwargs={"clinic_pk": world.clinic31.pk, "assessment_pk": fhb.pk})
    )
    assert meter_texts(response.content) == [METER]
    assert f"44 % av det godkända beloppet för {fhb.number} är fakturerat." in response.content.decode()
    (copy,) = lxml.html.document_fromstring(response.content).xpath(
        "//form[.//button[normalize-space()='Registrera räkning med de godkända åtgärderna']]"
    )
    assert copy.get("method") == "post"
    assert copy.get("action") == reverse("claim_register", kwargs={"clinic_pk": world.clinic31.pk})
    assert dict(copy.form_values()) == {
        "csrfmiddlewaretoken": copy.form_values()[0][1],
        "action": "from_prior_assessment",
        "prior_assessment": str(fhb.pk),
    }
    client.force_login(world.coordinator_vg)
    response = client.get(reverse("region_assessment_detail", kwargs={"region_code": "vg", "assessment_pk": fhb.pk}))
    assert meter_texts(response.content) == [METER]


def test_the_coordinators_claim_page_shows_the_meter(client, world, fhb):
    claim = Claim.objects.filter(prior_assessment=fhb).first()
    client.force_login(world.coordinator_vg)
    response = client.get(reverse("review_claim_detail", kwargs={"region_code": "vg", "claim_pk": claim.pk}))
    assert meter_texts(response.content) == [METER]


@pytest.mark.usefixtures("vg_tariff")
def test_the_claim_form_shows_the_meter_when_the_fhb_is_chosen(client, world, fhb):
    page = _open(client, world)
    page.search(FHB_PIN)
    assert page.fields()["prior_assessment"] == fhb.number
    assert meter_texts(page.response.content) == [METER]
    page.press("action", "refresh", prior_assessment="")
    assert meter_texts(page.response.content) == []
    url = reverse("claim_register_validate", kwargs={"clinic_pk": world.clinic31.pk})
    answer = json.loads(client.post(url, {**page.fields(), "prior_assessment": fhb.number}).content)
    assert meter_texts(
        f"<html><head><meta charset='utf-8'></head><body>{answer['prior_assessment_use']}</body></html>".encode()
    ) == [METER]
    assert json.loads(client.post(url, {**page.fields(), "prior_assessment": ""}).content)["prior_assessment_use"] == ""


@pytest.mark.usefixtures("vg_tariff")
def test_one_click_from_the_fhb_fills_the_claim_with_its_approved_lines(client, world, fhb):
    page = _open(client, world)
    page.press("action", "from_prior_assessment", prior_assessment=str(fhb.pk))
    fields = page.fields()
    assert (fields["support_form"], fields["prior_assessment"]) == ("S", fhb.number)
    assert FHB_PIN.encode() not in page.response.request["PATH_INFO"].encode()
    lines = sorted((line["code"], line["tooth"]) for line in json.loads(fields["lines"]))
    assert lines == [("101", ""), ("401", "36")]
    assert f"De godkända åtgärderna i {fhb.number} är tillagda." in page.response.content.decode()
    # Its 101 is billed already: the page says so before it is sent.
    assert any("medger inte åtgärd 101 fler gånger" in error for error in page.errors())


def test_one_click_from_another_clinics_fhb_is_404(client, world, fhb):
    client.force_login(world.biller)
    url = reverse("claim_register", kwargs={"clinic_pk": world.clinic32.pk})
    response = client.post(url, {"action": "from_prior_assessment", "prior_assessment": str(fhb.pk)})
    assert response.status_code == 404
