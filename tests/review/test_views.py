"""The coordinator's pages under /region/<code>/rakningar/ and the clinic's answer in Era fakturor."""

import datetime

import lxml.html
import pytest
from django.utils import timezone

from claims.models import PATIENT_FEE_CODE, Claim, ClaimLine, ClaimState, TariffRow
from claims.services import claim_approve
from clinics.models import SupportForm
from eligibility.models import PriorAssessmentState
from portal.models import AccessLogEntry
from review.models import ClaimQuestion, ReviewRule, ReviewRuleKind
from review.services import claim_question_answer, claim_question_ask, review_rules_apply
from tests.billing.pages import opened_row
from tests.claims.factories import ClaimFactory, InvoiceFactory, tariff_for
from tests.conftest import World
from tests.eligibility.factories import (
    TEST_PINS,
    PatientFactory,
    PriorAssessmentAttachmentFactory,
    PriorAssessmentFactory,
)
from tests.kept import kept

from .factories import ClaimQuestionFactory

LIST = "/region/vg/rakningar/"
# A period of its own, far from the demo's claims (which came in "today").
PERIOD = {"date_from": "2025-03-01", "date_to": "2025-03-31"}
OTHER_PIN = "200001022391"
MARCH_10 = datetime.date(2025, 3, 10)
VISIT = datetime.date(2026, 10, 1)  # ClaimFactory's line


def _doc(response):
    assert response.status_code == 200, response.status_code
    return lxml.html.document_fromstring(response.content)


def _text(doc) -> str:
    """The main content's words, each separated by one space (a no-break space too)."""
    return " ".join(doc.xpath("//main")[0].text_content().split())


def _fact(doc, term: str) -> str:
    (value,) = doc.xpath(
        "//dl[contains(@class,'facts')]/dt[normalize-space()=$term]/following-sibling::dd[1]", term=term
    )
    return value.text_content().strip()


def _listed(response) -> list[str]:
    doc = _doc(response)
    return [th.text_content().strip() for th in doc.xpath("//table[contains(@class,'review-claims')]/tbody/tr/th")]


def _came_in(claim: Claim, day: datetime.date) -> Claim:
    moment = timezone.make_aware(datetime.datetime.combine(day, datetime.time(10)))
    Claim.objects.filter(pk=claim.pk).update(created_at=moment)
    claim.refresh_from_db()
    return claim


def _claim(clinic, reference: str, *, day=MARCH_10, total=98_000, **kwargs) -> Claim:
    claim = ClaimFactory(invoice__clinic=clinic, reference=reference, **kwargs)
    Claim.objects.filter(pk=claim.pk).update(total=total)
    return _came_in(claim, day)


def _claims(clinic, references: list[str], *, invoice, days: list[datetime.date]) -> None:
    """Claims as `_claim` makes them (one 101 line, 980 kr) on the invoice, each having come in on its day, in one
    INSERT each for the claims and their lines and one UPDATE per day (the paging tests make 55 and 120; eight
    queries each one by one). The ids follow the references' order."""
    patients = [PatientFactory() for _ in range(min(len(references), len(TEST_PINS)))]
    claims = Claim.objects.bulk_create(
        ClaimFactory.build(invoice=invoice, reference=reference, patient=patients[number % len(patients)])
        for number, reference in enumerate(references)
    )
    row = TariffRow.objects.filter(version__region=clinic.region, code="101").first()
    ClaimLine.objects.bulk_create(
        ClaimLine(claim=claim, position=1, visit_date=VISIT, code="101", tariff_row=row, amount=row.price)
        for claim in claims
    )
    for day in set(days):
        moment = timezone.make_aware(datetime.datetime.combine(day, datetime.time(10)))
        Claim.objects.filter(pk__in=[c.pk for c, on in zip(claims, days, strict=True) if on == day]).update(
            created_at=moment
        )


@pytest.fixture
def coordinator(client, world):
    client.force_login(world.coordinator_vg)
    return client


# The list and its filters ------------------------------------------------------------------------------------


def _filter_claims(world: World) -> dict[str, Claim]:
    """Claims in March 2025 at clinics 31 and 32 (VG), and one at 2001 (Dalarna) that VG never shows."""
    return {
        "F-31-N": _claim(world.clinic31, "F-31-N", total=98_000),
        "F-31-F": _claim(
            world.clinic31, "F-31-F", support_form=SupportForm.F, total=150_000, day=datetime.date(2025, 3, 20)
        ),
        "F-32-S": _claim(
            world.clinic32,
            "F-32-S",
            support_form=SupportForm.S,
            total=2_500_000,
            state=ClaimState.UNDER_REVIEW,
            day=datetime.date(2025, 3, 31),
        ),
        "F-32-OLD": _claim(world.clinic32, "F-32-OLD", day=datetime.date(2025, 2, 28)),
        "F-2001": _claim(world.clinic2001, "F-2001"),
    }


# The same claims for each of the list's filter tests: made once per module (tests/kept.py).
filter_claims_made = kept(_filter_claims, "filter_claims_made", "demo_world")


@pytest.fixture
def filter_claims(filter_claims_made, world) -> dict[str, Claim]:
    return filter_claims_made.fresh()


@pytest.mark.parametrize(
    "extra,expected",
    [
        ({}, {"F-31-N", "F-31-F", "F-32-S"}),
        ({"clinic": "clinic32"}, {"F-32-S"}),
        ({"support_form": "F"}, {"F-31-F"}),
        ({"state": "under_review"}, {"F-32-S"}),
        ({"amount_from": "1000"}, {"F-31-F", "F-32-S"}),
        ({"amount_to": "1 500,00"}, {"F-31-N", "F-31-F"}),  # both ends included, in kronor
        ({"amount_from": "980", "amount_to": "980"}, {"F-31-N"}),
        ({"date_from": "2025-03-20"}, {"F-31-F", "F-32-S"}),
        ({"date_to": "2025-03-20"}, {"F-31-N", "F-31-F"}),
    ],
)
def test_each_filter_narrows_the_regions_claims(coordinator, world, filter_claims, extra, expected):
    query = {**PERIOD, **extra}
    if query.get("clinic"):
        query["clinic"] = getattr(world, query["clinic"]).pk
    assert set(_listed(coordinator.get(LIST, query))) == expected


def test_the_newest_come_first_and_the_row_says_what_the_coordinator_needs(coordinator, world, filter_claims):
    doc = _doc(coordinator.get(LIST, PERIOD))
    rows = doc.xpath("//table[contains(@class,'review-claims')]/tbody/tr")
    cells = [[c.text_content().strip() for c in row.xpath("./th|./td")] for row in rows]
    assert [row[0] for row in cells] == ["F-32-S", "F-31-F", "F-31-N"]
    _reference, clinic, _pin, form, came_in, total, state, question = cells[0]
    assert clinic == "32 Tandläkarna i Demohamn" and form == "S" and came_in == "2025-03-31"
    assert total == "25\u00a0000\u00a0kr" and state == "Under granskning" and question == "–"
    link = rows[0].xpath("./th/a/@href")[0]
    assert link == f"{LIST}{filter_claims['F-32-S'].pk}/"


def test_a_claim_with_an_unanswered_question_says_so(coordinator, world, filter_claims):
    ClaimQuestionFactory(claim=filter_claims["F-32-S"], asked_by=world.coordinator_vg)
    doc = _doc(coordinator.get(LIST, PERIOD))
    assert "Fråga väntar" in doc.xpath("//tbody/tr[th='F-32-S']")[0].text_content()


def test_a_filter_in_error_is_shown_by_its_field_and_lists_nothing(coordinator):
    doc = _doc(coordinator.get(LIST, {"amount_from": "mycket", "date_from": "2025-03-10", "date_to": "2025-03-01"}))
    summary = doc.xpath("//div[contains(@class,'error-summary')]")[0].text_content()
    assert "Belopp från (kr)" in summary and "Slutdatum kan inte ligga före startdatum." in summary
    assert not doc.xpath("//table[contains(@class,'review-claims')]")


def test_another_regions_clinic_is_no_filter(coordinator, world):
    response = coordinator.get(LIST, {"clinic": world.clinic2001.pk})
    assert "clinic" in _doc(response).xpath("//div[contains(@class,'field--error')]//select/@name")


def test_paging_by_50_keeps_the_filter(coordinator, world):
    invoice = InvoiceFactory(clinic=world.clinic31)
    _claims(world.clinic31, [f"P-{number:03d}" for number in range(55)], invoice=invoice, days=[MARCH_10] * 55)
    first = _doc(coordinator.get(LIST, {**PERIOD, "clinic": world.clinic31.pk}))
    assert len(first.xpath("//table[contains(@class,'review-claims')]/tbody/tr")) == 50
    assert "Visar 50 av 55 räkningar" in _text(first)
    (next_link,) = first.xpath("//nav[contains(@class,'pagination')]//a[@rel='next']")
    href = next_link.get("href")
    assert f"clinic={world.clinic31.pk}" in href and "date_from=2025-03-01" in href and "cursor=" in href
    second = _doc(coordinator.get(LIST + href))
    assert len(second.xpath("//table[contains(@class,'review-claims')]/tbody/tr")) == 5


def test_paging_walks_every_claim_once_though_they_came_in_at_the_same_moment(coordinator, world):
    invoice = InvoiceFactory(clinic=world.clinic31)
    # Three moments for 120 claims: the id orders those of one moment.
    _claims(
        world.clinic31,
        [f"K-{number:03d}" for number in range(120)],
        invoice=invoice,
        days=[datetime.date(2025, 3, 10 + number % 3) for number in range(120)],
    )
    seen, href = [], "?" + "&".join(f"{key}={value}" for key, value in PERIOD.items())
    for _page in range(4):
        response = coordinator.get(LIST + href)
        seen += _listed(response)
        links = _doc(response).xpath("//nav[contains(@class,'pagination')]//a[@rel='next']")
        if not links:
            break
        href = links[0].get("href")
    assert len(seen) == len(set(seen)) == 120
    # And back: the previous page of the last is the one before it.
    (back,) = _doc(response).xpath("//nav[contains(@class,'pagination')]//a[@rel='prev']")
    assert _listed(coordinator.get(LIST + back.get("href"))) == seen[50:100]


def test_the_list_logs_each_patient_it_shows(coordinator, world, filter_claims):
    before = AccessLogEntry.objects.count()
    coordinator.get(LIST, PERIOD)
    entries = AccessLogEntry.objects.order_by("id")[before:]
    assert {e.personal_identity_number for e in entries} == {
        c.patient.personal_identity_number for key, c in filter_claims.items() if key in ("F-31-N", "F-31-F", "F-32-S")
    }
    assert {(e.user, e.region, e.shown) for e in entries} == {
        (world.coordinator_vg, world.vg, "Granskning: inkomna räkningar")
    }


# One claim --------------------------------------------------------------------------------------------------


@pytest.fixture
def full_claim(world):
    """An S claim at clinic 31 with lines (tooth, jaw, fee), an FHB with an attachment, tooth health, a question."""
    patient = PatientFactory(personal_identity_number=OTHER_PIN)
    assessment = PriorAssessmentFactory(
        clinic=world.clinic31,
        patient=patient,
        state=PriorAssessmentState.APPROVED,
        valid_until=datetime.date(2026, 12, 31),
    )
    PriorAssessmentAttachmentFactory(assessment=assessment, original_name="panorama.png")
    claim = ClaimFactory(
        invoice__clinic=world.clinic31,
        reference="FULL-1",
        patient=patient,
        support_form=SupportForm.S,
        prior_assessment=assessment,
        remaining_teeth=24,
        intact_teeth=19,
        comment="Akut besök",
        with_line=False,
    )
    visit = datetime.date(2026, 3, 2)
    rows = {row.code: row for row in tariff_for(world.vg, visit).rows.all()}
    for position, (code, tooth, jaw, amount) in enumerate(
        [("401", "36", "", 145_000), ("825", "", "UK", 1_270_500), (PATIENT_FEE_CODE, "", "", -10_000)], 1
    ):
        ClaimLine.objects.create(
            claim=claim,
            position=position,
            visit_date=visit,
            code=code,
            tooth=tooth,
            jaw=jaw,
            tariff_row=rows[code],
            amount=amount,
        )
    Claim.objects.filter(pk=claim.pk).update(total=1_405_500, patient_fee_total=-10_000)
    claim_question_ask(actor=world.coordinator_vg, claim=claim, question="Varför 401 och 825 samma dag?")
    claim.refresh_from_db()
    return claim


def test_a_claim_shows_everything_the_clinic_sent_and_its_history(coordinator, world, full_claim):
    doc = _doc(coordinator.get(f"{LIST}{full_claim.pk}/"))
    text = _text(doc)
    for expected in (
        "Räkning FULL-1",
        "31 Folktandvården Demostaden",
        "20000102-2391",
        "S-tandvård",
        "Akut besök",
        "-100 kr",  # the patient fee
        "14 055 kr",  # the total
        full_claim.prior_assessment.number,
        "Varför 401 och 825 samma dag?",
        "Inte besvarad",
    ):
        assert expected in text, expected
    assert (_fact(doc, "Kvarvarande tänder"), _fact(doc, "Intakta tänder")) == ("24", "19")
    assert _fact(doc, "Intyg") == "–" and _fact(doc, "Stödform") == "S-tandvård"
    lines = [
        [td.text_content().strip() for td in row.xpath("./td")]
        for row in doc.xpath("//table[caption='Åtgärder']/tbody/tr")
    ]
    assert [(line[1], line[3], line[4], line[5]) for line in lines] == [
        ("401", "36", "–", "1\u00a0450\u00a0kr"),
        ("825", "–", "UK", "12\u00a0705\u00a0kr"),
        (PATIENT_FEE_CODE, "–", "–", "-100\u00a0kr"),
    ]
    attachment = full_claim.prior_assessment.attachments.get()
    (link,) = doc.xpath("//a[normalize-space()='panorama.png']/@href")
    assert link == f"/region/vg/forhandsbedomningar/{full_claim.prior_assessment.pk}/bilagor/{attachment.pk}/"
    history = [
        [td.text_content().strip() for td in row.xpath("./td")][1:]
        for row in doc.xpath("//table[caption='Räkningens historik']/tbody/tr")
    ]
    assert history == [
        ["Under granskning", world.coordinator_vg.name, "–"],
        ["Under granskning", world.coordinator_vg.name, "Fråga till kliniken: Varför 401 och 825 samma dag?"],
    ]


def test_the_history_shows_the_rules_and_the_system(coordinator, world):
    ReviewRule.objects.create(
        region=world.vg, kind=ReviewRuleKind.CLINIC, clinic=world.clinic32, created_by=world.region_admin
    )
    claim = ClaimFactory(invoice__clinic=world.clinic32)
    review_rules_apply(claims=[claim])
    doc = _doc(coordinator.get(f"{LIST}{claim.pk}/"))
    (row,) = doc.xpath("//table[caption='Räkningens historik']/tbody/tr")
    assert [td.text_content().strip() for td in row.xpath("./td")][1:] == [
        "Under granskning",
        "Systemet",
        "Granskningsregel: Klinik 32 Tandläkarna i Demohamn",
    ]


def _history(doc) -> list[list[str]]:
    return [
        [td.text_content().strip() for td in row.xpath("./td")][1:]
        for row in doc.xpath("//main//table")[-1].xpath("./tbody/tr")
    ]


@pytest.fixture
def storied_claim(world):
    """A claim with a history from every side: the rules, the coordinator, the clinic and a payout run."""
    ReviewRule.objects.create(
        region=world.vg, kind=ReviewRuleKind.CLINIC, clinic=world.clinic31, created_by=world.region_admin
    )
    claim = ClaimFactory(invoice__clinic=world.clinic31)
    review_rules_apply(claims=[claim])
    question = claim_question_ask(actor=world.coordinator_vg, claim=claim, question="Vilken tand?")
    claim_question_answer(actor=world.biller, question=question, answer="Tand 36.")
    claim_approve(actor=world.coordinator_vg, claim=claim, payout_date=datetime.date(2026, 12, 7))
    return claim


def test_the_history_is_shown_in_swedish_to_a_swedish_reader(coordinator, world, storied_claim):
    assert _history(_doc(coordinator.get(f"{LIST}{storied_claim.pk}/"))) == [
        ["Under granskning", "Systemet", "Granskningsregel: Klinik 31 Folktandvården Demostaden"],
        ["Under granskning", world.coordinator_vg.name, "Fråga till kliniken: Vilken tand?"],
        ["Under granskning", world.biller.name, "Klinikens svar: Tand 36."],
        ["Godkänd för utbetalning", world.coordinator_vg.name, "Godkänd för utbetalning 2026-12-07"],
    ]


def test_the_same_history_is_shown_in_english_to_an_english_reader(coordinator, world, storied_claim):
    page = f"{LIST}{storied_claim.pk}/"
    coordinator.post("/sprak/", {"language": "en", "next": page})
    assert _history(_doc(coordinator.get(page))) == [
        ["Under review", "The system", "Review rule: Clinic 31 Folktandvården Demostaden"],
        ["Under review", world.coordinator_vg.name, "Question to the clinic: Vilken tand?"],
        ["Under review", world.biller.name, "The clinic's answer: Tand 36."],
        ["Approved for payment", world.coordinator_vg.name, "Approved for payment 2026-12-07"],
    ]


def test_the_clinic_reads_its_claims_history_in_its_own_language(client, world, storied_claim):
    page = f"/klinik/{world.clinic31.pk}/fakturor/rakningar/{storied_claim.pk}/"
    client.force_login(world.biller)
    swedish = _history(_doc(client.get(page)))
    client.post("/sprak/", {"language": "en", "next": page})
    english = _history(_doc(client.get(page)))
    # Which rule chose the claim is the region's business, in either language.
    assert [row[2] for row in swedish] == [
        "–",
        "Fråga till kliniken: Vilken tand?",
        "Klinikens svar: Tand 36.",
        "Godkänd för utbetalning 2026-12-07",
    ]
    assert [row[2] for row in english] == [
        "–",
        "Question to the clinic: Vilken tand?",
        "The clinic's answer: Tand 36.",
        "Approved for payment 2026-12-07",
    ]


def test_opening_a_claim_writes_the_access_log(coordinator, world, full_claim):
    before = AccessLogEntry.objects.count()
    coordinator.get(f"{LIST}{full_claim.pk}/")
    (entry,) = AccessLogEntry.objects.order_by("id")[before:]
    assert (entry.user, entry.region, entry.clinic, entry.personal_identity_number, entry.shown) == (
        world.coordinator_vg,
        world.vg,
        None,
        OTHER_PIN,
        "Granskning: räkning FULL-1",
    )
    assert OTHER_PIN not in entry.path


def test_a_dalarna_coordinator_gets_404_for_a_vg_claim(client, world, full_claim):
    client.force_login(world.coordinator_dalarna)
    before = AccessLogEntry.objects.count()
    for url in (f"/region/dalarna/rakningar/{full_claim.pk}/", f"/region/vg/rakningar/{full_claim.pk}/"):
        assert client.get(url).status_code == 404
    for action in ("godkann", "makulera", "fraga"):
        response = client.post(f"/region/dalarna/rakningar/{full_claim.pk}/{action}/", {"reason": "x", "question": "x"})
        assert response.status_code == 404
    invoice_url = f"/region/dalarna/rakningar/fakturor/{full_claim.invoice_id}/makulera/"
    assert client.post(invoice_url, {"reason": "x"}).status_code == 404
    full_claim.refresh_from_db()
    assert full_claim.state == ClaimState.UNDER_REVIEW
    assert not ClaimQuestion.objects.filter(claim=full_claim, question="x").exists()
    assert AccessLogEntry.objects.count() == before


# Actions ----------------------------------------------------------------------------------------------------


def test_approve(coordinator, world, full_claim):
    response = coordinator.post(f"{LIST}{full_claim.pk}/godkann/", follow=True)
    full_claim.refresh_from_db()
    assert (full_claim.state, full_claim.approved_on) == (ClaimState.APPROVED, None)
    text = _text(_doc(response))
    assert "Räkning FULL-1 är godkänd och väntar på utbetalning." in text
    assert "Godkänd, väntar på utbetalning" in text
    assert not _doc(response).xpath("//form[contains(@action,'/godkann/')]")  # approved once


def test_approving_a_paid_claim_says_why_not(coordinator, world):
    claim = ClaimFactory(invoice__clinic=world.clinic31, state=ClaimState.PAID)
    doc = _doc(coordinator.post(f"{LIST}{claim.pk}/godkann/"))
    assert (
        "kan inte bli godkänd för utbetalning" in doc.xpath("//div[contains(@class,'error-summary')]")[0].text_content()
    )
    claim.refresh_from_db()
    assert claim.state == ClaimState.PAID


def test_a_question_is_asked_answered_by_the_clinic_and_read_by_the_coordinator(coordinator, client, world):
    claim = ClaimFactory(invoice__clinic=world.clinic31, invoice__created_by=world.biller)

    empty = _doc(coordinator.post(f"{LIST}{claim.pk}/fraga/", {"question": " "}))
    assert empty.xpath("//div[contains(@class,'field--error')]//textarea[@name='question']")
    coordinator.post(f"{LIST}{claim.pk}/fraga/", {"question": "Vilken tand gällde 401?"})
    question = ClaimQuestion.objects.get(claim=claim)
    claim.refresh_from_db()
    assert claim.state == ClaimState.UNDER_REVIEW

    # The biller of clinic 31 sees the question on the claim's page in Era fakturor and answers it there.
    client.force_login(world.biller)
    claim_page = f"/klinik/{world.clinic31.pk}/fakturor/rakningar/{claim.pk}/"
    doc = _doc(client.get(claim_page))
    assert "Vilken tand gällde 401?" in _text(doc) and "Räkningen är under granskning" in _text(doc)
    (form,) = doc.xpath("//form[.//textarea[@name='answer']]")
    assert form.get("action") == f"/klinik/{world.clinic31.pk}/fakturor/fragor/{question.pk}/svara/"
    assert form.xpath(".//input[@name='csrfmiddlewaretoken']")
    empty_answer = _doc(client.post(form.get("action"), {"answer": ""}))
    assert empty_answer.xpath("//div[contains(@class,'error-summary')]")
    response = client.post(form.get("action"), {"answer": "Tand 36."})
    assert response.status_code == 302 and response["Location"] == claim_page
    after = _text(_doc(client.get(claim_page)))
    assert "Tand 36." in after and not _doc(client.get(claim_page)).xpath("//textarea[@name='answer']")

    # The coordinator reads the answer.
    coordinator.force_login(world.coordinator_vg)
    text = _text(_doc(coordinator.get(f"{LIST}{claim.pk}/")))
    assert "Tand 36." in text and f"Besvarad av {world.biller.name}" in text


def test_another_clinic_cannot_answer(client, world):
    question = ClaimQuestionFactory(claim=ClaimFactory(invoice__clinic=world.clinic31), asked_by=world.coordinator_vg)
    client.force_login(world.dalarna_biller)
    url = f"/klinik/{world.clinic2001.pk}/fakturor/fragor/{question.pk}/svara/"
    assert client.post(url, {"answer": "Hej"}).status_code == 404
    question.refresh_from_db()
    assert not question.is_answered


def test_void_with_a_reason_the_clinic_sees_under_makulerade(coordinator, client, world):
    claim = ClaimFactory(invoice__clinic=world.clinic31, state=ClaimState.UNDER_REVIEW)
    empty = _doc(coordinator.post(f"{LIST}{claim.pk}/makulera/", {"reason": ""}))
    assert empty.xpath("//div[contains(@class,'field--error')]//textarea[@name='reason']")
    coordinator.post(f"{LIST}{claim.pk}/makulera/", {"reason": "Patienten saknar intyg."})
    claim.refresh_from_db()
    assert (claim.state, claim.void_reason) == (ClaimState.VOIDED, "Patienten saknar intyg.")

    client.force_login(world.biller)
    voided = _doc(client.get(f"/klinik/{world.clinic31.pk}/fakturor/makulerade/", {"date_from": "2020-01-01"}))
    assert claim.invoice.reference in _text(voided)
    assert "Patienten saknar intyg." in opened_row(client, voided, claim.invoice.reference).text_content()


def test_void_a_whole_invoice(coordinator, world):
    invoice = InvoiceFactory(clinic=world.clinic32)
    open_claims = [
        ClaimFactory(invoice=invoice, state=state) for state in (ClaimState.RECEIVED, ClaimState.UNDER_REVIEW)
    ]
    paid = ClaimFactory(invoice=invoice, state=ClaimState.PAID)
    url = f"{LIST}fakturor/{invoice.pk}/makulera/"
    page = _text(_doc(coordinator.get(url)))
    assert all(claim.reference in page for claim in [*open_claims, paid])
    response = coordinator.post(url, {"reason": "Fakturan skickades två gånger."})
    assert response.status_code == 302
    states = [Claim.objects.get(pk=c.pk).state for c in [*open_claims, paid]]
    assert states == [ClaimState.VOIDED, ClaimState.VOIDED, ClaimState.PAID]


def test_the_clinics_history_does_not_say_which_rule_chose_the_claim(client, world):
    ReviewRule.objects.create(
        region=world.vg, kind=ReviewRuleKind.CLINIC, clinic=world.clinic31, created_by=world.region_admin
    )
    claim = ClaimFactory(invoice__clinic=world.clinic31)
    review_rules_apply(claims=[claim])
    client.force_login(world.biller)
    text = _text(_doc(client.get(f"/klinik/{world.clinic31.pk}/fakturor/rakningar/{claim.pk}/")))
    assert "Räkningen är under granskning" in text and "Granskningsregel" not in text


# Rules ------------------------------------------------------------------------------------------------------


RULES = "/region/vg/rakningar/regler/"


def test_coordinators_see_the_rules_but_do_not_change_them(coordinator, world):
    doc = _doc(coordinator.get(RULES))
    text = _text(doc)
    assert "Belopp över 20 000 kr" in text and "Åtgärd 825, 825S" in text and "Stickprov 5 %" in text
    assert not doc.xpath("//main//form") and not doc.xpath("//a[contains(@href,'/regler/ny/')]")
    assert coordinator.get(f"{RULES}ny/").status_code == 403
    rule = ReviewRule.objects.filter(region=world.vg, is_active=True).first()
    assert coordinator.post(f"{RULES}{rule.pk}/avaktivera/").status_code == 403
    rule.refresh_from_db()
    assert rule.is_active


def test_the_region_admin_adds_and_deactivates_rules(client, world):
    client.force_login(world.region_admin)
    assert _doc(client.get(RULES)).xpath("//a[contains(@href,'/regler/ny/')]")

    missing = _doc(client.post(f"{RULES}ny/", {"kind": "amount_above"}))
    assert missing.xpath("//div[contains(@class,'field--error')]//input[@name='amount_limit']")

    response = client.post(f"{RULES}ny/", {"kind": "sample", "sample_percent": "2,5", "note": "Kvartal 1"})
    assert response.status_code == 302
    rule = ReviewRule.objects.get(region=world.vg, kind="sample", is_active=True)
    assert (str(rule.sample_percent), rule.note, rule.created_by) == ("2.50", "Kvartal 1", world.region_admin)
    client.post(f"{RULES}ny/", {"kind": "clinic", "clinic": world.clinic32.pk})
    assert ReviewRule.objects.filter(region=world.vg, kind="clinic", clinic=world.clinic32).exists()
    assert client.post(f"{RULES}ny/", {"kind": "clinic", "clinic": world.clinic2001.pk}).status_code == 200

    client.post(f"{RULES}{rule.pk}/avaktivera/")
    rule.refresh_from_db()
    assert not rule.is_active
    doc = _doc(client.get(RULES))
    (inactive,) = doc.xpath("//table[caption='Avaktiverade regler']")
    assert "Stickprov 2,5 %" in inactive.text_content()


def test_a_dalarna_admin_page_does_not_reach_vg_rules(client, world):
    rule = ReviewRule.objects.filter(region=world.vg).first()
    client.force_login(world.region_admin)  # administrator of both regions
    assert client.post(f"/region/dalarna/rakningar/regler/{rule.pk}/avaktivera/").status_code == 404


def test_era_fakturor_tells_the_clinic_a_question_waits_for_its_answer(client, world):
    claim = ClaimFactory(invoice__clinic=world.clinic32, invoice__created_by=world.biller)
    question = claim_question_ask(actor=world.coordinator_vg, claim=claim, question="Vilken tand?")
    client.force_login(world.biller)
    url = f"/klinik/{world.clinic32.pk}/fakturor/"

    def status() -> str:
        row = opened_row(client, _doc(client.get(url)), claim.invoice.reference)
        (cell,) = row.xpath("//table[contains(@class,'claims')]/tbody/tr[th=$ref]/td[6]", ref=claim.reference)
        return cell.text_content().strip()

    assert status() == "Räkningen är under granskning: svara på tandvårdssamordningens fråga"
    claim_question_answer(actor=world.biller, question=question, answer="Tand 11.")
    assert status() == "Räkningen är under granskning"
