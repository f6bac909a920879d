"""The FHB's use through the other doors: an invoice file (two claims against one FHB) and the form page (the demo's
FHB, whose 101 is billed already), each with the validation's exact words."""

import pytest

from claims.models import Claim
from tests.billing.test_invoice_file_messages import (  # noqa: F401 (fixtures)
    S_PATIENT,
    _day,
    checked,
    fakturafil,
    faults_by_reference,
    fhb_number,
    file_world,
    file_world_made,
    rakning,
    sent,
)
from tests.billing.test_register_views import FHB_PIN, _open, _visit_days, vg_tariff  # noqa: F401 (fixture)


def test_a_file_billing_an_fhb_twice_sends_the_first_claim_only(file_world, fhb_number):  # noqa: F811
    fhb = file_world.fhb
    planned = {line.code: line for line in fhb.lines.all()}
    s_claim = {"pin": S_PATIENT, "form": "S", "category": "S3", "fhb": fhb_number}
    content = fakturafil(
        [
            rakning("FHB-1", **s_claim, actions='<Atgard kod="401" tand="36"/>'),
            # Another visit: the same one again would be duplicate care, a fault of its own.
            rakning("FHB-2", **s_claim, day=_day(8), actions='<Atgard kod="401" tand="36"/>'),
        ]
    )
    upload = checked(file_world, content)
    # The factory's FHB: 401 tooth 36 at 1 450 kr and 101 at 980 kr.
    assert (planned["401"].approved_amount, fhb.approved_total) == (145000, 243000)
    assert faults_by_reference(upload) == {
        "FHB-2": [
            f"Förhandsbedömning {fhb_number} medger inte åtgärd 401 tand 36 fler gånger: "
            "godkänt antal 1, fakturerat antal 1.",
            f"Förhandsbedömning {fhb_number} medger inte mer: "
            "godkänt 2\u00a0430\u00a0kr, fakturerat 1\u00a0450\u00a0kr.",
        ]
    }
    sent(file_world, upload)
    assert list(
        Claim.objects.filter(clinic=file_world.clinic, prior_assessment=fhb).values_list("reference", flat=True)
    ) == ["FHB-1"]


@pytest.mark.usefixtures("vg_tariff")
def test_the_form_page_refuses_a_line_the_fhb_has_billed_already(client, world):
    first, _last = _visit_days()
    page = _open(client, world)
    page.search(FHB_PIN)
    number = page.fields()["prior_assessment"]
    page.add(first, "101")
    page.press("action", "refresh", patient_category="S1", **{f"fee-{first.isoformat()}": "200"})
    page.submit(invoice_reference="4791", reference="REG-FHB-1")
    assert not Claim.objects.filter(reference="REG-FHB-1").exists()
    assert (
        f"Förhandsbedömning {number} medger inte åtgärd 101 fler gånger: godkänt antal 1, fakturerat antal 1."
        in " ".join(page.summary())
    )
