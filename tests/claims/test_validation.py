"""claim_validate: each rule with the message the clinic reads, the regions' deadlines and fee rules, the context."""

import datetime
from dataclasses import replace

import pytest
from django.db.models import F
from django.utils import timezone

from claims.drafts import ClaimDraft, FreeCardDraft, LineDraft
from claims.models import (
    PATIENT_FEE_CODE,
    ClaimLine,
    ClaimState,
    CreditInvoice,
    CreditLine,
    TariffRow,
    TariffVersion,
)
from claims.validation import (
    FreeAmountUse,
    ValidationContext,
    billing_deadline_text,
    claim_amounts,
    claim_validate,
    free_amount_use,
    last_billing_day,
    line_faults,
)
from clinics.models import DeadlineBasis, Region, SupportForm
from eligibility.models import Patient, PriorAssessment, PriorAssessmentState
from tests.claims.factories import ClaimFactory, TariffRowFactory, standard_tariff
from tests.eligibility.factories import CertificateFactory, PriorAssessmentFactory

D = datetime.date
# A year with no demo tariff (the demo has last year's and this year's), nor the year before it, so that the
# standard test tariff applies; demo data relative to today (this year's frikort, the prior assessment decided
# today) is tested on today's dates.
YEAR = timezone.localdate().year + 4
VISIT = D(YEAR, 9, 1)
TODAY = D(YEAR, 10, 1)

N_PIN = "200001012384"  # VG: N certificate 764153 (N1), tills vidare
F_PIN = "200001011493"  # VG: F certificate ending next year
FHB_PIN = "200001022383"  # VG: no certificate, an approved S prior assessment at clinic 31
FREE_CARD_PIN = "200001022391"  # VG: N certificate 764182 (N2) and frikort 55512 for this year
OVER_85_PIN = "191212121212"  # Dalarna: N certificate D-2001-17 (N1), over 85
N2_PIN = "200001032390"  # Dalarna: N certificate D-2001-18 (N2)
REVOKED_PIN = "200001018928"  # VG: N certificate revoked the 15th of last month
BORN_2000_01_04 = "200001042399"  # a test number with no demo data: 85 on 2085-01-04

FEE = 20000  # 200 kr


def tariff_for_year(region, year: int) -> TariffVersion:
    """The region's tariff for a year the demo data is relative to: the one the demo read in, else the standard
    test tariff. Tests on such years use only codes both have alike (patAvg, 101, 121, 401)."""
    existing = TariffVersion.objects.filter(region=region, valid_from=D(year, 1, 1)).first()
    return existing or standard_tariff(region, year)


@pytest.fixture
def tariffs(world):
    """The standard tariff in both regions for YEAR (past any demo tariff), and a tariff for this year."""
    for region in (world.vg, world.dalarna):
        standard_tariff(region, YEAR)
        tariff_for_year(region, timezone.localdate().year)


def n_draft(**changes) -> ClaimDraft:
    """A claim with no fault: N for 200001012384 at a VG clinic, 101 and 825 UK, fee paid."""
    values = {
        "personal_identity_number": N_PIN,
        "support_form": SupportForm.N,
        "reference": "980890",
        "lines": [LineDraft(VISIT, "101"), LineDraft(VISIT, "825", jaw="UK")],
        "patient_fees": {VISIT: FEE},
        "certificate_number": "764153",
        "care_model": "K1",
    }
    return ClaimDraft(**(values | changes))


def dalarna_draft(**changes) -> ClaimDraft:
    """N for 191212121212 at clinic 2001: over 85, so no fee; Dalarna lists no care models."""
    values = {
        "personal_identity_number": OVER_85_PIN,
        "support_form": SupportForm.N,
        "reference": "D-1",
        "lines": [LineDraft(VISIT, "101")],
        "certificate_number": "D-2001-17",
    }
    return ClaimDraft(**(values | changes))


def demo_fhb() -> PriorAssessment:
    return PriorAssessment.objects.get(patient__personal_identity_number=FHB_PIN)


def s_draft(**changes) -> ClaimDraft:
    """S for 200001022383 with the demo's approved prior assessment (401 tooth 36 and 101), visit today."""
    today = timezone.localdate()
    values = {
        "personal_identity_number": FHB_PIN,
        "support_form": SupportForm.S,
        "reference": "980891",
        "lines": [LineDraft(today, "401", tooth="36"), LineDraft(today, "101")],
        "patient_fees": {today: FEE},
        "patient_category": "S3",
        "prior_assessment_number": demo_fhb().number,
    }
    return ClaimDraft(**(values | changes))


def approved_fhb(clinic, pin, *, support_form=SupportForm.N, lines=None, valid_until=D(YEAR, 12, 31)):
    """An approved prior assessment with every planned line approved at its estimate."""
    assessment = PriorAssessmentFactory(
        clinic=clinic,
        patient=Patient.objects.get_or_create(personal_identity_number=pin)[0],
        support_form=support_form,
        state=PriorAssessmentState.APPROVED,
        valid_until=valid_until,
        lines=lines or [("101", 98000)],
    )
    assessment.lines.update(approved=True, approved_amount=F("estimated_price"))
    return assessment


def validate(world, draft, *, clinic="clinic31", today=TODAY):
    return claim_validate(clinic=getattr(world, clinic), draft=draft, today=today)


def messages(faults) -> list[str]:
    return [fault.message for fault in faults]


# Whole claims that pass ------------------------------------------------------------------------------------


def test_valid_n_claim_has_no_fault(world, tariffs, django_assert_max_num_queries):
    # The region, the tariff (versions, rows), the reference, care models, and eligibility_for for the one visit
    # date (patient, certificates, free cards, prior assessments).
    with django_assert_max_num_queries(9):
        assert validate(world, n_draft()) == []


def test_s_claim_with_the_demo_prior_assessment_has_no_fault(world, tariffs):
    assert validate(world, s_draft(), today=timezone.localdate()) == []


def test_the_same_s_claim_at_another_clinic_has_an_invalid_prior_assessment(world, tariffs):
    number = demo_fhb().number
    faults = validate(world, s_draft(), clinic="clinic32", today=timezone.localdate())
    assert messages(faults) == [f"Räkningens förhandsbedömningsnummer {number} är ogiltigt."]
    assert (faults[0].code, faults[0].field) == ("prior_assessment_invalid", "prior_assessment_number")


def test_every_fault_is_returned_not_only_the_first(world, tariffs):
    draft = n_draft(
        care_model="",
        lines=[LineDraft(VISIT, "401"), LineDraft(VISIT, "999"), LineDraft(D(YEAR, 10, 2), "101", jaw="OK")],
        patient_fees={},
    )
    assert messages(validate(world, draft)) == [
        "Ange vårdmodell för N-tandvård.",
        "Åtgärd 401 kräver tand.",
        f"Åtgärdskod 999 finns inte i ersättningslistan för {YEAR}-09-01.",
        "Åtgärd 101 ska inte ha käke.",
        f"Besöksdatum {YEAR}-10-02 ligger i framtiden.",
        f"Patientavgift saknas för besöket {YEAR}-09-01.",
        f"Patientavgift saknas för besöket {YEAR}-10-02.",
    ]


# Reference ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("state", [ClaimState.RECEIVED, ClaimState.PAID, ClaimState.VOIDED, ClaimState.DELETED])
def test_reference_used_before_by_the_clinic_in_any_state(world, tariffs, state):
    ClaimFactory(
        invoice__clinic=world.clinic31, reference="980890", state=state, void_reason="Fel patient.", with_line=False
    )
    faults = validate(world, n_draft())
    assert messages(faults) == ["Räkningsreferensen har redan använts, använd ett annat"]
    assert (faults[0].code, faults[0].field) == ("reference_used", "reference")


def test_reference_of_another_clinic_is_free(world, tariffs):
    ClaimFactory(invoice__clinic=world.clinic32, reference="980890", with_line=False)
    assert validate(world, n_draft()) == []


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("", "Ange en räkningsreferens."),
        ("A" * 21, "Räkningsreferensen får ha 1–20 tecken: siffror, bokstäver A–Z och bindestreck."),
        ("RÄK-1", "Räkningsreferensen får ha 1–20 tecken: siffror, bokstäver A–Z och bindestreck."),
        ("980 890", "Räkningsreferensen får ha 1–20 tecken: siffror, bokstäver A–Z och bindestreck."),
    ],
)
def test_reference_must_be_1_to_20_letters_digits_or_hyphens(world, tariffs, reference, message):
    assert messages(validate(world, n_draft(reference=reference))) == [message]


def test_twenty_characters_with_hyphen_is_a_good_reference(world, tariffs):
    assert validate(world, n_draft(reference="abc-DEF-0123456789-x")) == []


def test_reference_twice_among_the_drafts_of_one_context(world, tariffs):
    first, second, other = n_draft(), n_draft(lines=[LineDraft(VISIT, "101")]), n_draft(reference="980892")
    context = ValidationContext(clinic=world.clinic31, drafts=[first, second, other])
    for draft, expected in ((first, 1), (second, 1), (other, 0)):
        faults = claim_validate(clinic=world.clinic31, draft=draft, today=TODAY, context=context)
        assert [fault.code for fault in faults] == ["reference_used"] * expected


# Personnummer and support form ------------------------------------------------------------------------------


@pytest.mark.parametrize("pin", ["200001012385", "20000101238", "200013012384", "abc"])
def test_invalid_personnummer_skips_the_patient_checks(world, tariffs, pin):
    faults = validate(world, n_draft(personal_identity_number=pin, patient_fees={}))
    assert messages(faults) == ["Personnumret är ogiltigt."]
    assert (faults[0].code, faults[0].field) == ("personal_identity_number_invalid", "personal_identity_number")


def test_personnummer_with_hyphen_and_ten_digits_is_accepted(world, tariffs):
    assert validate(world, n_draft(personal_identity_number="000101-2384")) == []


def test_unknown_support_form(world, tariffs):
    assert messages(validate(world, n_draft(support_form="X"))) == ["Ange stödform N, F eller S."]


# Certificates -------------------------------------------------------------------------------------------------


def test_n_without_certificate(world, tariffs):
    faults = validate(world, n_draft(personal_identity_number=FHB_PIN, certificate_number=""))
    assert messages(faults) == ["Patienten saknar giltigt intyg för N-tandvård."]
    assert faults[0].code == "certificate_missing"


def test_f_without_certificate(world, tariffs):
    faults = validate(world, n_draft(support_form=SupportForm.F, certificate_number="", care_model=""))
    assert messages(faults) == ["Patienten saknar giltigt intyg för F-tandvård."]


def test_f_with_certificate(world, tariffs):
    today = timezone.localdate()  # the demo's F certificate runs from the start of last year
    draft = n_draft(
        personal_identity_number=F_PIN,
        support_form=SupportForm.F,
        certificate_number="810022",
        lines=[LineDraft(today, "101")],
        patient_fees={today: FEE},
    )
    assert validate(world, draft, today=today) == []


def test_certificate_must_hold_on_every_visit_date(world):
    today = timezone.localdate()
    revoked = (today.replace(day=1) - datetime.timedelta(days=1)).replace(day=15)
    before = revoked - datetime.timedelta(days=1)
    for year in {before.year, revoked.year}:
        tariff_for_year(world.vg, year)
    only_before = ClaimDraft(
        personal_identity_number=REVOKED_PIN,
        support_form=SupportForm.N,
        reference="R1",
        lines=[LineDraft(before, "101")],
        patient_fees={before: FEE},
        care_model="K1",
    )
    assert validate(world, only_before, today=today) == []
    both = replace(
        only_before,
        lines=[LineDraft(before, "101"), LineDraft(revoked, "101")],
        patient_fees={before: FEE, revoked: FEE},
    )
    assert messages(validate(world, both, today=today)) == ["Patienten saknar giltigt intyg för N-tandvård."]


def test_certificate_number_that_is_not_the_valid_one(world, tariffs):
    faults = validate(world, n_draft(certificate_number="764160"))
    assert messages(faults) == ["Intygsnummer 764160 är inte patientens giltiga intyg för N-tandvård."]
    assert (faults[0].code, faults[0].field) == ("certificate_number_mismatch", "certificate_number")


def test_certificate_number_may_be_left_out(world, tariffs):
    assert validate(world, n_draft(certificate_number="")) == []


# Prior assessments -----------------------------------------------------------------------------------------


def test_s_without_prior_assessment(world, tariffs):
    faults = validate(world, s_draft(prior_assessment_number=""), today=timezone.localdate())
    assert messages(faults) == ["S-tandvård kräver förhandsbedömning."]
    assert (faults[0].code, faults[0].field) == ("prior_assessment_required", "prior_assessment_number")


def test_unknown_prior_assessment(world, tariffs):
    faults = validate(world, s_draft(prior_assessment_number="FHB-2099-999999"), today=timezone.localdate())
    assert messages(faults) == ["Räkningens förhandsbedömningsnummer FHB-2099-999999 är ogiltigt."]


def test_another_patients_prior_assessment(world, tariffs):
    number = demo_fhb().number
    draft = s_draft(personal_identity_number=F_PIN)
    assert messages(validate(world, draft, today=timezone.localdate())) == [
        f"Räkningens förhandsbedömningsnummer {number} är ogiltigt."
    ]


@pytest.mark.parametrize(
    "state", [PriorAssessmentState.SUBMITTED, PriorAssessmentState.DENIED, PriorAssessmentState.WRITTEN_OFF]
)
def test_prior_assessment_not_approved(world, tariffs, state):
    assessment = PriorAssessmentFactory(
        clinic=world.clinic31, patient=Patient.objects.get(personal_identity_number=N_PIN), state=state
    )
    faults = validate(world, n_draft(prior_assessment_number=assessment.number))
    assert messages(faults) == [f"Räkningens förhandsbedömningsnummer {assessment.number} är ogiltigt."]


def test_prior_assessment_expired_on_a_visit_date(world, tariffs):
    assessment = approved_fhb(world.clinic31, N_PIN, valid_until=D(YEAR, 9, 1))
    on_last_day = n_draft(prior_assessment_number=assessment.number, lines=[LineDraft(VISIT, "101")])
    assert validate(world, on_last_day) == []
    day_after = VISIT + datetime.timedelta(days=1)
    expired = n_draft(
        prior_assessment_number=assessment.number,
        lines=[LineDraft(VISIT, "101"), LineDraft(day_after, "101")],
        patient_fees={VISIT: FEE, day_after: FEE},
    )
    assert messages(validate(world, expired)) == [
        f"Räkningens förhandsbedömningsnummer {assessment.number} är ogiltigt."
    ]


def test_prior_assessment_of_another_support_form(world, tariffs):
    assessment = approved_fhb(world.clinic31, N_PIN, support_form=SupportForm.S)
    draft = n_draft(prior_assessment_number=assessment.number, lines=[LineDraft(VISIT, "101")])
    assert messages(validate(world, draft)) == [
        f"Förhandsbedömning {assessment.number} gäller S-tandvård, inte N-tandvård."
    ]


@pytest.mark.parametrize(
    "extra_line", [LineDraft(timezone.localdate(), "121"), LineDraft(timezone.localdate(), "401", tooth="46")]
)
def test_line_not_covered_by_the_prior_assessment(world, tariffs, extra_line):
    draft = s_draft()
    faults = validate(world, s_draft(lines=[*draft.lines, extra_line]), today=timezone.localdate())
    assert messages(faults) == ["Förhandsbedömd vård kan inte faktureras i samma räkning som icke-förhandsbedömd vård."]
    assert (faults[0].code, faults[0].line) == ("not_covered_by_prior_assessment", 2)


def test_code_that_requires_a_prior_assessment(world, tariffs):
    faults = validate(world, n_draft(lines=[LineDraft(VISIT, "825S", jaw="OK")]))
    assert messages(faults) == ["Åtgärd 825S kräver förhandsbedömning."]
    assert (faults[0].code, faults[0].line) == ("code_requires_prior_assessment", 0)


def test_code_that_requires_a_prior_assessment_with_one(world, tariffs):
    assessment = approved_fhb(world.clinic31, N_PIN, lines=[("825S", 1519500)])
    draft = n_draft(lines=[LineDraft(VISIT, "825S", jaw="OK")], prior_assessment_number=assessment.number)
    assert validate(world, draft) == []


# Tariff, tooth, jaw and price ------------------------------------------------------------------------------


def test_code_not_in_the_tariff(world, tariffs):
    faults = validate(world, n_draft(lines=[LineDraft(VISIT, "101"), LineDraft(VISIT, "999")]))
    assert messages(faults) == [f"Åtgärdskod 999 finns inte i ersättningslistan för {YEAR}-09-01."]
    assert (faults[0].code, faults[0].field, faults[0].line) == ("code_unknown", "lines", 1)


def test_no_tariff_covers_the_visit_date(world, tariffs):
    visit = D(YEAR - 1, 12, 1)
    draft = n_draft(lines=[LineDraft(visit, "101")], patient_fees={visit: FEE})
    faults = validate(world, draft, today=D(YEAR, 1, 15))
    assert messages(faults) == [f"Åtgärdskod 101 finns inte i ersättningslistan för {YEAR - 1}-12-01."]


def test_code_not_allowed_for_the_support_form(world, tariffs):
    version = world.vg.tariff_versions.get(valid_from=D(YEAR, 1, 1))
    TariffRowFactory(version=version, code="950", support_forms=[SupportForm.S])
    faults = validate(world, n_draft(lines=[LineDraft(VISIT, "950")]))
    assert messages(faults) == ["Åtgärd 950 kan inte faktureras för N-tandvård."]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (LineDraft(VISIT, "401"), "Åtgärd 401 kräver tand."),
        (LineDraft(VISIT, "401", tooth="19"), "Åtgärd 401: tand 19 är inget giltigt tandnummer (FDI)."),
        (LineDraft(VISIT, "401", tooth="56"), "Åtgärd 401: tand 56 är inget giltigt tandnummer (FDI)."),
        (LineDraft(VISIT, "401", tooth="36", jaw="UK"), "Åtgärd 401 ska inte ha käke."),
        (LineDraft(VISIT, "101", tooth="36"), "Åtgärd 101 ska inte ha tand."),
        (LineDraft(VISIT, "101", jaw="OK"), "Åtgärd 101 ska inte ha käke."),
        (LineDraft(VISIT, "825"), "Åtgärd 825 kräver käke (ÖK eller UK)."),
        (LineDraft(VISIT, "825", jaw="ÖK"), "Åtgärd 825: käke ÖK är ogiltig, ange ÖK eller UK."),
        (LineDraft(VISIT, "825", tooth="36", jaw="UK"), "Åtgärd 825 ska inte ha tand."),
    ],
)
def test_tooth_and_jaw_where_the_tariff_row_says(world, tariffs, line, message):
    assert messages(validate(world, n_draft(lines=[line]))) == [message]


@pytest.mark.parametrize("tooth", ["11", "18", "28", "38", "48", "51", "55", "65", "75", "85"])
def test_fdi_teeth_permanent_and_primary(world, tariffs, tooth):
    assert validate(world, n_draft(lines=[LineDraft(VISIT, "401", tooth=tooth)])) == []


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (LineDraft(VISIT, "101", price=98000), "Åtgärd 101 har fast pris i ersättningslistan; ange inget pris."),
        (LineDraft(VISIT, "901"), "Ange pris för åtgärd 901."),
        (LineDraft(VISIT, "901", price=-100), "Priset för åtgärd 901 kan inte vara negativt."),
    ],
)
def test_price_only_where_the_clinic_enters_it(world, tariffs, line, message):
    assert messages(validate(world, n_draft(lines=[line]))) == [message]


def test_entered_price(world, tariffs):
    assert validate(world, n_draft(lines=[LineDraft(VISIT, "901", price=150050)])) == []


def test_line_comment_too_long(world, tariffs):
    faults = validate(world, n_draft(lines=[LineDraft(VISIT, "101", comment="x" * 201)]))
    assert messages(faults) == ["Kommentaren till åtgärd 101 får ha högst 200 tecken."]


# Dates ------------------------------------------------------------------------------------------------------


def test_visit_in_the_future(world, tariffs):
    faults = validate(world, n_draft(), today=VISIT - datetime.timedelta(days=1))
    assert messages(faults) == [f"Besöksdatum {YEAR}-09-01 ligger i framtiden."]
    assert validate(world, n_draft(), today=VISIT) == []


def test_deadline_six_months_after_the_treatment_day_in_vg(world, tariffs):
    visit = D(YEAR, 3, 15)
    draft = n_draft(lines=[LineDraft(visit, "101")], patient_fees={visit: FEE})
    assert validate(world, draft, today=D(YEAR, 9, 15)) == []
    faults = validate(world, draft, today=D(YEAR, 9, 16))
    assert messages(faults) == [
        f"Vård utförd {YEAR}-03-15 är äldre än sex månader efter behandlingsdagen och ersätts inte."
    ]
    assert faults[0].code == "visit_too_old"


def test_deadline_three_months_after_the_treatment_month_in_dalarna(world, tariffs):
    visit = D(YEAR, 8, 15)
    draft = dalarna_draft(lines=[LineDraft(visit, "101")])
    assert validate(world, draft, clinic="clinic2001", today=D(YEAR, 11, 30)) == []
    faults = validate(world, draft, clinic="clinic2001", today=D(YEAR, 12, 1))
    assert messages(faults) == [
        f"Vård utförd {YEAR}-08-15 är äldre än tre månader efter behandlingsmånaden och ersätts inte."
    ]


@pytest.mark.parametrize(
    ("months", "basis", "visit", "last_day"),
    [
        (6, DeadlineBasis.TREATMENT_DAY, D(2026, 8, 31), D(2027, 2, 28)),
        (6, DeadlineBasis.TREATMENT_DAY, D(2026, 1, 1), D(2026, 7, 1)),
        (3, DeadlineBasis.END_OF_TREATMENT_MONTH, D(2026, 11, 1), D(2027, 2, 28)),
        (3, DeadlineBasis.END_OF_TREATMENT_MONTH, D(2026, 12, 31), D(2027, 3, 31)),
        (1, DeadlineBasis.END_OF_TREATMENT_MONTH, D(2028, 1, 10), D(2028, 2, 29)),
    ],
)
def test_last_billing_day(months, basis, visit, last_day):
    region = Region(billing_deadline_months=months, billing_deadline_basis=basis)
    assert last_billing_day(region=region, visit_date=visit) == last_day


@pytest.mark.parametrize(
    ("months", "basis", "text"),
    [
        (1, DeadlineBasis.TREATMENT_DAY, "en månad efter behandlingsdagen"),
        (6, DeadlineBasis.TREATMENT_DAY, "sex månader efter behandlingsdagen"),
        (3, DeadlineBasis.END_OF_TREATMENT_MONTH, "tre månader efter behandlingsmånaden"),
        (12, DeadlineBasis.END_OF_TREATMENT_MONTH, "tolv månader efter behandlingsmånaden"),
        (18, DeadlineBasis.TREATMENT_DAY, "18 månader efter behandlingsdagen"),
    ],
)
def test_deadline_in_words_follows_the_region(months, basis, text):
    assert billing_deadline_text(Region(billing_deadline_months=months, billing_deadline_basis=basis)) == text


# Patient fee ------------------------------------------------------------------------------------------------


def test_patient_fee_missing(world, tariffs):
    faults = validate(world, n_draft(patient_fees={}))
    assert messages(faults) == [f"Patientavgift saknas för besöket {YEAR}-09-01."]
    assert (faults[0].code, faults[0].field) == ("patient_fee_missing", "patient_fees")


def test_patient_fee_of_zero_counts_as_given(world, tariffs):
    assert validate(world, n_draft(patient_fees={VISIT: 0})) == []


def test_patient_fee_as_a_patavg_line(world, tariffs):
    draft = n_draft(lines=[LineDraft(VISIT, "101"), LineDraft(VISIT, PATIENT_FEE_CODE, price=FEE)], patient_fees={})
    assert validate(world, draft) == []


def test_registered_frikort_exempts_its_days_only(world):
    year = timezone.localdate().year
    last_day, new_year = D(year, 12, 31), D(year + 1, 1, 1)
    tariff_for_year(world.vg, year)
    tariff_for_year(world.vg, year + 1)
    draft = ClaimDraft(
        personal_identity_number=FREE_CARD_PIN,
        support_form=SupportForm.N,
        reference="FK-1",
        lines=[LineDraft(last_day, "101"), LineDraft(new_year, "101")],
        certificate_number="764182",
        care_model="K1",
    )
    assert messages(validate(world, draft, today=D(year + 1, 1, 15))) == [
        f"Patientavgift saknas för besöket {new_year.isoformat()}."
    ]


def test_frikort_given_with_the_claim_exempts_its_days_only(world, tariffs):
    card = FreeCardDraft(number="77001", valid_from=D(YEAR, 1, 1), valid_to=D(YEAR, 6, 30))
    last_day, day_after = D(YEAR, 6, 30), D(YEAR, 7, 1)
    draft = n_draft(lines=[LineDraft(last_day, "101"), LineDraft(day_after, "101")], patient_fees={}, free_card=card)
    assert messages(validate(world, draft, today=D(YEAR, 8, 1))) == [f"Patientavgift saknas för besöket {YEAR}-07-01."]


def test_frikort_that_ends_before_it_begins(world, tariffs):
    card = FreeCardDraft(number="77001", valid_from=D(YEAR, 6, 30), valid_to=D(YEAR, 1, 1))
    faults = validate(world, n_draft(free_card=card))
    assert messages(faults) == ["Frikortets giltighet slutar innan den börjar."]


def test_over_85_in_dalarna_pays_no_fee(world, tariffs):
    assert validate(world, dalarna_draft(), clinic="clinic2001") == []


def test_the_day_before_the_85th_birthday_a_fee_is_due_in_dalarna(world):
    standard_tariff(world.dalarna, 2085)
    CertificateFactory(
        patient__personal_identity_number=BORN_2000_01_04, region=world.dalarna, group="N1", number="D-2001-99"
    )
    day_before, birthday = D(2085, 1, 3), D(2085, 1, 4)
    draft = dalarna_draft(
        personal_identity_number=BORN_2000_01_04,
        certificate_number="D-2001-99",
        lines=[LineDraft(day_before, "101"), LineDraft(birthday, "101")],
    )
    assert messages(validate(world, draft, clinic="clinic2001", today=D(2085, 1, 10))) == [
        "Patientavgift saknas för besöket 2085-01-03."
    ]


def test_the_age_rule_is_dalarnas_not_vgs(world, tariffs):
    CertificateFactory(patient__personal_identity_number=OVER_85_PIN, region=world.vg, number="VG-85")
    draft = n_draft(personal_identity_number=OVER_85_PIN, certificate_number="VG-85", patient_fees={})
    assert messages(validate(world, draft)) == [f"Patientavgift saknas för besöket {YEAR}-09-01."]


def test_n2_in_dalarna_pays_no_fee(world, tariffs):
    draft = dalarna_draft(personal_identity_number=N2_PIN, certificate_number="D-2001-18")
    assert validate(world, draft, clinic="clinic2001") == []


def test_patient_fee_errors(world, tariffs):
    other_day = VISIT + datetime.timedelta(days=1)
    draft = n_draft(
        lines=[LineDraft(VISIT, "101"), LineDraft(VISIT, PATIENT_FEE_CODE, price=FEE)],
        patient_fees={VISIT: FEE, other_day: -1},
    )
    assert messages(validate(world, draft)) == [
        f"Patientavgiften för besöket {YEAR}-09-02 kan inte vara negativ.",
        f"Patientavgiften för besöket {YEAR}-09-01 är angiven två gånger.",
        f"Patientavgiften för {YEAR}-09-02 hör inte till något besök på räkningen.",
    ]


def test_each_visits_fault_names_its_visit_and_each_lines_fault_its_part(world, tariffs):
    # Where a fault belongs is data, never to be read out of the message.
    other_day = VISIT + datetime.timedelta(days=1)
    draft = n_draft(
        lines=[LineDraft(VISIT, "101"), LineDraft(other_day, "401", tooth="19"), LineDraft(VISIT, "patAvg", price=1)],
        patient_fees={VISIT: FEE, other_day - datetime.timedelta(days=10): 100},
    )
    faults = validate(world, draft, today=VISIT)
    assert [(f.code, f.field, f.line, f.visit_date, f.line_field) for f in faults] == [
        ("tooth_invalid", "lines", 1, other_day, "tooth"),
        ("visit_in_future", "lines", 1, other_day, ""),
        ("patient_fee_given_twice", "lines", 2, VISIT, ""),
        ("patient_fee_without_visit", "patient_fees", None, other_day - datetime.timedelta(days=10), ""),
        ("patient_fee_missing", "patient_fees", None, other_day, ""),
    ]


def test_one_line_is_checked_against_its_tariff_row_as_the_claim_checks_it(world, tariffs):
    row = TariffRow.objects.get(version__region=world.vg, version__valid_from=D(YEAR, 1, 1), code="401")
    line = LineDraft(VISIT, "401", jaw="UK", price=100)
    assert [(f.code, f.line, f.visit_date, f.line_field) for f in line_faults(line, row, index=3)] == [
        ("tooth_required", 3, VISIT, "tooth"),
        ("jaw_not_allowed", 3, VISIT, "jaw"),
        ("price_not_allowed", 3, VISIT, "price"),
    ]
    assert [f.code for f in line_faults(line, None)] == ["code_unknown"]
    assert [f.message for f in line_faults(LineDraft(VISIT, "401", tooth="36"), row, support_form="N")] == []


def test_patient_fee_larger_than_the_claim(world, tariffs):
    draft = n_draft(lines=[LineDraft(VISIT, "901", price=10000)], patient_fees={VISIT: FEE})
    assert messages(validate(world, draft)) == ["Patientavgifterna (200 kr) är större än räkningens belopp."]


# Care model, patient category, teeth, comment, lines -----------------------------------------------------------


def test_care_model_missing_for_n_in_vg(world, tariffs):
    faults = validate(world, n_draft(care_model=""))
    assert messages(faults) == ["Ange vårdmodell för N-tandvård."]
    assert (faults[0].code, faults[0].field) == ("care_model_required", "care_model")


def test_care_model_unknown(world, tariffs):
    assert messages(validate(world, n_draft(care_model="X9"))) == ["Vårdmodell X9 finns inte i regionens lista."]


def test_no_care_model_needed_where_the_region_lists_none(world, tariffs):
    assert validate(world, dalarna_draft(care_model=""), clinic="clinic2001") == []


def test_patient_category_missing_for_s(world, tariffs):
    faults = validate(world, s_draft(patient_category=""), today=timezone.localdate())
    assert messages(faults) == ["Ange patientkategori för S-tandvård."]


@pytest.mark.parametrize("code", ["S99", "N1"])
def test_patient_category_unknown_for_the_support_form(world, tariffs, code):
    faults = validate(world, s_draft(patient_category=code), today=timezone.localdate())
    assert messages(faults) == [f"Patientkategori {code} finns inte för S-tandvård i regionens lista."]


def test_patient_category_on_an_n_claim_is_checked_too(world, tariffs):
    assert validate(world, n_draft(patient_category="N1")) == []
    assert messages(validate(world, n_draft(patient_category="S3"))) == [
        "Patientkategori S3 finns inte för N-tandvård i regionens lista."
    ]


@pytest.mark.parametrize(
    ("remaining", "intact", "message"),
    [
        (33, None, "Antalet kvarvarande tänder ska vara 0–32."),
        (-1, None, "Antalet kvarvarande tänder ska vara 0–32."),
        (20, 21, "Antalet intakta tänder kan inte vara fler än antalet kvarvarande tänder."),
        (None, 5, "Ange antalet kvarvarande tänder när antalet intakta tänder anges."),
    ],
)
def test_tooth_counts(world, tariffs, remaining, intact, message):
    assert messages(validate(world, n_draft(remaining_teeth=remaining, intact_teeth=intact))) == [message]


def test_tooth_counts_within_bounds(world, tariffs):
    assert validate(world, n_draft(remaining_teeth=32, intact_teeth=32)) == []
    assert validate(world, n_draft(remaining_teeth=0, intact_teeth=0)) == []


def test_comment_at_most_500_characters(world, tariffs):
    assert validate(world, n_draft(comment="x" * 500)) == []
    faults = validate(world, n_draft(comment="x" * 501))
    assert messages(faults) == ["Räkningskommentaren får ha högst 500 tecken."]


def test_claim_without_lines(world, tariffs):
    faults = validate(world, n_draft(lines=[], patient_fees={}))
    assert messages(faults) == ["Räkningen saknar åtgärder."]
    assert (faults[0].code, faults[0].field) == ("lines_empty", "lines")


# Free amount (fribelopp) -------------------------------------------------------------------------------------


def stored_claim(clinic, pin, lines, *, support_form=SupportForm.N, state=ClaimState.PAID, prior_assessment=None):
    claim = ClaimFactory(
        invoice__clinic=clinic,
        patient=Patient.objects.get_or_create(personal_identity_number=pin)[0],
        support_form=support_form,
        state=state,
        void_reason="Fel patient." if state == ClaimState.VOIDED else "",
        prior_assessment=prior_assessment,
        total=max(0, sum(amount for _day, _code, amount in lines)),
        with_line=False,
    )
    for position, (day, code, amount) in enumerate(lines, start=1):
        row = TariffRow.objects.get(version__region=clinic.region, version__valid_from__year=day.year, code=code)
        ClaimLine.objects.create(
            claim=claim, position=position, visit_date=day, code=code, tariff_row=row, amount=amount
        )
    return claim


@pytest.fixture
def dalarna_history(world, tariffs):
    """191212121212's claims in Dalarna: 19 270 kr counts against YEAR's free amount, the rest does not."""
    standard_tariff(world.dalarna, YEAR - 1)
    clinic, pin, day = world.clinic2001, OVER_85_PIN, D(YEAR, 3, 2)
    # Counted: N and F without prior assessment, patient fees left out.
    stored_claim(clinic, pin, [(day, "825", 1270500), (day, "901", 558500), (day, PATIENT_FEE_CODE, -20000)])
    stored_claim(clinic, pin, [(day, "101", 98000)], support_form=SupportForm.F, state=ClaimState.RECEIVED)
    # Not counted: credited, deleted, voided, with a prior assessment, S, another year, another region.
    credited = stored_claim(clinic, pin, [(day, "121", 41000)], state=ClaimState.CREDITED)
    credit = CreditInvoice.objects.create(
        clinic=clinic, invoice=credited.invoice, reference="K-1", total=41000, created_by=credited.created_by
    )
    CreditLine.objects.create(credit_invoice=credit, claim_line=credited.lines.get(), amount=41000)
    stored_claim(clinic, pin, [(day, "101", 98000)], state=ClaimState.DELETED)
    stored_claim(clinic, pin, [(day, "101", 98000)], state=ClaimState.VOIDED)
    fhb = approved_fhb(clinic, pin)
    stored_claim(clinic, pin, [(day, "101", 98000)], prior_assessment=fhb)
    stored_claim(clinic, pin, [(day, "101", 98000)], support_form=SupportForm.S, prior_assessment=fhb)
    stored_claim(clinic, pin, [(D(YEAR - 1, 12, 30), "101", 98000)])
    stored_claim(world.clinic31, pin, [(day, "101", 98000)])


def test_free_amount_use(world, dalarna_history):
    def use(clinic, support_form, lines, years=(), **changes):
        draft = dalarna_draft(support_form=support_form, lines=lines, **changes)
        context = ValidationContext(clinic=getattr(world, clinic))
        return free_amount_use(draft=draft, context=context, personal_identity_number=OVER_85_PIN, years=years)

    (this_year,) = use("clinic2001", SupportForm.N, [LineDraft(VISIT, "101"), LineDraft(VISIT, PATIENT_FEE_CODE)])
    assert this_year == FreeAmountUse(YEAR, 2000000, 1927000, 98000)
    assert (this_year.left, this_year.excess, this_year.exceeded) == (73000, 25000, True)
    assert use("clinic2001", SupportForm.F, [], years=[YEAR - 1]) == [FreeAmountUse(YEAR - 1, 2000000, 98000, 0)]
    (prior_assessed,) = use("clinic2001", SupportForm.N, [LineDraft(VISIT, "101")], prior_assessment_number="FHB")
    assert prior_assessed.prior_assessed and not prior_assessed.exceeded
    assert use("clinic2001", SupportForm.S, [LineDraft(VISIT, "101")]) == []
    assert use("clinic31", SupportForm.N, [LineDraft(VISIT, "101")]) == []


def test_free_amount_exceeded(world, dalarna_history):
    draft = dalarna_draft(lines=[LineDraft(VISIT, "101"), LineDraft(VISIT, "901", price=100000)])
    faults = validate(world, draft, clinic="clinic2001")
    assert messages(faults) == [
        f"Fribeloppet på 20\xa0000 kr för {YEAR} överskrids med 1\xa0250 kr; förhandsbedömning krävs."
    ]
    assert faults[0].code == "free_amount_exceeded"


def test_free_amount_reached_exactly_is_allowed(world, dalarna_history):
    draft = dalarna_draft(lines=[LineDraft(VISIT, "901", price=73000)])
    assert validate(world, draft, clinic="clinic2001") == []


def test_free_amount_is_per_calendar_year(world, dalarna_history):
    visit = D(YEAR - 1, 12, 31)
    draft = dalarna_draft(lines=[LineDraft(visit, "825", jaw="UK")])
    assert validate(world, draft, clinic="clinic2001", today=D(YEAR, 1, 10)) == []


def test_free_amount_does_not_apply_with_a_prior_assessment(world, dalarna_history):
    fhb = approved_fhb(world.clinic2001, OVER_85_PIN, lines=[("825", 1270500)])
    draft = dalarna_draft(lines=[LineDraft(VISIT, "825", jaw="UK")], prior_assessment_number=fhb.number)
    assert validate(world, draft, clinic="clinic2001") == []


def test_claims_of_one_batch_add_up_against_the_free_amount(world, dalarna_history):
    # 730 kr of YEAR's free amount are left: each claim of 500 kr fits alone, not both together.
    first = dalarna_draft(reference="D-1", lines=[LineDraft(VISIT, "901", price=50000)])
    second = dalarna_draft(reference="D-2", lines=[LineDraft(VISIT, "901", price=50000)])
    assert validate(world, second, clinic="clinic2001") == []

    context = ValidationContext(clinic=world.clinic2001, drafts=[first, second])
    assert claim_validate(clinic=world.clinic2001, draft=first, today=TODAY, context=context) == []
    faults = claim_validate(clinic=world.clinic2001, draft=second, today=TODAY, context=context)
    assert messages(faults) == [
        f"Fribeloppet på 20\xa0000 kr för {YEAR} överskrids med 270 kr; förhandsbedömning krävs."
    ]


def test_a_faulty_claim_of_the_batch_does_not_use_the_free_amount(world, dalarna_history):
    faulty = dalarna_draft(reference="D-1", lines=[LineDraft(VISIT, "901", price=50000)], comment="x" * 501)
    second = dalarna_draft(reference="D-2", lines=[LineDraft(VISIT, "901", price=50000)])
    context = ValidationContext(clinic=world.clinic2001, drafts=[faulty, second])
    assert claim_validate(clinic=world.clinic2001, draft=faulty, today=TODAY, context=context) != []
    assert claim_validate(clinic=world.clinic2001, draft=second, today=TODAY, context=context) == []


# Amounts and the shared context ------------------------------------------------------------------------------


def test_claim_amounts_from_the_tariff_with_the_fee_as_a_negative_line(world, tariffs):
    draft = n_draft(
        lines=[LineDraft(VISIT, "101"), LineDraft(VISIT, "825", jaw="UK"), LineDraft(VISIT, "901", price=150000)]
    )
    context = ValidationContext(clinic=world.clinic31, drafts=[draft])
    total, fee_total, lines = claim_amounts(draft, context)
    assert [(line.code, row.code, amount) for line, row, amount in lines] == [
        ("101", "101", 98000),
        ("825", "825", 1270500),
        ("901", "901", 150000),
        (PATIENT_FEE_CODE, PATIENT_FEE_CODE, -FEE),
    ]
    assert lines[-1][0].visit_date == VISIT
    assert (total, fee_total) == (98000 + 1270500 + 150000 - FEE, -FEE)


def test_one_context_serves_many_drafts(world, tariffs, django_assert_max_num_queries):
    drafts = [n_draft(reference=f"B{n}") for n in range(20)]
    context = ValidationContext(clinic=world.clinic31, drafts=drafts)
    claim_validate(clinic=world.clinic31, draft=drafts[0], today=TODAY, context=context)
    # The rest: no more tariff, reference, care model or patient queries.
    with django_assert_max_num_queries(0):
        for draft in drafts[1:]:
            assert claim_validate(clinic=world.clinic31, draft=draft, today=TODAY, context=context) == []


def test_context_of_another_clinic_is_refused(world, tariffs):
    context = ValidationContext(clinic=world.clinic32)
    with pytest.raises(ValueError, match="another clinic"):
        claim_validate(clinic=world.clinic31, draft=n_draft(), context=context)
