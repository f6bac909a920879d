"""eligibility_for: every demo patient on today's date, and the edges of the rules behind the answers."""

import datetime
import json

import pytest
from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.utils import timezone

from clinics.models import SupportForm
from eligibility import services
from eligibility.models import Patient, PriorAssessment
from eligibility.selectors import eligibility_for

NO_CERTIFICATE_S = "Patienten saknar intyg: S-tandvård, förhandsbedömning krävs"
S_NEEDS_FHB = "S-tandvård kräver förhandsbedömning"
S_WITH_FHB = "S-tandvård med godkänd förhandsbedömning"
NOT_IN_DEMO = "200001042399"  # a Skatteverket test number with no data at all


def _today() -> datetime.date:
    return timezone.localdate()


def _at(world, pin, clinic="clinic31", on=None):
    return eligibility_for(personal_identity_number=pin, clinic=getattr(world, clinic), on_date=on or _today())


def _allowed(eligibility) -> dict[str, bool]:
    return {option.support_form: option.allowed for option in eligibility.options}


def _reasons(eligibility) -> dict[str, str]:
    return {option.support_form: option.reason for option in eligibility.options}


def _assert_s_needs_fhb(eligibility, reason):
    s = eligibility.option(SupportForm.S)
    assert s.allowed and s.requires_prior_assessment
    assert s.reason == reason


# The demo patients, one by one ---------------------------------------------------------------------------


def test_n_until_further_notice(world):
    result = _at(world, "200001012384")
    assert _allowed(result) == {"N": True, "F": False, "S": True}
    n = result.option(SupportForm.N)
    assert n.reason == "Intyget giltigt: tills vidare"
    assert (n.certificate.number, n.certificate.group) == ("764153", "N1")
    assert result.certificate == n.certificate
    assert result.option(SupportForm.F).reason == "Patienten saknar intyg för F-tandvård."
    _assert_s_needs_fhb(result, S_NEEDS_FHB)
    assert not result.fee_exempt and result.free_card is None and result.prior_assessments == []


def test_f_ending_next_year(world):
    result = _at(world, "200001011493")
    end_of_next_year = datetime.date(_today().year + 1, 12, 31)
    assert _allowed(result) == {"N": False, "F": True, "S": True}
    assert result.option(SupportForm.F).reason == f"Intyget giltigt till {end_of_next_year.isoformat()}"
    assert result.certificate.number == "810022"
    # On the last day it still holds, the day after it does not.
    assert _at(world, "200001011493", on=end_of_next_year).option(SupportForm.F).allowed
    after = _at(world, "200001011493", on=end_of_next_year + datetime.timedelta(days=1))
    assert not after.option(SupportForm.F).allowed
    assert after.option(SupportForm.F).reason == f"Intyget upphörde {end_of_next_year.isoformat()}."


def test_n_that_ended_last_year_leaves_s_with_prior_assessment(world):
    result = _at(world, "200001012392")
    end_of_last_year = datetime.date(_today().year - 1, 12, 31)
    assert _allowed(result) == {"N": False, "F": False, "S": True}
    assert result.option(SupportForm.N).reason == f"Intyget upphörde {end_of_last_year.isoformat()}."
    assert result.certificate is None
    _assert_s_needs_fhb(result, NO_CERTIFICATE_S)


def test_n_revoked_last_month(world):
    result = _at(world, "200001018928")
    revoked = (_today() - relativedelta(months=1)).replace(day=15)
    assert _allowed(result) == {"N": False, "F": False, "S": True}
    assert result.option(SupportForm.N).reason == f"Intyget återkallades {revoked.isoformat()}."
    assert "återkallades" in result.option(SupportForm.N).reason
    _assert_s_needs_fhb(result, NO_CERTIFICATE_S)
    # The day before the revocation the certificate was still good.
    before = _at(world, "200001018928", on=revoked - datetime.timedelta(days=1))
    assert before.option(SupportForm.N).allowed
    assert before.option(SupportForm.N).reason == "Intyget giltigt: tills vidare"


def test_approved_prior_assessment_counts_at_its_own_clinic_only(world):
    at31 = _at(world, "200001022383", clinic="clinic31")
    assert _allowed(at31) == {"N": False, "F": False, "S": True}
    _assert_s_needs_fhb(at31, S_WITH_FHB)
    (assessment,) = at31.prior_assessments
    assert assessment.clinic == world.clinic31 and assessment.support_form == SupportForm.S
    assert assessment.is_approved and assessment.valid_until >= _today()
    assert [line.code for line in assessment.lines.all()] == ["401", "101"]

    at32 = _at(world, "200001022383", clinic="clinic32")
    assert at32.prior_assessments == []
    _assert_s_needs_fhb(at32, NO_CERTIFICATE_S)


def test_n_and_free_card_exempt_the_fee_with_the_card(world):
    result = _at(world, "200001022391")
    assert _allowed(result) == {"N": True, "F": False, "S": True}
    assert result.option(SupportForm.N).certificate.group == "N2"
    assert result.free_card.number == "55512"
    assert result.fee_exempt
    # Västra Götaland has no N2 or age rule: the card is the only reason.
    assert result.fee_exempt_reasons == ["Giltigt frikort 55512"]
    new_year = datetime.date(_today().year + 1, 1, 1)
    next_year = _at(world, "200001022391", on=new_year)
    assert next_year.free_card is None and not next_year.fee_exempt


def test_over_85_in_dalarna_pays_no_fee(world):
    result = _at(world, "191212121212", clinic="clinic2001")
    assert _allowed(result) == {"N": True, "F": False, "S": True}
    assert result.certificate.number == "D-2001-17"
    assert result.fee_exempt_reasons == ["85 år eller äldre"]


def test_n2_in_dalarna_pays_no_fee(world):
    result = _at(world, "200001032390", clinic="clinic2001")
    assert result.option(SupportForm.N).allowed
    assert result.certificate.group == "N2"
    assert result.fee_exempt_reasons == ["Intyg N2"]


@pytest.mark.parametrize("pin", ["200001032390", "191212121212"])
def test_a_dalarna_certificate_does_not_count_at_a_vg_clinic(world, pin):
    result = _at(world, pin, clinic="clinic31")
    assert result.patient is not None
    assert _allowed(result) == {"N": False, "F": False, "S": True}
    assert result.option(SupportForm.N).reason == "Patienten saknar intyg för N-tandvård."
    _assert_s_needs_fhb(result, NO_CERTIFICATE_S)
    # Västra Götaland exempts neither N2 nor the age of 85.
    assert not result.fee_exempt


@pytest.mark.parametrize(
    "pin,clinic,form,number",
    [
        ("200105205355", "clinic31", "N", "764199"),
        ("200104016316", "clinic31", "F", "810044"),
        ("200106259005", "clinic2001", "N", "D-2001-19"),
    ],
)
def test_the_patients_of_the_past_months_claims_have_a_certificate_and_pay_the_fee(world, pin, clinic, form, number):
    """The patients of portal/demo/history.py (a year of paid claims for the coordinator's start page)."""
    result = _at(world, pin, clinic=clinic)
    assert _allowed(result) == {"N": form == "N", "F": form == "F", "S": True}
    assert result.option(form).reason == "Intyget giltigt: tills vidare"
    assert result.certificate.number == number
    assert not result.fee_exempt and result.free_card is None


def test_a_patient_not_in_the_database_can_only_have_s(world):
    result = _at(world, NOT_IN_DEMO)
    assert result.patient is None
    assert _allowed(result) == {"N": False, "F": False, "S": True}
    assert result.option(SupportForm.N).reason == "Patienten saknar intyg för N-tandvård."
    _assert_s_needs_fhb(result, NO_CERTIFICATE_S)
    assert result.free_card is None and result.prior_assessments == [] and not result.fee_exempt
    # Looking someone up does not create them.
    assert not Patient.objects.filter(personal_identity_number=NOT_IN_DEMO).exists()


def test_every_demo_patient_has_a_test_here():
    """A patient added to the demo needs its own case above."""
    covered = {
        "200001012384",
        "200001011493",
        "200001012392",
        "200001018928",
        "200001022383",
        "200001022391",
        "191212121212",
        "200001032390",
        "200105205355",
        "200104016316",
        "200106259005",
    }
    demo = json.loads((settings.BASE_DIR / "fixtures" / "demo.json").read_text(encoding="utf-8"))
    assert {patient["personal_identity_number"] for patient in demo["patients"]} == covered


# Edges of the rules -------------------------------------------------------------------------------------


def test_a_certificate_that_begins_later_says_from_when(world):
    starts = _today() + datetime.timedelta(days=10)
    services.certificate_register(
        actor=world.coordinator_vg,
        region=world.vg,
        personal_identity_number=NOT_IN_DEMO,
        support_form=SupportForm.F,
        number="F-LATER",
        group="F2",
        valid_from=starts,
        valid_to=None,
    )
    result = _at(world, NOT_IN_DEMO)
    assert result.option(SupportForm.F).reason == f"Intyget gäller först från {starts.isoformat()}."
    assert _at(world, NOT_IN_DEMO, on=starts).option(SupportForm.F).allowed


def test_with_both_n_and_f_valid_the_certificate_is_the_n(world):
    services.certificate_register(
        actor=world.coordinator_vg,
        region=world.vg,
        personal_identity_number="200001012384",
        support_form=SupportForm.F,
        number="F-BOTH",
        group="F1",
        valid_from=datetime.date(2024, 1, 1),
        valid_to=None,
    )
    result = _at(world, "200001012384")
    assert _allowed(result) == {"N": True, "F": True, "S": True}
    assert result.certificate.number == "764153"


@pytest.mark.parametrize(("day", "exempt"), [(datetime.date(1997, 12, 11), False), (datetime.date(1997, 12, 12), True)])
def test_the_age_rule_applies_on_the_visit_date(world, day, exempt):
    """191212121212 turns 85 on 1997-12-12."""
    result = _at(world, "191212121212", clinic="clinic2001", on=day)
    assert ("85 år eller äldre" in result.fee_exempt_reasons) is exempt


def test_an_expired_or_denied_prior_assessment_is_not_listed(world):
    assessment = PriorAssessment.objects.get(patient__personal_identity_number="200001022383")
    last_day = assessment.valid_until
    assert [a.pk for a in _at(world, "200001022383", on=last_day).prior_assessments] == [assessment.pk]
    expired = _at(world, "200001022383", on=last_day + datetime.timedelta(days=1))
    assert expired.prior_assessments == []
    _assert_s_needs_fhb(expired, NO_CERTIFICATE_S)

    denied = services.prior_assessment_request(
        actor=world.biller,
        clinic=world.clinic32,
        personal_identity_number="200001022383",
        support_form=SupportForm.S,
        justification="Planerad behandling.",
        lines=[{"code": "401", "tooth": "36", "estimated_price": 145000}],
        attachments=[],
    )
    services.prior_assessment_decide(
        actor=world.coordinator_vg,
        assessment=denied,
        approved_amounts={line.pk: None for line in denied.lines.all()},
        reason="Underlaget räcker inte.",
    )
    assert _at(world, "200001022383", clinic="clinic32").prior_assessments == []
