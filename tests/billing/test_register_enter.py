"""Enter in Registrera räkning without JavaScript: the form's first submit button is the hidden "enter" one, and the
server reads it as Lägg till åtgärd when a code is typed in the entry row for the patient looked up, else as Sök
person. (Which button a browser presses on Enter only a browser can show: tests/browser/test_register_enter.py.)"""

import lxml.html
import pytest

from .test_register_views import N_PIN, _open, _visit_days, vg_tariff  # noqa: F401 (the fixture)

pytestmark = pytest.mark.usefixtures("vg_tariff")


def test_the_first_submit_button_of_the_form_is_the_hidden_enter_button(client, world):
    page = _open(client, world)
    page.search(N_PIN)

    buttons = page.doc.xpath("//form[@id='claim-form']//button[@type='submit' or not(@type)]")
    first = buttons[0]
    assert (first.get("name"), first.get("value")) == ("action", "enter")
    # Out of sight, tab order and the accessibility tree; the visible buttons come after it.
    assert (first.get("tabindex"), first.get("aria-hidden"), first.get("class")) == ("-1", "true", "default-submit")
    assert [b.get("value") for b in buttons[1:3]] == ["search", "add_line"]


def test_enter_with_a_code_typed_adds_the_line(client, world):
    day, _today = _visit_days()
    page = _open(client, world)
    page.search(N_PIN)

    page.press("action", "enter", entry__visit_date=day.isoformat(), entry__code="101")

    assert page.doc.get_element_by_id("claim-lines-status").text_content() == (
        f"Åtgärd 101 den {day.isoformat()} är tillagd."
    )
    assert len(page.doc.xpath("//table[@id='claim-lines-table']//tr[starts-with(@id, 'line-')]")) == 1


def test_enter_without_a_code_looks_the_patient_up(client, world):
    page = _open(client, world)

    page.press("action", "enter", personal_identity_number=N_PIN)

    assert page.doc.xpath("//h2[@id='patient-info-title']")[0].text_content() == "Patientinformation"
    assert page.fields()["support_form"] == "N"


def test_enter_after_a_new_personnummer_is_typed_looks_that_patient_up_not_adds(client, world):
    day, _today = _visit_days()
    page = _open(client, world)
    page.search(N_PIN)

    page.press(
        "action", "enter", personal_identity_number="200001022383", entry__visit_date=day.isoformat(), entry__code="101"
    )

    doc = lxml.html.document_fromstring(page.response.content)
    assert not doc.xpath("//table[@id='claim-lines-table']//tr[starts-with(@id, 'line-')]")
    # The other patient (no certificate) was looked up: S is chosen for them.
    assert page.fields()["support_form"] == "S"
