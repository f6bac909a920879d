"""An approved prior assessment is used up line by line and never billed past its approved amount: through the
service, with what deleting, voiding and crediting give back, a limitation's own figures, and two claims sent at
once against the last of it."""

import datetime
import threading
from dataclasses import replace

import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from billing import services as billing_services
from claims import services as claim_services
from claims.drafts import ClaimDraft, LineDraft
from claims.models import Claim
from claims.selectors import prior_assessment_use
from claims.services import ClaimRejected
from claims.validation import ValidationContext, claim_validate
from clinics.models import SupportForm
from eligibility import services as eligibility_services
from tests.eligibility.factories import approved_prior_assessment
from tests.testdata import TEST_PERSONNUMMER

TODAY = timezone.localdate()
VISIT = TODAY - datetime.timedelta(days=2)
# A later visit billing the FHB again: the same visit again would be duplicate care, a fault of its own.
LATER = TODAY - datetime.timedelta(days=1)
PIN = "200001022383"
NBSP = "\u00a0"


@pytest.fixture
def fhb(small_world):
    """401 tooth 36 (1 450 kr) and 101 (980 kr) approved at the estimates: 2 430 kr."""
    small_world.tariff(VISIT, TODAY)
    return approved_prior_assessment(small_world, pin=PIN)


def draft(number: str, reference: str, *lines: LineDraft, day: datetime.date = VISIT) -> ClaimDraft:
    return ClaimDraft(
        personal_identity_number=PIN,
        support_form=SupportForm.S,
        reference=reference,
        lines=list(lines) or [LineDraft(day, "401", tooth="36"), LineDraft(day, "101")],
        patient_fees={line.visit_date: 20000 for line in lines} or {day: 20000},
        patient_category="S3",
        prior_assessment_number=number,
    )


def submit(world, claim_draft: ClaimDraft, invoice: str = "4711") -> Claim:
    return billing_services.claim_submit(
        actor=world.biller, clinic=world.clinic, invoice_reference=invoice, draft=claim_draft
    )


def used_up(number: str) -> list[str]:
    return [
        f"Förhandsbedömning {number} medger inte åtgärd 401 tand 36 fler gånger: godkänt antal 1, fakturerat antal 1.",
        f"Förhandsbedömning {number} medger inte åtgärd 101 fler gånger: godkänt antal 1, fakturerat antal 1.",
        f"Förhandsbedömning {number} medger inte mer: godkänt 2{NBSP}430{NBSP}kr, fakturerat 2{NBSP}430{NBSP}kr.",
    ]


def refused(world, claim_draft: ClaimDraft, invoice: str = "4712") -> list[str]:
    with pytest.raises(ClaimRejected) as caught:
        submit(world, claim_draft, invoice)
    return [fault.message for fault in caught.value.faults]


def test_the_fhb_billed_twice_is_refused_with_each_line_and_the_amount(small_world, fhb):
    submit(small_world, draft(fhb.number, "R-1"))
    assert refused(small_world, draft(fhb.number, "R-2", day=LATER)) == used_up(fhb.number)
    use = prior_assessment_use(fhb)
    assert (use.approved, use.billed, use.left) == (243000, 243000, 0)


def test_an_fhb_is_used_up_line_by_line(small_world, fhb):
    submit(small_world, draft(fhb.number, "R-1", LineDraft(VISIT, "101")))
    assert prior_assessment_use(fhb).left == 145000
    assert refused(small_world, draft(fhb.number, "R-2", LineDraft(LATER, "101"))) == [used_up(fhb.number)[1]]
    submit(small_world, draft(fhb.number, "R-3", LineDraft(VISIT, "401", tooth="36")), "4713")
    assert prior_assessment_use(fhb).left == 0


def test_two_claims_of_one_file_cannot_together_pass_the_fhb(small_world, fhb):
    drafts = [draft(fhb.number, "R-1"), draft(fhb.number, "R-2", day=LATER)]
    context = ValidationContext(clinic=small_world.clinic, drafts=drafts)
    assert claim_validate(clinic=small_world.clinic, draft=drafts[0], context=context) == []
    faults = claim_validate(clinic=small_world.clinic, draft=drafts[1], context=context)
    assert [fault.message for fault in faults] == [
        *used_up(fhb.number)[:2],
        f"Förhandsbedömning {fhb.number} medger inte mer: godkänt 2{NBSP}430{NBSP}kr, fakturerat 2{NBSP}430{NBSP}kr.",
    ]


def test_the_chunk_store_checks_again_under_the_lock(small_world, fhb):
    """A context that read the FHB before the first claim was stored still lets the store refuse the second."""
    context = ValidationContext(clinic=small_world.clinic, drafts=[draft(fhb.number, "R-2")])
    submit(small_world, draft(fhb.number, "R-1"))
    with pytest.raises(ClaimRejected) as caught:
        claim_services.claim_submit(
            actor=small_world.biller,
            clinic=small_world.clinic,
            invoice_reference="4799",
            draft=draft(fhb.number, "R-2"),
            context=context,
        )
    assert [fault.message for fault in caught.value.faults] == used_up(fhb.number)
    assert caught.value.faults[-1].code == "prior_assessment_amount_exceeded"


def test_deleting_gives_the_claims_part_back(small_world, fhb):
    claim = submit(small_world, draft(fhb.number, "R-1"))
    claim_services.claim_delete(actor=small_world.biller, claim=claim)
    assert prior_assessment_use(fhb).billed == 0
    submit(small_world, draft(fhb.number, "R-2"), "4712")


def test_voiding_gives_the_claims_part_back(small_world, fhb):
    claim = submit(small_world, draft(fhb.number, "R-1"))
    claim_services.claim_void(actor=small_world.coordinator, claim=claim, reason="Fel patient.")
    assert prior_assessment_use(fhb).billed == 0
    submit(small_world, draft(fhb.number, "R-2"), "4712")


def test_crediting_a_line_gives_that_line_back(small_world, fhb):
    claim = submit(small_world, draft(fhb.number, "R-1"))
    claim_services.claim_approve(actor=small_world.coordinator, claim=claim, payout_date=TODAY)
    claim_services.claim_mark_paid(actor=small_world.coordinator, claim=claim, paid_on=TODAY, our_reference="600001")
    line_101 = claim.lines.get(code="101")
    billing_services.claim_credit(actor=small_world.biller, claim=claim, line_ids=[line_101.pk])
    assert prior_assessment_use(fhb).billed == 145000
    assert refused(small_world, draft(fhb.number, "R-2", day=LATER)) == [
        used_up(fhb.number)[0],
        f"Förhandsbedömning {fhb.number} medger inte mer: godkänt 2{NBSP}430{NBSP}kr, fakturerat 1{NBSP}450{NBSP}kr.",
    ]
    submit(small_world, draft(fhb.number, "R-3", LineDraft(VISIT, "101")), "4713")


def test_an_approved_limitation_is_billed_by_its_own_figures(small_world):
    small_world.tariff(VISIT, TODAY)
    assessment = eligibility_services.prior_assessment_request(
        actor=small_world.biller,
        clinic=small_world.clinic,
        personal_identity_number=PIN,
        support_form=SupportForm.S,
        justification="Extraktion.",
        lines=[{"code": "401", "tooth": "36", "estimated_price": 145000}, {"code": "101", "estimated_price": 98000}],
        attachments=[],
    )
    lines = {line.code: line for line in assessment.lines.all()}
    eligibility_services.prior_assessment_decide(
        actor=small_world.coordinator,
        assessment=assessment,
        approved_amounts={lines["401"].pk: 100000, lines["101"].pk: 98000},
        reason="Begränsat till 1 000\u00a0kr för uttagningen.",
    )
    assessment.refresh_from_db()
    assert refused(small_world, draft(assessment.number, "R-1")) == [
        f"Förhandsbedömning {assessment.number} medger inte mer: godkänt 1{NBSP}980{NBSP}kr, fakturerat 0{NBSP}kr."
    ]
    assert prior_assessment_use(assessment).approved == 198000


@pytest.mark.django_db(transaction=True)
def test_two_claims_sent_at_once_against_the_last_of_an_fhb_one_wins(transactional_small_world):
    world = transactional_small_world
    world.tariff(VISIT, TODAY)
    assessment = approved_prior_assessment(world, pin=PIN)
    world.biller, world.clinic  # made here, not by the threads
    barrier = threading.Barrier(2)
    stored: list[str] = []
    refusals: list[list[str]] = []
    errors: list[BaseException] = []

    def send(reference: str, invoice: str, day: datetime.date):
        try:
            barrier.wait(timeout=10)
            stored.append(submit(world, draft(assessment.number, reference, day=day), invoice).reference)
        except ClaimRejected as rejected:
            refusals.append([fault.message for fault in rejected.faults])
        except BaseException as error:  # reported by the assertion below
            errors.append(error)
        finally:
            connections.close_all()

    # Two visits, so that only the FHB stands between them (the same visit twice would be duplicate care too).
    threads = [threading.Thread(target=send, args=(f"T-{n}", f"48{n}", day)) for n, day in ((1, VISIT), (2, LATER))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert len(stored) == 1
    assert refusals == [used_up(assessment.number)]
    assert prior_assessment_use(assessment).billed == 243000


def test_a_file_chunk_reads_the_fhbs_use_in_a_fixed_number_of_queries(small_world):
    """ValidationContext.prepare reads what is billed against every FHB of the chunk's patients in one query: a
    chunk of four FHB claims costs no more queries to prepare and check than a chunk of one."""
    small_world.tariff(VISIT, TODAY)
    pins = TEST_PERSONNUMMER[10:14]
    numbers = {pin: approved_prior_assessment(small_world, pin=pin).number for pin in pins}

    def chunk(count: int) -> int:
        drafts = [
            replace(draft(numbers[pin], f"C{count}-{n}"), personal_identity_number=pin)
            for n, pin in enumerate(pins[:count])
        ]
        with CaptureQueriesContext(connection) as queries:
            context = ValidationContext(clinic=small_world.clinic, drafts=drafts)
            for one in drafts:
                assert claim_validate(clinic=small_world.clinic, draft=one, context=context) == []
        return len(queries)

    assert chunk(4) == chunk(1)
