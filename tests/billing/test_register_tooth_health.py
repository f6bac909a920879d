"""Tandhälsa in Registrera räkning, where the region asks for it (Region.asks_tooth_health; in the demo Västra
Götaland does, Dalarna does not): remaining and intact teeth typed in the form, judged by the one validation (as the
file's Tandhalsa is), kept on a refused form, stored with the claim and shown on the claim's page."""

import lxml.html
import pytest
from django.urls import reverse

from claims.models import Claim

from .test_register_views import DALARNA_PIN, _n_claim_up_to_submit, _open, vg_tariff  # noqa: F401 (the fixture)

pytestmark = pytest.mark.usefixtures("vg_tariff")


def _field_errors(page, name: str) -> list[str]:
    return [
        li.text_content() for li in page.doc.xpath(f"//div[contains(@class,'field')][.//input[@name='{name}']]//li")
    ]


def test_remaining_and_intact_teeth_go_with_the_claim_and_show_on_its_page(client, world):
    page = _n_claim_up_to_submit(client, world)
    assert page.doc.xpath("//fieldset[legend='Tandhälsa']//input/@name") == ["remaining_teeth", "intact_teeth"]

    response = page.submit(invoice_reference="4791", reference="TAND-1", remaining_teeth="24", intact_teeth="19")

    assert response.status_code == 302
    claim = Claim.objects.get(reference="TAND-1")
    assert (claim.remaining_teeth, claim.intact_teeth) == (24, 19)
    detail = client.get(reverse("invoice_claim_detail", kwargs={"clinic_pk": world.clinic31.pk, "claim_pk": claim.pk}))
    doc = lxml.html.document_fromstring(detail.content)
    facts = {dt.text_content(): dt.getnext().text_content() for dt in doc.xpath("//dl[@class='facts']/dt")}
    assert (facts["Kvarvarande tänder"], facts["Intakta tänder"]) == ("24", "19")


@pytest.mark.parametrize(
    "remaining,intact,field,message",
    [
        ("20", "24", "intact_teeth", "Antalet intakta tänder kan inte vara fler än antalet kvarvarande tänder."),
        ("40", "", "remaining_teeth", "Antalet kvarvarande tänder ska vara 0–32."),
        ("", "12", "remaining_teeth", "Ange antalet kvarvarande tänder när antalet intakta tänder anges."),
    ],
)
def test_the_validation_refuses_teeth_counts_beside_the_field_and_keeps_them(
    client, world, remaining, intact, field, message
):
    page = _n_claim_up_to_submit(client, world)

    response = page.submit(invoice_reference="4792", reference="TAND-2", remaining_teeth=remaining, intact_teeth=intact)

    assert response.status_code == 200
    assert not Claim.objects.filter(reference="TAND-2").exists()
    assert message in page.summary()
    assert message in _field_errors(page, field)
    fields = page.fields()
    assert (fields.get("remaining_teeth", ""), fields.get("intact_teeth", "")) == (remaining, intact)


def test_a_count_that_is_not_a_number_is_asked_for_again(client, world):
    page = _n_claim_up_to_submit(client, world)

    page.submit(invoice_reference="4793", reference="TAND-3", remaining_teeth="tjugo")

    assert not Claim.objects.filter(reference="TAND-3").exists()
    assert _field_errors(page, "remaining_teeth") == ["Fyll i ett heltal."]
    assert page.fields()["remaining_teeth"] == "tjugo"


def _tooth_health_inputs(page) -> list[str]:
    return page.doc.xpath("//input[@name='remaining_teeth' or @name='intact_teeth']/@name")


def test_the_demo_asks_for_tooth_health_in_västra_götaland_and_not_in_dalarna(world):
    assert world.vg.asks_tooth_health and not world.dalarna.asks_tooth_health


def test_a_region_that_does_not_ask_has_no_tooth_health_in_the_form(client, world):
    page = _open(client, world, user=world.dalarna_biller, clinic=world.clinic2001)
    page.search(DALARNA_PIN)

    assert "Tandhälsa" not in page.doc.xpath("//fieldset/legend/text()")
    assert _tooth_health_inputs(page) == []


def test_the_form_asks_as_soon_as_the_region_does(client, world):
    world.dalarna.asks_tooth_health = True
    world.dalarna.save(update_fields=["asks_tooth_health"])
    page = _open(client, world, user=world.dalarna_biller, clinic=world.clinic2001)
    page.search(DALARNA_PIN)

    assert _tooth_health_inputs(page) == ["remaining_teeth", "intact_teeth"]


def test_counts_sent_where_the_region_does_not_ask_are_neither_judged_nor_stored(client, world):
    page = _n_claim_up_to_submit(client, world)
    world.vg.asks_tooth_health = False
    world.vg.save(update_fields=["asks_tooth_health"])

    # A request that sends the fields anyway (an old page): not read, so neither refused nor kept.
    response = page.submit(invoice_reference="4794", reference="TAND-4", remaining_teeth="20", intact_teeth="24")

    assert response.status_code == 302, page.summary()
    claim = Claim.objects.get(reference="TAND-4")
    assert (claim.remaining_teeth, claim.intact_teeth) == (None, None)
