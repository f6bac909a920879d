"""Begär förhandsbedömning checked as a claim is: codes of the region's tariff on the planned date, tooth and jaw
rules, prices from the tariff where fixed (entered only where it has none), the patient category for S, any number
of planned lines, and "Lägg till rad" without JavaScript keeping what was typed. On the demo's VG tariff."""

import datetime

import lxml.html
import pytest
from django.utils import timezone

from eligibility.models import PriorAssessment
from tests.eligibility.test_views import NEW_PIN, _clinic_url, _fhb_data, _login

TODAY = timezone.localdate()


def post(client, world, **changes):
    _login(client, world.biller)
    return client.post(_clinic_url("prior_assessment_new", world.clinic31), _fhb_data(**changes))


def errors(response) -> list[str]:
    doc = lxml.html.document_fromstring(response.content)
    return [item.text_content().strip() for item in doc.xpath("//main//ul[contains(@class,'errorlist')]/li")]


def refused(client, world, **changes) -> list[str]:
    response = post(client, world, **changes)
    assert response.status_code == 200
    assert not PriorAssessment.objects.filter(patient__personal_identity_number=NEW_PIN).exists()
    return errors(response)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"lines-0-code": "999", "lines-0-tooth": ""}, f"Åtgärdskod 999 finns inte i ersättningslistan för {TODAY}."),
        ({"lines-1-tooth": "36"}, "Åtgärd 101 ska inte ha tand."),
        ({"lines-0-tooth": ""}, "Åtgärd 401 kräver tand."),
        ({"lines-0-tooth": "19"}, "Åtgärd 401: tand 19 är inget giltigt tandnummer (FDI)."),
        ({"lines-0-jaw": "UK"}, "Åtgärd 401 ska inte ha käke."),
        ({"lines-0-estimated_price": "1450"}, "Åtgärd 401 har fast pris i ersättningslistan; ange inget pris."),
        ({"lines-2-code": "901"}, "Ange pris för åtgärd 901."),
        ({"patient_category": ""}, "Ange patientkategori för S-tandvård."),
        (
            {"patient_category": "N1"},
            "Patientkategori N1 finns inte för S-tandvård i regionens lista.",
        ),
    ],
)
def test_each_rule_with_the_claims_words(client, world, changes, message):
    assert refused(client, world, **changes) == [message]


def test_a_planned_date_no_tariff_covers_names_each_code(client, world):
    day = datetime.date(TODAY.year + 5, 1, 15)
    assert refused(client, world, planned_date=day.isoformat()) == [
        f"Åtgärdskod 401 finns inte i ersättningslistan för {day}.",
        f"Åtgärdskod 101 finns inte i ersättningslistan för {day}.",
    ]


def test_an_entered_price_is_kept_and_fixed_prices_come_from_the_tariff(client, world):
    response = post(client, world, **{"lines-2-code": "901", "lines-2-estimated_price": "2 300,50"})
    assert response.status_code == 302
    assessment = PriorAssessment.objects.get(patient__personal_identity_number=NEW_PIN)
    detail = lxml.html.document_fromstring(client.get(response["Location"]).content)
    facts = {dt.text_content(): dt.getnext().text_content() for dt in detail.xpath("//dl[@class='facts']/dt")}
    assert facts["Planerat behandlingsdatum"] == TODAY.isoformat()
    assert facts["Patientkategori"].startswith("S3 ")
    assert list(assessment.lines.values_list("code", "estimated_price")) == [
        ("401", 122000),
        ("101", 98000),
        ("901", 230050),
    ]


def test_any_number_of_planned_lines(client, world):
    rows = {"lines-TOTAL_FORMS": "40"}
    for n in range(2, 40):
        rows.update({f"lines-{n}-code": "101", f"lines-{n}-tooth": "", f"lines-{n}-jaw": ""})
        rows[f"lines-{n}-estimated_price"] = ""
    assert post(client, world, **rows).status_code == 302
    assert PriorAssessment.objects.get(patient__personal_identity_number=NEW_PIN).lines.count() == 40


def test_add_line_without_javascript_keeps_what_was_typed(client, world):
    response = post(client, world, add_line="1", **{"lines-TOTAL_FORMS": "2", "lines-0-tooth": "19"})
    assert response.status_code == 200
    assert not PriorAssessment.objects.filter(patient__personal_identity_number=NEW_PIN).exists()
    doc = lxml.html.document_fromstring(response.content)
    value = lambda name: doc.xpath(f"//*[@name='{name}']")[0].get("value")  # noqa: E731
    assert value("lines-TOTAL_FORMS") == "3"
    assert (value("lines-0-code"), value("lines-0-tooth"), value("lines-1-code")) == ("401", "19", "101")
    assert value("lines-2-code") in (None, "")
    assert doc.xpath("//textarea[@name='justification']")[0].text_content().strip() == (
        "Extraktion av 36 inför strålbehandling."
    )
    assert doc.xpath("//select[@name='patient_category']/option[@selected]")[0].get("value") == "S3"
    assert errors(response) == []  # nothing was sent yet: no faults


def test_the_page_loads_its_script_from_the_site(client, world):
    _login(client, world.biller)
    body = client.get(_clinic_url("prior_assessment_new", world.clinic31)).content.decode()
    assert '<script src="/static/js/planned-lines.js" defer></script>' in body
    assert "data-add-planned-line" in body and 'name="add_line"' in body
