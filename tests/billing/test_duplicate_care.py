"""Duplicate care through every door: the form page (Registrera räkning), the invoice file (check and send) and,
for another clinic's claim, the region's review rule "möjlig dubblett" with the coordinator's link to the other
claim and nothing for the clinic. The rule itself and the service door: tests/claims/test_duplicate_care.py."""

import datetime
from collections import defaultdict

import lxml.html
import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from billing import invoice_file_services
from billing import services as billing_services
from billing.invoice_file_services import invoice_file_check, invoice_file_send, invoice_file_send_start
from claims.drafts import ClaimDraft, LineDraft
from claims.models import Claim, ClaimEventKind, ClaimState
from claims.services import ClaimRejected
from review.models import ReviewRule, ReviewRuleKind
from tests.billing.test_register_views import Page, _open
from tests.claims.factories import tariff_for
from tests.clinics.factories import ClinicFactory
from tests.eligibility.factories import CertificateFactory
from tests.kept import kept
from tests.review.factories import ReviewRuleFactory
from tests.worlds import SmallWorld

PIN = "200001012384"  # an N certificate 764153 tills vidare (the demo's, and the small worlds' below)
DAY = datetime.timedelta(days=1)


def _day(days_ago: int) -> datetime.date:
    return timezone.localdate() - days_ago * DAY


def _doc(response):
    assert response.status_code == 200, response.status_code
    return lxml.html.document_fromstring(response.content)


def _text(doc) -> str:
    return " ".join(doc.xpath("//main")[0].text_content().split())


# The form page ----------------------------------------------------------------------------------------------


def _form_claim(client, world, *, lines: list[tuple[datetime.date, str]], reference: str, invoice: str) -> Page:
    """Registrera räkning at clinic 31 for PIN: the lines, each visit's fee, then Skicka in."""
    page = _open(client, world)
    page.search(PIN)
    page.press("action", "refresh", care_model="K1")
    for day, code in lines:
        page.add(day, code)
    page.press("action", "refresh", **{f"fee-{day.isoformat()}": "200" for day, _code in lines})
    page.submit(reference=reference, invoice_reference=invoice)
    return page


def test_the_form_page_refuses_a_visit_the_clinic_has_billed_and_says_on_which_claim(client, world):
    day = _day(2)
    tariff_for(world.vg, day)
    first = _form_claim(client, world, lines=[(day, "101")], reference="DUP-FORM-1", invoice="4811")
    assert first.response.status_code == 302
    again = _form_claim(client, world, lines=[(day, "101")], reference="DUP-FORM-2", invoice="4812")
    assert again.response.status_code == 200
    message = f"Åtgärd 101 den {day.isoformat()} finns redan på räkning DUP-FORM-1."
    assert again.summary() == [message]
    # Beside its line too, and the summary's link leads there.
    (link,) = again.doc.xpath("//div[@id='error-summary']//a")
    assert link.get("href") == "#line-0"
    assert message in again.doc.get_element_by_id("line-0").text_content()
    assert not Claim.objects.filter(clinic=world.clinic31, reference="DUP-FORM-2").exists()


def test_the_form_page_refuses_the_same_code_twice_on_the_claim(client, world):
    day = _day(2)
    tariff_for(world.vg, day)
    page = _form_claim(client, world, lines=[(day, "101"), (day, "101")], reference="DUP-FORM-3", invoice="4813")
    assert page.response.status_code == 200
    assert page.summary() == [f"Åtgärd 101 den {day.isoformat()} finns två gånger på räkningen."]


# The invoice file -------------------------------------------------------------------------------------------


def _rakning(reference: str, *, day: datetime.date, actions: str = '<Atgard kod="101"/>', pin: str = PIN) -> str:
    return f"""
  <Rakning>
    <Rakningsreferens>{reference}</Rakningsreferens>
    <Personnummer>{pin}</Personnummer>
    <Stodform>N</Stodform>
    <Intygsnummer>764153</Intygsnummer>
    <Vardmodell>K1</Vardmodell>
    <Besok datum="{day.isoformat()}"><Patientavgift belopp="200"/>{actions}</Besok>
  </Rakning>"""


def _file(claims: list[str], *, reference: str = "DUP-F-1") -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Fakturafil xmlns="urn:se:tandvardsstod:fakturafil:1" version="1">
  <Huvud>
    <Kliniknummer>31</Kliniknummer>
    <Fakturareferens>{reference}</Fakturareferens>
    <Skapad>{timezone.localdate().isoformat()}T08:00:00</Skapad>
  </Huvud>{"".join(claims)}
</Fakturafil>
""".encode()


def _file_world() -> SmallWorld:
    """Clinic 31 of the small world, PIN's certificate, the tariff of the visits (5 to 30 days ago)."""
    small_world = SmallWorld()
    small_world.clinic = ClinicFactory(region=small_world.region, number="31")
    CertificateFactory(patient__personal_identity_number=PIN, region=small_world.region, number="764153")
    small_world.tariff(_day(5), _day(30))
    small_world.biller
    return small_world


# Every test here that asks for the small world asks for `file_world`: made once per module (tests/kept.py).
file_world_made = kept(_file_world, "file_world_made")


@pytest.fixture
def small_world(file_world_made, db) -> SmallWorld:
    return file_world_made.fresh()


@pytest.fixture
def file_world(small_world) -> SmallWorld:
    return small_world


def _checked(world, content: bytes):
    upload = invoice_file_services.invoice_file_start(
        actor=world.biller, clinic=world.clinic, uploaded=SimpleUploadedFile("faktura.xml", content)
    ).upload
    invoice_file_check(upload=upload)
    upload.refresh_from_db()
    return upload


def _faults(upload) -> dict[str, list[str]]:
    found = defaultdict(list)
    for fault in upload.faults.order_by("claim_index", "pk"):
        found[fault.claim_reference].append(fault.message)
    return dict(found)


def _submit(world, reference: str, day: datetime.date, *, clinic=None, invoice: str = "5560001") -> Claim:
    draft = ClaimDraft(
        personal_identity_number=PIN,
        support_form="N",
        reference=reference,
        lines=[LineDraft(day, "101")],
        patient_fees={day: 20000},
        care_model="K1",
    )
    return billing_services.claim_submit(
        actor=world.biller, clinic=clinic or world.clinic, invoice_reference=invoice, draft=draft
    )


def test_a_file_says_each_of_the_three_messages_for_its_claim_across_chunks(file_world, monkeypatch):
    monkeypatch.setattr(invoice_file_services, "CHUNK_SIZE", 2)
    stored, first, other = _day(5), _day(6), _day(7)
    _submit(file_world, "WEB-1", stored)
    content = _file(
        [
            _rakning("F-STORED", day=stored),  # on a claim of the clinic's
            _rakning("F-FIRST", day=first),  # correct: the first of its visit in the file
            _rakning("F-OTHER", day=other),  # correct
            _rakning("F-AGAIN", day=first),  # the same visit as F-FIRST, in the next chunk
            _rakning("F-TWICE", day=other, actions='<Atgard kod="121"/><Atgard kod="121"/>'),
            _rakning("F-REPEAT", day=first, actions='<Atgard kod="121"/><Atgard kod="901" pris="100"/>'),
            _rakning("F-REPEAT-2", day=first, actions='<Atgard kod="901" pris="200"/>'),  # repeatable
        ]
    )
    upload = _checked(file_world, content)
    assert _faults(upload) == {
        "F-STORED": [f"Åtgärd 101 den {stored.isoformat()} finns redan på räkning WEB-1."],
        "F-AGAIN": [f"Åtgärd 101 den {first.isoformat()} finns redan i filen."],
        "F-TWICE": [f"Åtgärd 121 den {other.isoformat()} finns två gånger på räkningen."],
    }
    assert (upload.claim_count, upload.correct_count) == (7, 4)

    invoice_file_send_start(actor=file_world.biller, upload=upload)
    invoice = invoice_file_send(upload=upload)
    sent = sorted(invoice.claims.values_list("reference", flat=True))
    assert sent == ["F-FIRST", "F-OTHER", "F-REPEAT", "F-REPEAT-2"]


def test_twenty_identical_visits_in_a_file_are_one_correct_claim(file_world, monkeypatch):
    """The issue's file of 20 000 identical visits, small: checked as one correct claim, not all of them."""
    monkeypatch.setattr(invoice_file_services, "CHUNK_SIZE", 7)
    upload = _checked(file_world, _file([_rakning(f"SAME-{n}", day=_day(5)) for n in range(20)]))
    assert (upload.claim_count, upload.correct_count, upload.faulty_count) == (20, 1, 19)
    assert set(upload.faults.values_list("message", flat=True)) == {
        f"Åtgärd 101 den {_day(5).isoformat()} finns redan i filen."
    }


def test_a_visit_billed_on_the_web_after_the_check_stops_the_sending(file_world):
    upload = _checked(file_world, _file([_rakning("F-LATE", day=_day(5))]))
    assert upload.correct_count == 1
    _submit(file_world, "WEB-LATE", _day(5))
    invoice_file_send_start(actor=file_world.biller, upload=upload)
    with pytest.raises(ValidationError) as refused:
        invoice_file_send(upload=upload)
    assert str(refused.value.messages[0]) == (
        f"Räkningen F-LATE kan inte längre skickas: Åtgärd 101 den {_day(5).isoformat()} finns redan på räkning "
        "WEB-LATE. Inget har skickats."
    )


def test_the_check_costs_the_same_queries_for_each_chunk(file_world, monkeypatch):
    """The duplicate care of a chunk is read in one query, whatever the number of claims and patients in it."""
    monkeypatch.setattr(invoice_file_services, "CHUNK_SIZE", 5)

    def queries_for(chunks: int, reference: str) -> tuple[int, int]:
        claims = [_rakning(f"{reference}-{n}", day=_day(5 + n % 20)) for n in range(chunks * 5)]
        upload = invoice_file_services.invoice_file_start(
            actor=file_world.biller,
            clinic=file_world.clinic,
            uploaded=SimpleUploadedFile("faktura.xml", _file(claims, reference=reference)),
        ).upload
        with CaptureQueriesContext(connection) as queries:
            invoice_file_check(upload=upload)
        care = [q for q in queries.captured_queries if '"claims_claimline"."tooth"' in q["sql"]]
        return len(queries), len(care)

    one, one_care = queries_for(1, "Q1")
    three, three_care = queries_for(3, "Q3")
    five, five_care = queries_for(5, "Q5")
    assert (one_care, three_care, five_care) == (1, 3, 5)
    assert five - three == three - one  # a fixed number of queries per chunk


# Another clinic's claim: the review rule "möjlig dubblett" ------------------------------------------------------


@pytest.fixture
def rule(file_world):
    return ReviewRuleFactory(
        region=file_world.region, kind=ReviewRuleKind.POSSIBLE_DUPLICATE, created_by=file_world.region_admin
    )


def test_the_same_care_at_another_clinic_goes_under_review_with_a_link_for_the_coordinator_only(
    client, file_world, rule
):
    theirs = _submit(file_world, "THEIRS-1", _day(5), clinic=file_world.other_clinic)
    assert theirs.state == ClaimState.RECEIVED  # the first of the care is not a duplicate
    mine = _submit(file_world, "MINE-1", _day(5), invoice="5560002")
    assert mine.state == ClaimState.UNDER_REVIEW
    event = mine.events.get(kind=ClaimEventKind.RULES_MATCHED)
    assert event.params["rules"] == [{"id": rule.pk, "kind": "possible_duplicate", "other_claim": theirs.pk}]
    assert event.text == "Granskningsregel: Möjlig dubblett"

    client.force_login(file_world.coordinator)
    doc = _doc(client.get(f"/region/{file_world.region.code}/rakningar/{mine.pk}/"))
    (section,) = doc.xpath("//section[@aria-labelledby='duplicate-title']")
    (link,) = section.xpath(".//a")
    assert link.get("href") == f"/region/{file_world.region.code}/rakningar/{theirs.pk}/"
    assert link.text_content() == "Räkning THEIRS-1"
    assert f"klinik {file_world.other_clinic.number} {file_world.other_clinic.name}" in section.text_content()

    client.force_login(file_world.biller)
    text = _text(_doc(client.get(f"/klinik/{file_world.clinic.pk}/fakturor/rakningar/{mine.pk}/")))
    assert "Räkningen är under granskning" in text
    assert "THEIRS-1" not in text and "dubblett" not in text.lower() and "Granskningsregel" not in text


def test_no_rule_no_review_and_a_deactivated_rule_none_either(file_world, rule):
    _submit(file_world, "THEIRS-2", _day(5), clinic=file_world.other_clinic)
    rule.is_active, rule.deactivated_at = False, timezone.now()
    rule.save()
    assert _submit(file_world, "MINE-2", _day(5), invoice="5560003").state == ClaimState.RECEIVED


@pytest.mark.parametrize("state", [ClaimState.DELETED, ClaimState.VOIDED])
def test_another_clinics_deleted_or_voided_claim_is_no_duplicate(file_world, rule, state):
    theirs = _submit(file_world, "THEIRS-3", _day(5), clinic=file_world.other_clinic)
    Claim.objects.filter(pk=theirs.pk).update(state=state, void_reason="Fel")
    assert _submit(file_world, "MINE-3", _day(5), invoice="5560004").state == ClaimState.RECEIVED


def test_another_regions_claim_and_other_care_are_no_duplicates(file_world, rule):
    CertificateFactory(patient__personal_identity_number=PIN, region=file_world.other_region, number="D-1")
    file_world.tariff(_day(5), region=file_world.other_region)
    # The other region pays its own claims: no double payment of this region's.
    draft = ClaimDraft(PIN, "N", "OTHER-REGION", [LineDraft(_day(5), "101")], {_day(5): 20000}, care_model="K1")
    billing_services.claim_submit(
        actor=file_world.other_region_biller,
        clinic=file_world.other_region_clinic,
        invoice_reference="5560005",
        draft=draft,
    )
    _submit(file_world, "THEIRS-4", _day(6), clinic=file_world.other_clinic)
    assert _submit(file_world, "MINE-4", _day(5), invoice="5560006").state == ClaimState.RECEIVED


def test_a_file_sent_with_another_clinics_care_puts_only_that_claim_under_review(file_world, rule):
    theirs = _submit(file_world, "THEIRS-5", _day(5), clinic=file_world.other_clinic)
    upload = _checked(file_world, _file([_rakning("F-DUP", day=_day(5)), _rakning("F-NEW", day=_day(6))]))
    assert upload.correct_count == 2  # the clinic is told nothing of the other clinic's claim
    invoice_file_send_start(actor=file_world.biller, upload=upload)
    invoice = invoice_file_send(upload=upload)
    states = dict(invoice.claims.values_list("reference", "state"))
    assert states == {"F-DUP": ClaimState.UNDER_REVIEW, "F-NEW": ClaimState.RECEIVED}
    event = Claim.objects.get(clinic=file_world.clinic, reference="F-DUP").events.get(kind="rules_matched")
    assert event.params["rules"][0]["other_claim"] == theirs.pk


def test_the_clinic_is_refused_its_own_duplicate_not_put_under_review(file_world, rule):
    _submit(file_world, "OWN-1", _day(5))
    with pytest.raises(ClaimRejected):
        _submit(file_world, "OWN-2", _day(5), invoice="5560007")


# The rule kept by region administrators ----------------------------------------------------------------------


def test_region_admins_add_and_deactivate_the_rule_on_the_rules_page(client, file_world):
    region = file_world.region
    client.force_login(file_world.region_admin)
    form = _doc(client.get(f"/region/{region.code}/rakningar/regler/ny/"))
    assert "Möjlig dubblett" in [label.text_content().strip() for label in form.xpath("//label")]
    response = client.post(f"/region/{region.code}/rakningar/regler/ny/", {"kind": "possible_duplicate"})
    assert response.status_code == 302
    rule = ReviewRule.objects.get(region=region, kind=ReviewRuleKind.POSSIBLE_DUPLICATE)
    assert rule.is_active and rule.description == "Möjlig dubblett"
    assert "Möjlig dubblett" in _text(_doc(client.get(f"/region/{region.code}/rakningar/regler/")))
    response = client.post(f"/region/{region.code}/rakningar/regler/{rule.pk}/avaktivera/")
    assert response.status_code == 302
    rule.refresh_from_db()
    assert not rule.is_active


def test_both_demo_regions_have_an_active_possible_duplicate_rule(world):
    regions = set(
        ReviewRule.objects.filter(kind=ReviewRuleKind.POSSIBLE_DUPLICATE, is_active=True).values_list(
            "region__code", flat=True
        )
    )
    assert regions == {"vg", "dalarna"}


def test_the_form_page_sends_another_clinics_care_to_review_and_tells_the_clinic_nothing_more(client, world):
    """The demo's Västra Götaland reviews possible duplicates: the biller of clinics 31 and 32 bills the same visit
    at each. The second is stored (the clinic is told of no other clinic's claim) and waits for the coordinator."""
    day = _day(2)
    tariff_for(world.vg, day)
    first = _form_claim(client, world, lines=[(day, "101")], reference="DUP-X-31", invoice="4821")
    assert first.response.status_code == 302
    page = _open(client, world, clinic=world.clinic32)
    page.search(PIN)
    page.press("action", "refresh", care_model="K1")
    page.add(day, "101")
    page.press("action", "refresh", **{f"fee-{day.isoformat()}": "200"})
    assert page.submit(reference="DUP-X-32", invoice_reference="4822").status_code == 302
    theirs = Claim.objects.get(clinic=world.clinic31, reference="DUP-X-31")
    mine = Claim.objects.get(clinic=world.clinic32, reference="DUP-X-32")
    assert (theirs.state, mine.state) == (ClaimState.RECEIVED, ClaimState.UNDER_REVIEW)
    text = _text(_doc(client.get(f"/klinik/{world.clinic32.pk}/fakturor/rakningar/{mine.pk}/")))
    assert "Räkningen är under granskning" in text and "DUP-X-31" not in text and "dubblett" not in text.lower()
