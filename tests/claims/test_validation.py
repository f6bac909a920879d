"""claim_validate: each rule with the message the clinic reads, the regions' deadlines and fee rules, the context.

On a small world of the test's own: `region` bills like VG (six months after the treatment day, care models and
patient categories), `other_region` like Dalarna (three months after the treatment month, no fee from 85 or with
an N2 certificate, a free amount of 20 000\xa0kr for N and F). Each region has only the tariffs the test makes, so
the claims are dated like real ones: a visit a few days ago, billed today."""

import datetime
from dataclasses import replace

import pytest
from dateutil.relativedelta import relativedelta
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
)
from claims.validation import (
    FreeAmountUse,
    ValidationContext,
    _free_amounts_used,
    billing_deadline_text,
    claim_amounts,
    claim_validate,
    free_amount_use,
    last_billing_day,
    line_faults,
    prior_assessment_request_faults,
)
from clinics.models import CareModel, Clinic, DeadlineBasis, PatientCategory, Region, SupportForm
from eligibility import services
from eligibility.models import Certificate, Patient, PriorAssessment, PriorAssessmentState
from tests.claims.factories import ClaimFactory, TariffRowFactory
from tests.clinics.factories import RegionFactory
from tests.eligibility.factories import (
    CertificateFactory,
    FreeCardFactory,
    PriorAssessmentFactory,
    approved_prior_assessment,
)
from tests.kept import kept
from tests.worlds import SmallWorld

D = datetime.date
DAY = datetime.timedelta(days=1)
TODAY = timezone.localdate()
VISIT = TODAY - 3 * DAY
YEAR = VISIT.year  # the year of the visit, whose free amount the Dalarna claims use

N_PIN = "200001012384"  # region: N certificate 764153 (N1), tills vidare
F_PIN = "200001011493"  # region: F certificate 810022 from the start of last year to the end of next year
FHB_PIN = "200001022383"  # region: no certificate; an approved S prior assessment at `clinic` (fixture)
FREE_CARD_PIN = "200001022391"  # region: N certificate 764182 (N2) and a registered frikort (its test)
OVER_85_PIN = "191212121212"  # Dalarna: N certificate D-2001-17 (N1), over 85
N2_PIN = "200001032390"  # Dalarna: N certificate D-2001-18 (N2)
REVOKED_PIN = "200001018928"  # region: N certificate revoked from the visit date (its test)
BORN_2000_01_04 = "200001042399"  # 85 on 2085-01-04

FEE = 20000  # 200 kr


def _validation_world() -> SmallWorld:
    """The small world with Dalarna's rules on `other_region`, each region's standard tariff for the visit and
    today, and the certificates of N_PIN, F_PIN, OVER_85_PIN and N2_PIN."""
    small_world = SmallWorld()
    small_world.other_region = RegionFactory(
        billing_deadline_months=3,
        billing_deadline_basis=DeadlineBasis.END_OF_TREATMENT_MONTH,
        fee_exempt_from_age=85,
        fee_exempt_certificate_groups=["N2"],
        free_amount_without_prior_assessment=2000000,
        free_amount_support_forms=[SupportForm.N, SupportForm.F],
    )
    small_world.tariff(VISIT, TODAY)
    small_world.tariff(VISIT, TODAY, region=small_world.other_region)
    region, dalarna = small_world.region, small_world.other_region
    # The patients in one INSERT and their certificates in another, not twelve queries: the fixture of 77 tests.
    n, f, over_85, n2 = Patient.objects.bulk_create(
        Patient(personal_identity_number=pin) for pin in (N_PIN, F_PIN, OVER_85_PIN, N2_PIN)
    )
    Certificate.objects.bulk_create(
        [
            CertificateFactory.build(patient=n, region=region, number="764153", group="N1"),
            CertificateFactory.build(
                patient=f,
                region=region,
                support_form=SupportForm.F,
                number="810022",
                group="F3",
                valid_from=D(TODAY.year - 1, 1, 1),
                valid_to=D(TODAY.year + 1, 12, 31),
            ),
            CertificateFactory.build(patient=over_85, region=dalarna, number="D-2001-17", group="N1"),
            CertificateFactory.build(patient=n2, region=dalarna, number="D-2001-18", group="N2"),
        ]
    )
    return small_world


# The same rows for each of the ~190 tests here and in tests/billing/api: made once per module (tests/kept.py).
validation_world = kept(_validation_world, "validation_world")


@pytest.fixture
def small_world(validation_world, db) -> SmallWorld:
    """`_validation_world`'s, for the test."""
    return validation_world.fresh()


@pytest.fixture
def prior_assessment(small_world) -> PriorAssessment:
    """FHB_PIN's S prior assessment at `clinic` for 401 tooth 36 and 101, requested by the clinic and approved by
    the region's coordinator at the estimates."""
    return approved_prior_assessment(small_world, pin=FHB_PIN)


def n_draft(**changes) -> ClaimDraft:
    """A claim with no fault: N for 200001012384 at `clinic`, 101 and 825 UK, fee paid."""
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
    """N for 191212121212 at `other_region_clinic`: over 85, so no fee; Dalarna lists no care models."""
    values = {
        "personal_identity_number": OVER_85_PIN,
        "support_form": SupportForm.N,
        "reference": "D-1",
        "lines": [LineDraft(VISIT, "101")],
        "certificate_number": "D-2001-17",
    }
    return ClaimDraft(**(values | changes))


def fhb() -> PriorAssessment:
    """The `prior_assessment` fixture's assessment, for the drafts made before or without it at hand."""
    return PriorAssessment.objects.get(patient__personal_identity_number=FHB_PIN)


def s_draft(**changes) -> ClaimDraft:
    """S for 200001022383 with the `prior_assessment` (401 tooth 36 and 101), visit today."""
    values = {
        "personal_identity_number": FHB_PIN,
        "support_form": SupportForm.S,
        "reference": "980891",
        "lines": [LineDraft(TODAY, "401", tooth="36"), LineDraft(TODAY, "101")],
        "patient_fees": {TODAY: FEE},
        "patient_category": "S3",
        "prior_assessment_number": fhb().number,
    }
    return ClaimDraft(**(values | changes))


def approved_fhb(clinic, pin, *, support_form=SupportForm.N, lines=None, valid_until=TODAY + 90 * DAY):
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


def validate(small_world, draft, *, clinic="clinic", today=TODAY):
    return claim_validate(clinic=getattr(small_world, clinic), draft=draft, today=today)


def messages(faults) -> list[str]:
    return [fault.message for fault in faults]


# Whole claims that pass ------------------------------------------------------------------------------------


def test_valid_n_claim_has_no_fault(small_world, django_assert_max_num_queries):
    # The region, the tariff (versions, rows), the reference, care models, and eligibility_for for the one visit
    # date (patient, certificates, free cards, prior assessments), the care the clinic billed the patient on the
    # day, and the region's rule versions (clinics.rules, once per region object). The clinic is read as a view or
    # an upload has it, without its region; the factory's would carry it.
    clinic = Clinic.objects.get(pk=small_world.clinic.pk)
    with django_assert_max_num_queries(11):
        assert claim_validate(clinic=clinic, draft=n_draft(), today=TODAY) == []


def test_s_claim_with_an_approved_prior_assessment_has_no_fault(small_world, prior_assessment):
    assert validate(small_world, s_draft()) == []


def test_the_same_s_claim_at_another_clinic_has_an_invalid_prior_assessment(small_world, prior_assessment):
    number = prior_assessment.number
    faults = validate(small_world, s_draft(), clinic="other_clinic")
    assert messages(faults) == [f"Räkningens förhandsbedömningsnummer {number} är ogiltigt."]
    assert (faults[0].code, faults[0].field) == ("prior_assessment_invalid", "prior_assessment_number")


def test_every_fault_is_returned_not_only_the_first(small_world):
    tomorrow = TODAY + DAY
    small_world.tariff(tomorrow)
    draft = n_draft(
        care_model="",
        lines=[LineDraft(VISIT, "401"), LineDraft(VISIT, "999"), LineDraft(tomorrow, "101", jaw="OK")],
        patient_fees={},
    )
    assert messages(validate(small_world, draft)) == [
        "Ange vårdmodell för N-tandvård.",
        "Åtgärd 401 kräver tand.",
        f"Åtgärdskod 999 finns inte i ersättningslistan för {VISIT}.",
        "Åtgärd 101 ska inte ha käke.",
        f"Besöksdatum {tomorrow} ligger i framtiden.",
        f"Patientavgift saknas för besöket {VISIT}.",
        f"Patientavgift saknas för besöket {tomorrow}.",
    ]


# Reference ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("state", [ClaimState.RECEIVED, ClaimState.PAID, ClaimState.VOIDED, ClaimState.DELETED])
def test_reference_used_before_by_the_clinic_in_any_state(small_world, state):
    ClaimFactory(
        invoice__clinic=small_world.clinic, reference="980890", state=state, void_reason="Fel patient.", with_line=False
    )
    faults = validate(small_world, n_draft())
    assert messages(faults) == ["Räkningsreferensen har redan använts, använd ett annat"]
    assert (faults[0].code, faults[0].field) == ("reference_used", "reference")


def test_reference_of_another_clinic_is_free(small_world):
    ClaimFactory(invoice__clinic=small_world.other_clinic, reference="980890", with_line=False)
    assert validate(small_world, n_draft()) == []


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("", "Ange en räkningsreferens."),
        ("A" * 21, "Räkningsreferensen får ha 1–20 tecken: siffror, bokstäver A–Z och bindestreck."),
        ("RÄK-1", "Räkningsreferensen får ha 1–20 tecken: siffror, bokstäver A–Z och bindestreck."),
        ("980 890", "Räkningsreferensen får ha 1–20 tecken: siffror, bokstäver A–Z och bindestreck."),
    ],
)
def test_reference_must_be_1_to_20_letters_digits_or_hyphens(small_world, reference, message):
    assert messages(validate(small_world, n_draft(reference=reference))) == [message]


def test_twenty_characters_with_hyphen_is_a_good_reference(small_world):
    assert validate(small_world, n_draft(reference="abc-DEF-0123456789-x")) == []


def test_reference_twice_among_the_drafts_of_one_context(small_world):
    first, second, other = n_draft(), n_draft(lines=[LineDraft(VISIT, "101")]), n_draft(reference="980892")
    context = ValidationContext(clinic=small_world.clinic, drafts=[first, second, other])
    for draft, expected in ((first, 1), (second, 1), (other, 0)):
        faults = claim_validate(clinic=small_world.clinic, draft=draft, today=TODAY, context=context)
        assert [fault.code for fault in faults] == ["reference_used"] * expected


# Personnummer and support form ------------------------------------------------------------------------------


@pytest.mark.parametrize("pin", ["200001012385", "20000101238", "200013012384", "abc"])
def test_invalid_personnummer_skips_the_patient_checks(small_world, pin):
    faults = validate(small_world, n_draft(personal_identity_number=pin, patient_fees={}))
    assert messages(faults) == ["Personnumret är ogiltigt."]
    assert (faults[0].code, faults[0].field) == ("personal_identity_number_invalid", "personal_identity_number")


def test_personnummer_with_hyphen_and_ten_digits_is_accepted(small_world):
    assert validate(small_world, n_draft(personal_identity_number="000101-2384")) == []


def test_unknown_support_form(small_world):
    assert messages(validate(small_world, n_draft(support_form="X"))) == ["Ange stödform N, F eller S."]


# Certificates -------------------------------------------------------------------------------------------------


def test_n_without_certificate(small_world):
    faults = validate(small_world, n_draft(personal_identity_number=FHB_PIN, certificate_number=""))
    assert messages(faults) == ["Patienten saknar giltigt intyg för N-tandvård."]
    assert faults[0].code == "certificate_missing"


def test_f_without_certificate(small_world):
    faults = validate(small_world, n_draft(support_form=SupportForm.F, certificate_number="", care_model=""))
    assert messages(faults) == ["Patienten saknar giltigt intyg för F-tandvård."]


def test_f_with_certificate(small_world):
    draft = n_draft(
        personal_identity_number=F_PIN,
        support_form=SupportForm.F,
        certificate_number="810022",
        lines=[LineDraft(VISIT, "101")],
        patient_fees={VISIT: FEE},
    )
    assert validate(small_world, draft) == []


def test_certificate_must_hold_on_every_visit_date(small_world):
    revoked, before = VISIT, VISIT - DAY
    small_world.tariff(before)
    certificate = CertificateFactory(patient__personal_identity_number=REVOKED_PIN, region=small_world.region)
    services.certificate_revoke(
        actor=small_world.coordinator, certificate=certificate, revoked_from=revoked, reason="Utfärdat i misstag."
    )
    only_before = ClaimDraft(
        personal_identity_number=REVOKED_PIN,
        support_form=SupportForm.N,
        reference="R1",
        lines=[LineDraft(before, "101")],
        patient_fees={before: FEE},
        care_model="K1",
    )
    assert validate(small_world, only_before) == []
    both = replace(
        only_before,
        lines=[LineDraft(before, "101"), LineDraft(revoked, "101")],
        patient_fees={before: FEE, revoked: FEE},
    )
    assert messages(validate(small_world, both)) == ["Patienten saknar giltigt intyg för N-tandvård."]


def test_certificate_number_that_is_not_the_valid_one(small_world):
    faults = validate(small_world, n_draft(certificate_number="764160"))
    assert messages(faults) == ["Intygsnummer 764160 är inte patientens giltiga intyg för N-tandvård."]
    assert (faults[0].code, faults[0].field) == ("certificate_number_mismatch", "certificate_number")


def test_certificate_number_may_be_left_out(small_world):
    assert validate(small_world, n_draft(certificate_number="")) == []


# Prior assessments -----------------------------------------------------------------------------------------


def test_s_without_prior_assessment(small_world, prior_assessment):
    faults = validate(small_world, s_draft(prior_assessment_number=""))
    assert messages(faults) == ["S-tandvård kräver förhandsbedömning."]
    assert (faults[0].code, faults[0].field) == ("prior_assessment_required", "prior_assessment_number")


def test_unknown_prior_assessment(small_world, prior_assessment):
    faults = validate(small_world, s_draft(prior_assessment_number="FHB-2099-999999"))
    assert messages(faults) == ["Räkningens förhandsbedömningsnummer FHB-2099-999999 är ogiltigt."]


def test_another_patients_prior_assessment(small_world, prior_assessment):
    number = prior_assessment.number
    draft = s_draft(personal_identity_number=F_PIN)
    assert messages(validate(small_world, draft)) == [f"Räkningens förhandsbedömningsnummer {number} är ogiltigt."]


@pytest.mark.parametrize(
    "state", [PriorAssessmentState.SUBMITTED, PriorAssessmentState.DENIED, PriorAssessmentState.WRITTEN_OFF]
)
def test_prior_assessment_not_approved(small_world, state):
    assessment = PriorAssessmentFactory(
        clinic=small_world.clinic, patient=Patient.objects.get(personal_identity_number=N_PIN), state=state
    )
    faults = validate(small_world, n_draft(prior_assessment_number=assessment.number))
    assert messages(faults) == [f"Räkningens förhandsbedömningsnummer {assessment.number} är ogiltigt."]


def test_prior_assessment_expired_on_a_visit_date(small_world):
    assessment = approved_fhb(small_world.clinic, N_PIN, valid_until=VISIT)
    on_last_day = n_draft(prior_assessment_number=assessment.number, lines=[LineDraft(VISIT, "101")])
    assert validate(small_world, on_last_day) == []
    day_after = VISIT + DAY
    expired = n_draft(
        prior_assessment_number=assessment.number,
        lines=[LineDraft(VISIT, "101"), LineDraft(day_after, "101")],
        patient_fees={VISIT: FEE, day_after: FEE},
    )
    assert messages(validate(small_world, expired)) == [
        f"Räkningens förhandsbedömningsnummer {assessment.number} är ogiltigt."
    ]


def test_prior_assessment_of_another_support_form(small_world):
    assessment = approved_fhb(small_world.clinic, N_PIN, support_form=SupportForm.S)
    draft = n_draft(prior_assessment_number=assessment.number, lines=[LineDraft(VISIT, "101")])
    assert messages(validate(small_world, draft)) == [
        f"Förhandsbedömning {assessment.number} gäller S-tandvård, inte N-tandvård."
    ]


@pytest.mark.parametrize("extra_line", [LineDraft(TODAY, "121"), LineDraft(TODAY, "401", tooth="46")])
def test_line_not_covered_by_the_prior_assessment(small_world, prior_assessment, extra_line):
    draft = s_draft()
    faults = validate(small_world, s_draft(lines=[*draft.lines, extra_line]))
    assert messages(faults) == ["Förhandsbedömd vård kan inte faktureras i samma räkning som icke-förhandsbedömd vård."]
    assert (faults[0].code, faults[0].line) == ("not_covered_by_prior_assessment", 2)


def test_code_that_requires_a_prior_assessment(small_world):
    faults = validate(small_world, n_draft(lines=[LineDraft(VISIT, "825S", jaw="OK")]))
    assert messages(faults) == ["Åtgärd 825S kräver förhandsbedömning."]
    assert (faults[0].code, faults[0].line) == ("code_requires_prior_assessment", 0)


def test_code_that_requires_a_prior_assessment_with_one(small_world):
    assessment = approved_fhb(small_world.clinic, N_PIN, lines=[("825S", 1519500)])
    draft = n_draft(lines=[LineDraft(VISIT, "825S", jaw="OK")], prior_assessment_number=assessment.number)
    assert validate(small_world, draft) == []


# Tariff, tooth, jaw and price ------------------------------------------------------------------------------


def test_code_not_in_the_tariff(small_world):
    faults = validate(small_world, n_draft(lines=[LineDraft(VISIT, "101"), LineDraft(VISIT, "999")]))
    assert messages(faults) == [f"Åtgärdskod 999 finns inte i ersättningslistan för {VISIT}."]
    assert (faults[0].code, faults[0].field, faults[0].line) == ("code_unknown", "lines", 1)


def test_no_tariff_covers_the_visit_date(small_world):
    # The region's tariffs begin on the first of January of the visit's year; this visit is the month before.
    visit = D(YEAR - 1, 12, 1)
    draft = n_draft(lines=[LineDraft(visit, "101")], patient_fees={visit: FEE})
    faults = validate(small_world, draft, today=D(YEAR, 1, 15))
    assert messages(faults) == [f"Åtgärdskod 101 finns inte i ersättningslistan för {YEAR - 1}-12-01."]


def test_code_not_allowed_for_the_support_form(small_world):
    version = small_world.tariff(VISIT)
    TariffRowFactory(version=version, code="950", support_forms=[SupportForm.S])
    faults = validate(small_world, n_draft(lines=[LineDraft(VISIT, "950")]))
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
def test_tooth_and_jaw_where_the_tariff_row_says(small_world, line, message):
    assert messages(validate(small_world, n_draft(lines=[line]))) == [message]


@pytest.mark.parametrize("tooth", ["11", "18", "28", "38", "48", "51", "55", "65", "75", "85"])
def test_fdi_teeth_permanent_and_primary(small_world, tooth):
    assert validate(small_world, n_draft(lines=[LineDraft(VISIT, "401", tooth=tooth)])) == []


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (LineDraft(VISIT, "101", price=98000), "Åtgärd 101 har fast pris i ersättningslistan; ange inget pris."),
        (LineDraft(VISIT, "901"), "Ange pris för åtgärd 901."),
        (LineDraft(VISIT, "901", price=-100), "Priset för åtgärd 901 kan inte vara negativt."),
    ],
)
def test_price_only_where_the_clinic_enters_it(small_world, line, message):
    assert messages(validate(small_world, n_draft(lines=[line]))) == [message]


def test_entered_price(small_world):
    assert validate(small_world, n_draft(lines=[LineDraft(VISIT, "901", price=150050)])) == []


def test_line_comment_too_long(small_world):
    faults = validate(small_world, n_draft(lines=[LineDraft(VISIT, "101", comment="x" * 201)]))
    assert messages(faults) == ["Kommentaren till åtgärd 101 får ha högst 200 tecken."]


# Dates ------------------------------------------------------------------------------------------------------


def test_visit_in_the_future(small_world):
    faults = validate(small_world, n_draft(), today=VISIT - DAY)
    assert messages(faults) == [f"Besöksdatum {VISIT} ligger i framtiden."]
    assert validate(small_world, n_draft(), today=VISIT) == []


def test_deadline_six_months_after_the_treatment_day_in_vg(small_world):
    last_day = VISIT + relativedelta(months=6)
    assert validate(small_world, n_draft(), today=last_day) == []
    faults = validate(small_world, n_draft(), today=last_day + DAY)
    assert messages(faults) == [f"Vård utförd {VISIT} är äldre än sex månader efter behandlingsdagen och ersätts inte."]
    assert faults[0].code == "visit_too_old"


def test_deadline_three_months_after_the_treatment_month_in_dalarna(small_world):
    last_day = VISIT.replace(day=1) + relativedelta(months=4) - DAY  # the last day of the third month after
    draft = dalarna_draft()
    assert validate(small_world, draft, clinic="other_region_clinic", today=last_day) == []
    faults = validate(small_world, draft, clinic="other_region_clinic", today=last_day + DAY)
    assert messages(faults) == [
        f"Vård utförd {VISIT} är äldre än tre månader efter behandlingsmånaden och ersätts inte."
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


def test_patient_fee_missing(small_world):
    faults = validate(small_world, n_draft(patient_fees={}))
    assert messages(faults) == [f"Patientavgift saknas för besöket {VISIT}."]
    assert (faults[0].code, faults[0].field) == ("patient_fee_missing", "patient_fees")


def test_patient_fee_of_zero_counts_as_given(small_world):
    assert validate(small_world, n_draft(patient_fees={VISIT: 0})) == []


def test_patient_fee_as_a_patavg_line(small_world):
    draft = n_draft(lines=[LineDraft(VISIT, "101"), LineDraft(VISIT, PATIENT_FEE_CODE, price=FEE)], patient_fees={})
    assert validate(small_world, draft) == []


def test_registered_frikort_exempts_its_days_only(small_world):
    last_day, day_after = VISIT, VISIT + DAY
    CertificateFactory(
        patient__personal_identity_number=FREE_CARD_PIN, region=small_world.region, number="764182", group="N2"
    )
    FreeCardFactory(
        region=small_world.region,
        patient__personal_identity_number=FREE_CARD_PIN,
        number="55512",
        valid_from=D(YEAR, 1, 1),
        valid_to=last_day,
    )
    draft = ClaimDraft(
        personal_identity_number=FREE_CARD_PIN,
        support_form=SupportForm.N,
        reference="FK-1",
        lines=[LineDraft(last_day, "101"), LineDraft(day_after, "101")],
        certificate_number="764182",
        care_model="K1",
    )
    assert messages(validate(small_world, draft)) == [f"Patientavgift saknas för besöket {day_after}."]


def test_frikort_given_with_the_claim_exempts_its_days_only(small_world):
    last_day, day_after = VISIT - DAY, VISIT
    small_world.tariff(last_day)
    card = FreeCardDraft(number="77001", valid_from=last_day - 30 * DAY, valid_to=last_day)
    draft = n_draft(lines=[LineDraft(last_day, "101"), LineDraft(day_after, "101")], patient_fees={}, free_card=card)
    assert messages(validate(small_world, draft)) == [f"Patientavgift saknas för besöket {day_after}."]


def test_frikort_that_ends_before_it_begins(small_world):
    card = FreeCardDraft(number="77001", valid_from=VISIT, valid_to=VISIT - DAY)
    faults = validate(small_world, n_draft(free_card=card))
    assert messages(faults) == ["Frikortets giltighet slutar innan den börjar."]


def test_over_85_in_dalarna_pays_no_fee(small_world):
    assert validate(small_world, dalarna_draft(), clinic="other_region_clinic") == []


def test_the_day_before_the_85th_birthday_a_fee_is_due_in_dalarna(small_world):
    # The dates are the patient's: a test personnummer born 2000-01-04 turns 85 on 2085-01-04.
    day_before, birthday = D(2085, 1, 3), D(2085, 1, 4)
    small_world.tariff(day_before, region=small_world.other_region)
    CertificateFactory(
        patient__personal_identity_number=BORN_2000_01_04,
        region=small_world.other_region,
        group="N1",
        number="D-2001-99",
    )
    draft = dalarna_draft(
        personal_identity_number=BORN_2000_01_04,
        certificate_number="D-2001-99",
        lines=[LineDraft(day_before, "101"), LineDraft(birthday, "101")],
    )
    assert messages(validate(small_world, draft, clinic="other_region_clinic", today=D(2085, 1, 10))) == [
        "Patientavgift saknas för besöket 2085-01-03."
    ]


def test_the_age_rule_is_dalarnas_not_vgs(small_world):
    CertificateFactory(patient__personal_identity_number=OVER_85_PIN, region=small_world.region, number="VG-85")
    draft = n_draft(personal_identity_number=OVER_85_PIN, certificate_number="VG-85", patient_fees={})
    assert messages(validate(small_world, draft)) == [f"Patientavgift saknas för besöket {VISIT}."]


def test_n2_in_dalarna_pays_no_fee(small_world):
    draft = dalarna_draft(personal_identity_number=N2_PIN, certificate_number="D-2001-18")
    assert validate(small_world, draft, clinic="other_region_clinic") == []


def test_patient_fee_errors(small_world):
    other_day = VISIT + DAY
    draft = n_draft(
        lines=[LineDraft(VISIT, "101"), LineDraft(VISIT, PATIENT_FEE_CODE, price=FEE)],
        patient_fees={VISIT: FEE, other_day: -1},
    )
    assert messages(validate(small_world, draft)) == [
        f"Patientavgiften för besöket {other_day} kan inte vara negativ.",
        f"Patientavgiften för besöket {VISIT} är angiven två gånger.",
        f"Patientavgiften för {other_day} hör inte till något besök på räkningen.",
    ]


def test_each_visits_fault_names_its_visit_and_each_lines_fault_its_part(small_world):
    # Where a fault belongs is data, never to be read out of the message.
    other_day = VISIT + DAY
    draft = n_draft(
        lines=[LineDraft(VISIT, "101"), LineDraft(other_day, "401", tooth="19"), LineDraft(VISIT, "patAvg", price=1)],
        patient_fees={VISIT: FEE, other_day - datetime.timedelta(days=10): 100},
    )
    faults = validate(small_world, draft, today=VISIT)
    assert [(f.code, f.field, f.line, f.visit_date, f.line_field) for f in faults] == [
        ("tooth_invalid", "lines", 1, other_day, "tooth"),
        ("visit_in_future", "lines", 1, other_day, ""),
        ("patient_fee_given_twice", "lines", 2, VISIT, ""),
        ("patient_fee_without_visit", "patient_fees", None, other_day - datetime.timedelta(days=10), ""),
        ("patient_fee_missing", "patient_fees", None, other_day, ""),
    ]


def test_one_line_is_checked_against_its_tariff_row_as_the_claim_checks_it(small_world):
    row = TariffRow.objects.get(version=small_world.tariff(VISIT), code="401")
    line = LineDraft(VISIT, "401", jaw="UK", price=100)
    assert [(f.code, f.line, f.visit_date, f.line_field) for f in line_faults(line, row, index=3)] == [
        ("tooth_required", 3, VISIT, "tooth"),
        ("jaw_not_allowed", 3, VISIT, "jaw"),
        ("price_not_allowed", 3, VISIT, "price"),
    ]
    assert [f.code for f in line_faults(line, None)] == ["code_unknown"]
    assert [f.message for f in line_faults(LineDraft(VISIT, "401", tooth="36"), row, support_form="N")] == []


def test_patient_fee_larger_than_the_claim(small_world):
    draft = n_draft(lines=[LineDraft(VISIT, "901", price=10000)], patient_fees={VISIT: FEE})
    assert messages(validate(small_world, draft)) == ["Patientavgifterna (200\xa0kr) är större än räkningens belopp."]


# Care model, patient category, teeth, comment, lines -----------------------------------------------------------


def test_care_model_missing_for_n_in_vg(small_world):
    faults = validate(small_world, n_draft(care_model=""))
    assert messages(faults) == ["Ange vårdmodell för N-tandvård."]
    assert (faults[0].code, faults[0].field) == ("care_model_required", "care_model")


def test_care_model_unknown(small_world):
    assert messages(validate(small_world, n_draft(care_model="X9"))) == ["Vårdmodell X9 finns inte i regionens lista."]


def test_no_care_model_needed_where_the_region_lists_none(small_world):
    assert validate(small_world, dalarna_draft(care_model=""), clinic="other_region_clinic") == []


def test_patient_category_missing_for_s(small_world, prior_assessment):
    faults = validate(small_world, s_draft(patient_category=""))
    assert messages(faults) == ["Ange patientkategori för S-tandvård."]


@pytest.mark.parametrize("code", ["S99", "N1"])
def test_patient_category_unknown_for_the_support_form(small_world, prior_assessment, code):
    faults = validate(small_world, s_draft(patient_category=code))
    assert messages(faults) == [f"Patientkategori {code} finns inte för S-tandvård i regionens lista."]


def test_patient_category_on_an_n_claim_is_checked_too(small_world):
    assert validate(small_world, n_draft(patient_category="N1")) == []
    assert messages(validate(small_world, n_draft(patient_category="S3"))) == [
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
def test_tooth_counts(small_world, remaining, intact, message):
    assert messages(validate(small_world, n_draft(remaining_teeth=remaining, intact_teeth=intact))) == [message]


def test_tooth_counts_within_bounds(small_world):
    assert validate(small_world, n_draft(remaining_teeth=32, intact_teeth=32)) == []
    assert validate(small_world, n_draft(remaining_teeth=0, intact_teeth=0)) == []


def test_comment_at_most_500_characters(small_world):
    assert validate(small_world, n_draft(comment="x" * 500)) == []
    faults = validate(small_world, n_draft(comment="x" * 501))
    assert messages(faults) == ["Räkningskommentaren får ha högst 500 tecken."]


def test_claim_without_lines(small_world):
    faults = validate(small_world, n_draft(lines=[], patient_fees={}))
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
def dalarna_history(small_world):
    """191212121212's claims in Dalarna: 19 270 kr counts against YEAR's free amount, the rest does not."""
    last_year = D(YEAR - 1, 12, 30)
    small_world.tariff(last_year, region=small_world.other_region)
    clinic, pin, day = small_world.other_region_clinic, OVER_85_PIN, VISIT
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
    stored_claim(clinic, pin, [(last_year, "101", 98000)])
    stored_claim(small_world.clinic, pin, [(day, "101", 98000)])


def test_free_amount_use(small_world, dalarna_history):
    def use(clinic, support_form, lines, years=(), **changes):
        draft = dalarna_draft(support_form=support_form, lines=lines, **changes)
        context = ValidationContext(clinic=getattr(small_world, clinic))
        return free_amount_use(draft=draft, context=context, personal_identity_number=OVER_85_PIN, years=years)

    (this_year,) = use(
        "other_region_clinic", SupportForm.N, [LineDraft(VISIT, "101"), LineDraft(VISIT, PATIENT_FEE_CODE)]
    )
    assert this_year == FreeAmountUse(YEAR, 2000000, 1927000, 98000)
    assert (this_year.left, this_year.excess, this_year.exceeded) == (73000, 25000, True)
    assert use("other_region_clinic", SupportForm.F, [], years=[YEAR - 1]) == [
        FreeAmountUse(YEAR - 1, 2000000, 98000, 0)
    ]
    (prior_assessed,) = use(
        "other_region_clinic", SupportForm.N, [LineDraft(VISIT, "101")], prior_assessment_number="FHB"
    )
    assert prior_assessed.prior_assessed and not prior_assessed.exceeded
    assert use("other_region_clinic", SupportForm.S, [LineDraft(VISIT, "101")]) == []
    assert use("clinic", SupportForm.N, [LineDraft(VISIT, "101")]) == []


def test_one_patients_free_amount_used_is_read_as_with_other_patients(small_world, dalarna_history):
    """One patient's use comes from a query compiled once (portal.db.PreparedQuery): the same sums, year by year,
    as the ORM's query of many patients; what the region's free amount does not cover (S) is left out of both."""
    region, years = small_world.other_region, {YEAR - 1, YEAR}
    alone = _free_amounts_used(region, {OVER_85_PIN}, years)
    assert alone == {(OVER_85_PIN, YEAR): 1927000, (OVER_85_PIN, YEAR - 1): 98000}
    assert _free_amounts_used(region, {OVER_85_PIN, N_PIN}, years) == alone
    assert all(type(year) is int for _pin, year in alone)


def test_free_amount_exceeded(small_world, dalarna_history):
    # 103 rather than 101, which the history has on the day already (duplicate care).
    draft = dalarna_draft(lines=[LineDraft(VISIT, "103"), LineDraft(VISIT, "901", price=146000)])
    faults = validate(small_world, draft, clinic="other_region_clinic")
    assert messages(faults) == [
        f"Fribeloppet på 20\xa0000\xa0kr för {YEAR} överskrids med 1\xa0250\xa0kr; förhandsbedömning krävs."
    ]
    assert faults[0].code == "free_amount_exceeded"


def test_free_amount_reached_exactly_is_allowed(small_world, dalarna_history):
    draft = dalarna_draft(lines=[LineDraft(VISIT, "901", price=73000)])
    assert validate(small_world, draft, clinic="other_region_clinic") == []


def test_free_amount_is_per_calendar_year(small_world, dalarna_history):
    visit = D(YEAR - 1, 12, 31)
    draft = dalarna_draft(lines=[LineDraft(visit, "825", jaw="UK")])
    assert validate(small_world, draft, clinic="other_region_clinic", today=D(YEAR, 1, 10)) == []


def test_free_amount_does_not_apply_with_a_prior_assessment(small_world, dalarna_history):
    fhb = approved_fhb(small_world.other_region_clinic, OVER_85_PIN, lines=[("825", 1270500)])
    draft = dalarna_draft(lines=[LineDraft(VISIT, "825", jaw="UK")], prior_assessment_number=fhb.number)
    assert validate(small_world, draft, clinic="other_region_clinic") == []


def test_claims_of_one_batch_add_up_against_the_free_amount(small_world, dalarna_history):
    # 730 kr of YEAR's free amount are left: each claim of 500 kr fits alone, not both together.
    first = dalarna_draft(reference="D-1", lines=[LineDraft(VISIT, "901", price=50000)])
    second = dalarna_draft(reference="D-2", lines=[LineDraft(VISIT, "901", price=50000)])
    assert validate(small_world, second, clinic="other_region_clinic") == []

    context = ValidationContext(clinic=small_world.other_region_clinic, drafts=[first, second])
    assert claim_validate(clinic=small_world.other_region_clinic, draft=first, today=TODAY, context=context) == []
    faults = claim_validate(clinic=small_world.other_region_clinic, draft=second, today=TODAY, context=context)
    assert messages(faults) == [
        f"Fribeloppet på 20\xa0000\xa0kr för {YEAR} överskrids med 270\xa0kr; förhandsbedömning krävs."
    ]


def test_a_faulty_claim_of_the_batch_does_not_use_the_free_amount(small_world, dalarna_history):
    faulty = dalarna_draft(reference="D-1", lines=[LineDraft(VISIT, "901", price=50000)], comment="x" * 501)
    second = dalarna_draft(reference="D-2", lines=[LineDraft(VISIT, "901", price=50000)])
    context = ValidationContext(clinic=small_world.other_region_clinic, drafts=[faulty, second])
    assert claim_validate(clinic=small_world.other_region_clinic, draft=faulty, today=TODAY, context=context) != []
    assert claim_validate(clinic=small_world.other_region_clinic, draft=second, today=TODAY, context=context) == []


# Amounts and the shared context ------------------------------------------------------------------------------


def test_claim_amounts_from_the_tariff_with_the_fee_as_a_negative_line(small_world):
    draft = n_draft(
        lines=[LineDraft(VISIT, "101"), LineDraft(VISIT, "825", jaw="UK"), LineDraft(VISIT, "901", price=150000)]
    )
    context = ValidationContext(clinic=small_world.clinic, drafts=[draft])
    total, fee_total, lines = claim_amounts(draft, context)
    assert [(line.code, row.code, amount) for line, row, amount in lines] == [
        ("101", "101", 98000),
        ("825", "825", 1270500),
        ("901", "901", 150000),
        (PATIENT_FEE_CODE, PATIENT_FEE_CODE, -FEE),
    ]
    assert lines[-1][0].visit_date == VISIT
    assert (total, fee_total) == (98000 + 1270500 + 150000 - FEE, -FEE)


def test_one_context_serves_many_drafts(small_world, django_assert_max_num_queries):
    # Twenty claims of the same patient on the same day: a filling of another tooth each, else duplicate care.
    teeth = [f"{quadrant}{tooth}" for quadrant in (1, 2, 3) for tooth in range(1, 9)][:20]
    drafts = [n_draft(reference=f"B{n}", lines=[LineDraft(VISIT, "701", tooth=tooth)]) for n, tooth in enumerate(teeth)]
    context = ValidationContext(clinic=small_world.clinic, drafts=drafts)
    claim_validate(clinic=small_world.clinic, draft=drafts[0], today=TODAY, context=context)
    # The rest: no more tariff, reference, care model or patient queries.
    with django_assert_max_num_queries(0):
        for draft in drafts[1:]:
            assert claim_validate(clinic=small_world.clinic, draft=draft, today=TODAY, context=context) == []


def test_context_of_another_clinic_is_refused(small_world):
    context = ValidationContext(clinic=small_world.other_clinic)
    with pytest.raises(ValueError, match="another clinic"):
        claim_validate(clinic=small_world.clinic, draft=n_draft(), context=context)


# Care models and patient categories retired from a date (issue 15) -------------------------------------------------


def test_a_care_model_retired_after_the_visit_may_still_be_billed_for_it(small_world):
    CareModel.objects.filter(region=small_world.region, code="K1").update(
        retired_from=VISIT + datetime.timedelta(days=1)
    )
    assert claim_validate(clinic=small_world.clinic, draft=n_draft(), today=TODAY) == []


def test_a_care_model_retired_by_the_visit_is_refused_with_the_date(small_world):
    CareModel.objects.filter(region=small_world.region, code="K1").update(retired_from=VISIT)
    (fault,) = claim_validate(clinic=small_world.clinic, draft=n_draft(), today=TODAY)
    assert (fault.code, fault.field) == ("care_model_retired", "care_model")
    assert fault.message == f"Vårdmodell K1 används inte för vård från {VISIT.isoformat()}."


def test_an_fhb_request_names_a_patient_category_retired_by_its_planned_date(small_world):
    PatientCategory.objects.filter(region=small_world.region, code="S1").update(retired_from=VISIT)

    def codes(day):
        faults = prior_assessment_request_faults(
            region=small_world.region,
            support_form=SupportForm.S,
            planned_date=day,
            patient_category="S1",
            lines=[LineDraft(day, "101")],
        )
        return {fault.code for fault in faults}

    assert "patient_category_retired" in codes(VISIT)
    assert "patient_category_retired" not in codes(VISIT - DAY)
