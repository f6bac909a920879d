"""eligibility_for: each rule on a small world of the test's own, the edges of the rules, and every demo patient
as the demo describes it."""

import datetime
import json

import pytest
from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.utils import timezone

from clinics.models import SupportForm
from eligibility import services
from eligibility.models import Patient
from eligibility.selectors import NO_RECORDS, eligibility_for, patient_records_for, patient_records_of
from tests.clinics.factories import RegionFactory, region_codes_add
from tests.eligibility.factories import CertificateFactory, FreeCardFactory, approved_prior_assessment

NO_CERTIFICATE_S = "Patienten saknar intyg: S-tandvård, förhandsbedömning krävs"
S_NEEDS_FHB = "S-tandvård kräver förhandsbedömning"
S_WITH_FHB = "S-tandvård med godkänd förhandsbedömning"
PIN = "200001012384"  # Skatteverket's test numbers
OTHER_PIN = "200001042399"  # with no data at all
OLD_PIN = "191212121212"  # turns 85 on 1997-12-12


def _today() -> datetime.date:
    return timezone.localdate()


def _at(world, pin=PIN, clinic=None, on=None):
    return eligibility_for(personal_identity_number=pin, clinic=clinic or world.clinic, on_date=on or _today())


def _certificate(world, *, pin=PIN, region=None, **values):
    """A certificate of the patient in the world's region (or `region`), valid from long ago unless told."""
    values.setdefault("valid_from", datetime.date(2024, 1, 1))
    return CertificateFactory(patient__personal_identity_number=pin, region=region or world.region, **values)


def _approved_prior_assessment(world, *, pin=PIN, clinic=None):
    return approved_prior_assessment(world, pin=pin, clinic=clinic)


@pytest.fixture
def dalarna(small_world):
    """The small world whose other region has Dalarna's fee rules: none from 85, none with an N2 certificate."""
    small_world.other_region = region_codes_add(
        RegionFactory(fee_exempt_from_age=85, fee_exempt_certificate_groups=["N2"])
    )
    return small_world


def _allowed(eligibility) -> dict[str, bool]:
    return {option.support_form: option.allowed for option in eligibility.options}


def _reasons(eligibility) -> dict[str, str]:
    return {option.support_form: option.reason for option in eligibility.options}


def _assert_s_needs_fhb(eligibility, reason):
    s = eligibility.option(SupportForm.S)
    assert s.allowed and s.requires_prior_assessment
    assert s.reason == reason


# Each rule -----------------------------------------------------------------------------------------------


def test_n_until_further_notice(small_world):
    _certificate(small_world, support_form="N", number="764153", group="N1")
    result = _at(small_world)
    assert _allowed(result) == {"N": True, "F": False, "S": True}
    n = result.option(SupportForm.N)
    assert n.reason == "Intyget giltigt: tills vidare"
    assert (n.certificate.number, n.certificate.group) == ("764153", "N1")
    assert result.certificate == n.certificate
    assert result.option(SupportForm.F).reason == "Patienten saknar intyg för F-tandvård."
    _assert_s_needs_fhb(result, S_NEEDS_FHB)
    assert not result.fee_exempt and result.free_card is None and result.prior_assessments == []


def test_f_ending_next_year(small_world):
    end_of_next_year = datetime.date(_today().year + 1, 12, 31)
    _certificate(
        small_world,
        support_form="F",
        number="810022",
        group="F3",
        valid_from=datetime.date(_today().year - 1, 1, 1),
        valid_to=end_of_next_year,
    )
    result = _at(small_world)
    assert _allowed(result) == {"N": False, "F": True, "S": True}
    assert result.option(SupportForm.F).reason == f"Intyget giltigt till {end_of_next_year.isoformat()}"
    assert result.certificate.number == "810022"
    # On the last day it still holds, the day after it does not.
    assert _at(small_world, on=end_of_next_year).option(SupportForm.F).allowed
    after = _at(small_world, on=end_of_next_year + datetime.timedelta(days=1))
    assert not after.option(SupportForm.F).allowed
    assert after.option(SupportForm.F).reason == f"Intyget upphörde {end_of_next_year.isoformat()}."


def test_n_that_ended_last_year_leaves_s_with_prior_assessment(small_world):
    end_of_last_year = datetime.date(_today().year - 1, 12, 31)
    _certificate(
        small_world, support_form="N", group="N4", valid_from=datetime.date(2022, 3, 1), valid_to=end_of_last_year
    )
    result = _at(small_world)
    assert _allowed(result) == {"N": False, "F": False, "S": True}
    assert result.option(SupportForm.N).reason == f"Intyget upphörde {end_of_last_year.isoformat()}."
    assert result.certificate is None
    _assert_s_needs_fhb(result, NO_CERTIFICATE_S)


def test_n_revoked_last_month(small_world):
    revoked = (_today() - relativedelta(months=1)).replace(day=15)
    _certificate(
        small_world,
        support_form="N",
        valid_from=datetime.date(2023, 5, 1),
        revoked_from=revoked,
        revocation_reason="Patienten bor inte längre på särskilt boende.",
    )
    result = _at(small_world)
    assert _allowed(result) == {"N": False, "F": False, "S": True}
    assert result.option(SupportForm.N).reason == f"Intyget återkallades {revoked.isoformat()}."
    assert "återkallades" in result.option(SupportForm.N).reason
    _assert_s_needs_fhb(result, NO_CERTIFICATE_S)
    # The day before the revocation the certificate was still good.
    before = _at(small_world, on=revoked - datetime.timedelta(days=1))
    assert before.option(SupportForm.N).allowed
    assert before.option(SupportForm.N).reason == "Intyget giltigt: tills vidare"


def test_approved_prior_assessment_counts_at_its_own_clinic_only(small_world):
    _approved_prior_assessment(small_world)
    at_its_clinic = _at(small_world, clinic=small_world.clinic)
    assert _allowed(at_its_clinic) == {"N": False, "F": False, "S": True}
    _assert_s_needs_fhb(at_its_clinic, S_WITH_FHB)
    (assessment,) = at_its_clinic.prior_assessments
    assert assessment.clinic == small_world.clinic and assessment.support_form == SupportForm.S
    assert assessment.is_approved and assessment.valid_until >= _today()
    assert [line.code for line in assessment.lines.all()] == ["401", "101"]

    at_another = _at(small_world, clinic=small_world.other_clinic)
    assert at_another.prior_assessments == []
    _assert_s_needs_fhb(at_another, NO_CERTIFICATE_S)


def test_n_and_free_card_exempt_the_fee_with_the_card(small_world):
    _certificate(small_world, support_form="N", group="N2")
    this_year = _today().year
    FreeCardFactory(
        region=small_world.region,
        patient__personal_identity_number=PIN,
        number="55512",
        valid_from=datetime.date(this_year, 1, 1),
        valid_to=datetime.date(this_year, 12, 31),
    )
    result = _at(small_world)
    assert _allowed(result) == {"N": True, "F": False, "S": True}
    assert result.option(SupportForm.N).certificate.group == "N2"
    assert result.free_card.number == "55512"
    assert result.fee_exempt
    # The region has no N2 or age rule: the card is the only reason.
    assert result.fee_exempt_reasons == ["Giltigt frikort 55512"]
    new_year = datetime.date(this_year + 1, 1, 1)
    next_year = _at(small_world, on=new_year)
    assert next_year.free_card is None and not next_year.fee_exempt


def test_over_85_in_dalarna_pays_no_fee(dalarna):
    _certificate(dalarna, pin=OLD_PIN, region=dalarna.other_region, number="D-2001-17")
    result = _at(dalarna, OLD_PIN, clinic=dalarna.other_region_clinic)
    assert _allowed(result) == {"N": True, "F": False, "S": True}
    assert result.certificate.number == "D-2001-17"
    assert result.fee_exempt_reasons == ["85 år eller äldre"]


def test_n2_in_dalarna_pays_no_fee(dalarna):
    _certificate(dalarna, region=dalarna.other_region, group="N2")
    result = _at(dalarna, clinic=dalarna.other_region_clinic)
    assert result.option(SupportForm.N).allowed
    assert result.certificate.group == "N2"
    assert result.fee_exempt_reasons == ["Intyg N2"]


@pytest.mark.parametrize("pin,group", [(PIN, "N2"), (OLD_PIN, "N1")])
def test_a_dalarna_certificate_does_not_count_at_a_vg_clinic(dalarna, pin, group):
    _certificate(dalarna, pin=pin, region=dalarna.other_region, group=group)
    result = _at(dalarna, pin, clinic=dalarna.clinic)
    assert result.patient is not None
    assert _allowed(result) == {"N": False, "F": False, "S": True}
    assert result.option(SupportForm.N).reason == "Patienten saknar intyg för N-tandvård."
    _assert_s_needs_fhb(result, NO_CERTIFICATE_S)
    # The clinic's own region exempts neither N2 nor the age of 85.
    assert not result.fee_exempt


def test_a_patient_not_in_the_database_can_only_have_s(small_world):
    result = _at(small_world, OTHER_PIN)
    assert result.patient is None
    assert _allowed(result) == {"N": False, "F": False, "S": True}
    assert result.option(SupportForm.N).reason == "Patienten saknar intyg för N-tandvård."
    _assert_s_needs_fhb(result, NO_CERTIFICATE_S)
    assert result.free_card is None and result.prior_assessments == [] and not result.fee_exempt
    # Looking someone up does not create them.
    assert not Patient.objects.filter(personal_identity_number=OTHER_PIN).exists()


# Edges of the rules -------------------------------------------------------------------------------------


def test_a_certificate_that_begins_later_says_from_when(small_world):
    starts = _today() + datetime.timedelta(days=10)
    services.certificate_register(
        actor=small_world.coordinator,
        region=small_world.region,
        personal_identity_number=OTHER_PIN,
        support_form=SupportForm.F,
        number="F-LATER",
        group="F2",
        valid_from=starts,
        valid_to=None,
    )
    result = _at(small_world, OTHER_PIN)
    assert result.option(SupportForm.F).reason == f"Intyget gäller först från {starts.isoformat()}."
    assert _at(small_world, OTHER_PIN, on=starts).option(SupportForm.F).allowed


def test_with_both_n_and_f_valid_the_certificate_is_the_n(small_world):
    _certificate(small_world, support_form="N", number="764153")
    services.certificate_register(
        actor=small_world.coordinator,
        region=small_world.region,
        personal_identity_number=PIN,
        support_form=SupportForm.F,
        number="F-BOTH",
        group="F1",
        valid_from=datetime.date(2024, 1, 1),
        valid_to=None,
    )
    result = _at(small_world)
    assert _allowed(result) == {"N": True, "F": True, "S": True}
    assert result.certificate.number == "764153"


@pytest.mark.parametrize(("day", "exempt"), [(datetime.date(1997, 12, 11), False), (datetime.date(1997, 12, 12), True)])
def test_the_age_rule_applies_on_the_visit_date(dalarna, day, exempt):
    """191212121212 turns 85 on 1997-12-12."""
    _certificate(dalarna, pin=OLD_PIN, region=dalarna.other_region, valid_from=datetime.date(1990, 1, 1))
    result = _at(dalarna, OLD_PIN, clinic=dalarna.other_region_clinic, on=day)
    assert ("85 år eller äldre" in result.fee_exempt_reasons) is exempt


def test_an_expired_or_denied_prior_assessment_is_not_listed(small_world):
    assessment = _approved_prior_assessment(small_world)
    last_day = assessment.valid_until
    assert [a.pk for a in _at(small_world, on=last_day).prior_assessments] == [assessment.pk]
    expired = _at(small_world, on=last_day + datetime.timedelta(days=1))
    assert expired.prior_assessments == []
    _assert_s_needs_fhb(expired, NO_CERTIFICATE_S)

    denied = services.prior_assessment_request(
        actor=small_world.biller,
        clinic=small_world.other_clinic,
        personal_identity_number=PIN,
        support_form=SupportForm.S,
        justification="Planerad behandling.",
        lines=[{"code": "401", "tooth": "36", "estimated_price": 145000}],
        attachments=[],
    )
    services.prior_assessment_decide(
        actor=small_world.coordinator,
        assessment=denied,
        approved_amounts={line.pk: None for line in denied.lines.all()},
        reason="Underlaget räcker inte.",
    )
    assert _at(small_world, clinic=small_world.other_clinic).prior_assessments == []


# One patient's records (compiled once per process) ---------------------------------------------------------


def _values(instances) -> list[dict]:
    return [{k: v for k, v in vars(i).items() if k not in ("_state", "_prefetched_objects_cache")} for i in instances]


def test_one_patients_records_are_those_read_with_others(small_world, django_assert_num_queries):
    """The one-patient queries (portal.db.PreparedQuery) give the instances the ORM gives for many patients: every
    field converted alike, in the same order, the assessments' lines read with them."""
    _certificate(small_world, support_form="N", group="N2", valid_to=datetime.date(2030, 1, 1))
    _certificate(
        small_world, support_form="F", number="F-7", revoked_from=datetime.date(2025, 1, 1), revocation_reason="Fel."
    )
    FreeCardFactory(region=small_world.region, patient__personal_identity_number=PIN, number="55512")
    _approved_prior_assessment(small_world)
    _certificate(small_world, pin=OLD_PIN)
    both = patient_records_for(personal_identity_numbers=[PIN, OLD_PIN], clinic=small_world.clinic)
    with django_assert_num_queries(5):
        one = patient_records_of(personal_identity_number=PIN, clinic=small_world.clinic)
    assert one.patient == both[PIN].patient and _values([one.patient]) == _values([both[PIN].patient])
    for name in ("certificates", "free_cards", "prior_assessments"):
        assert len(getattr(one, name)) == len(getattr(both[PIN], name)) > 0
        assert _values(getattr(one, name)) == _values(getattr(both[PIN], name))
    with django_assert_num_queries(0):
        assert [line.code for line in one.prior_assessments[0].lines.all()] == ["401", "101"]
    later = one.prior_assessments[0].valid_until + datetime.timedelta(days=1)
    assert patient_records_for(personal_identity_numbers=[PIN], clinic=small_world.clinic, from_date=later) == {
        PIN: type(one)(patient=one.patient, certificates=one.certificates, free_cards=one.free_cards)
    }
    with django_assert_num_queries(1):
        assert patient_records_of(personal_identity_number=OTHER_PIN, clinic=small_world.clinic) is NO_RECORDS


# The demo's patients ---------------------------------------------------------------------------------------

# Each patient of fixtures/demo.json as its "shows" says, on today's date: the demo clinic it is seen at, the
# support forms besides S, the certificate that counts, why no fee is paid, and its approved prior assessments.
DEMO_PATIENTS = {
    "200001012384": ("clinic31", {"N"}, "764153", [], 0),
    "200001011493": ("clinic31", {"F"}, "810022", [], 0),
    "200001012392": ("clinic31", set(), None, [], 0),  # ended last year
    "200001018928": ("clinic31", set(), None, [], 0),  # revoked last month
    "200001022383": ("clinic31", set(), None, [], 1),
    "200001022391": ("clinic31", {"N"}, "764182", ["Giltigt frikort 55512"], 0),
    "191212121212": ("clinic2001", {"N"}, "D-2001-17", ["85 år eller äldre"], 0),
    "200001032390": ("clinic2001", {"N"}, "D-2001-18", ["Intyg N2"], 0),
    # The patients of portal/demo/history.py (a year of paid claims for the coordinator's start page).
    "200105205355": ("clinic31", {"N"}, "764199", [], 0),
    "200104016316": ("clinic31", {"F"}, "810044", [], 0),
    "200106259005": ("clinic2001", {"N"}, "D-2001-19", [], 0),
}


def test_every_demo_patient_has_a_line_here():
    """A patient added to the demo needs its own line above."""
    demo = json.loads((settings.BASE_DIR / "fixtures" / "demo.json").read_text(encoding="utf-8"))
    assert {patient["personal_identity_number"] for patient in demo["patients"]} == set(DEMO_PATIENTS)


@pytest.mark.parametrize("pin", list(DEMO_PATIENTS))
def test_each_demo_patient_is_as_the_demo_shows(world, pin):
    clinic, forms, certificate, fee_exempt_reasons, prior_assessments = DEMO_PATIENTS[pin]
    result = _at(world, pin, clinic=getattr(world, clinic))
    assert _allowed(result) == {"N": "N" in forms, "F": "F" in forms, "S": True}
    assert (result.certificate and result.certificate.number) == certificate
    assert result.fee_exempt_reasons == fee_exempt_reasons
    assert len(result.prior_assessments) == prior_assessments
