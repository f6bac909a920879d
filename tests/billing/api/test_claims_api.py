"""/api/v1/claims: a claim sent, refused with the validation's faults (each code, with its pointer, in Swedish and
English), read, listed, deleted and credited; only the key's clinic's; and the same faults through all three doors."""

from __future__ import annotations

import datetime
import re
from dataclasses import replace
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from billing.invoice_file_services import invoice_file_check, invoice_file_start
from billing.services import claim_submit
from claims.drafts import ClaimDraft, FreeCardDraft, LineDraft
from claims.models import PATIENT_FEE_CODE, Claim, ClaimState, Invoice, InvoiceSource
from claims.services import claim_delete
from claims.validation import claim_validate, invoice_reference_fault
from clinics.models import ApiKey, CareModel, Clinic, PatientCategory, SupportForm, Termination
from portal.models import AccessLogEntry, AuditEvent
from tests.billing.test_register_views import _open, vg_tariff  # noqa: F401 (fixture)
from tests.claims import test_validation
from tests.claims.factories import ClaimFactory, TariffRowFactory
from tests.claims.test_validation import (
    DAY,
    FEE,
    FHB_PIN,
    N_PIN,
    TODAY,
    VISIT,
    approved_fhb,
    dalarna_draft,
    n_draft,
    s_draft,
)
from tests.eligibility.factories import approved_prior_assessment

from .helpers import call, key_for

pytestmark = pytest.mark.django_db

# The validation tests' world: the region bills like VG, `other_region` like Dalarna; certificates and tariffs.
small_world = test_validation.small_world
validation_world = test_validation.validation_world
dalarna_history = test_validation.dalarna_history
ROOT = Path(__file__).resolve().parents[3]
INVOICE = "4711"


def line_body(line: LineDraft) -> dict:
    body = {"code": line.code}
    for name in ("tooth", "jaw", "comment"):
        if getattr(line, name):
            body[name] = getattr(line, name)
    if line.price is not None:
        body["price"] = line.price
    return body


def body_of(draft: ClaimDraft, *, invoice_reference: str = INVOICE) -> dict:
    """The draft as a journal system sends it: one visit per day (in order), each with its lines and fee."""
    days = sorted({line.visit_date for line in draft.lines} | set(draft.patient_fees))
    visits = []
    for day in days:
        visit = {"date": day.isoformat(), "lines": [line_body(line) for line in draft.lines if line.visit_date == day]}
        if day in draft.patient_fees:
            visit["patient_fee"] = draft.patient_fees[day]
        visits.append(visit)
    body = {
        "personnummer": draft.personal_identity_number,
        "support_form": draft.support_form,
        "reference": draft.reference,
        "invoice_reference": invoice_reference,
        "visits": visits,
    }
    for name in ("certificate_number", "care_model", "patient_category", "prior_assessment_number", "comment"):
        if getattr(draft, name):
            body[name] = getattr(draft, name)
    for name in ("remaining_teeth", "intact_teeth"):
        if getattr(draft, name) is not None:
            body[name] = getattr(draft, name)
    if draft.free_card:
        card = draft.free_card
        body["free_card"] = {
            "number": card.number,
            "valid_from": card.valid_from.isoformat(),
            "valid_to": card.valid_to.isoformat(),
        }
    return body


def in_visit_order(draft: ClaimDraft) -> ClaimDraft:
    """The draft with its lines in the order the API's visits give them (by day)."""
    return replace(draft, lines=sorted(draft.lines, key=lambda line: line.visit_date))


def post_claim(client, secret, body, **headers):
    return call(client, "post", "claims", secret, body, **headers)


# Sending ----------------------------------------------------------------------------------------------------------


def test_a_correct_claim_is_stored_and_answers_201_with_its_location(client, small_world):
    key, secret = key_for(small_world.clinic, name="Journal Öst")
    response = post_claim(client, secret, body_of(n_draft(remaining_teeth=28, intact_teeth=20)))
    assert response.status_code == 201, response.content
    body = response.json()
    claim = Claim.objects.get(pk=body["id"])
    assert response["Location"] == f"/api/v1/claims/{claim.pk}"
    assert (claim.clinic, claim.reference, claim.created_by) == (small_world.clinic, "980890", key.user)
    assert claim.invoice.source == InvoiceSource.API and claim.invoice.reference == INVOICE
    assert (claim.remaining_teeth, claim.intact_teeth) == (28, 20)
    assert body["state"] == ClaimState.RECEIVED and body["state_label"] == "Under behandling"
    assert body["invoice"] == {"id": claim.invoice_id, "number": INVOICE, "source": "api"}
    assert body["total"] == claim.total and body["patient_fee_total"] == FEE
    (visit,) = body["visits"]
    assert visit["date"] == VISIT.isoformat() and visit["patient_fee"] == FEE
    assert [(line["code"], line["jaw"]) for line in visit["lines"]] == [("101", ""), ("825", "UK")]
    assert sum(line["amount"] for line in visit["lines"]) - FEE == claim.total
    # Written by the service with the key's user, as any claim.
    assert AuditEvent.objects.filter(action="claims.claim.submitted", object_id=str(claim.pk), actor=key.user).exists()


def test_claims_sent_in_separate_calls_with_one_invoice_number_join_one_invoice(client, small_world):
    _key, secret = key_for(small_world.clinic)
    first = post_claim(client, secret, body_of(n_draft()))
    second = post_claim(client, secret, body_of(n_draft(reference="980891", lines=[LineDraft(VISIT, "121")])))
    assert (first.status_code, second.status_code) == (201, 201), second.content
    assert first.json()["invoice"]["id"] == second.json()["invoice"]["id"]
    assert Invoice.objects.of_clinic(small_world.clinic).count() == 1


def test_a_refused_claim_answers_422_with_each_fault_its_code_message_and_pointer(client, small_world):
    _key, secret = key_for(small_world.clinic)
    tomorrow = TODAY + DAY
    small_world.tariff(tomorrow)
    draft = n_draft(
        care_model="",
        lines=[LineDraft(VISIT, "101"), LineDraft(VISIT, "401"), LineDraft(tomorrow, "101", jaw="OK")],
        patient_fees={VISIT: FEE, tomorrow: -5},
    )
    response = post_claim(client, secret, body_of(draft))
    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"].endswith("/unprocessable") and problem["status"] == 422
    assert [(f["code"], f["pointer"]) for f in problem["faults"]] == [
        ("care_model_required", "/care_model"),
        ("tooth_required", "/visits/0/lines/1/tooth"),
        ("jaw_not_allowed", "/visits/1/lines/0/jaw"),
        ("visit_in_future", "/visits/1/lines/0"),
        ("patient_fee_negative", "/visits/1/patient_fee"),
    ]
    assert problem["faults"][1]["message"] == "Åtgärd 401 kräver tand."
    assert not Claim.objects.exists()


def test_faults_come_in_english_with_accept_language_en_as_the_form_shows_them(client, small_world):
    _key, secret = key_for(small_world.clinic)
    body = body_of(n_draft(care_model="", lines=[LineDraft(VISIT, "401")]))
    english = post_claim(client, secret, body, HTTP_ACCEPT_LANGUAGE="en")
    assert english["Content-Language"] == "en"
    assert [f["message"] for f in english.json()["faults"]] == [
        "Enter the care model for N dental care.",
        "Treatment 401 requires a tooth.",
    ]
    swedish = post_claim(client, secret, body)
    assert [f["message"] for f in swedish.json()["faults"]] == [
        "Ange vårdmodell för N-tandvård.",
        "Åtgärd 401 kräver tand.",
    ]


@pytest.mark.parametrize(
    "body,pointer,code",
    [
        ({"visits": "x"}, "/visits", "not_a_list"),
        ({"visits": [{"date": "2026-13-01", "lines": []}]}, "/visits/0/date", "invalid"),
        ({"visits": [{"date": "2026-01-01", "lines": [{"code": ["101"]}]}]}, "/visits/0/lines/0/code", "invalid"),
        (
            {"visits": [{"date": "2026-01-01", "lines": [{"code": "101", "pris": 1}]}]},
            "/visits/0/lines/0/pris",
            "unknown_field",
        ),
        (
            {"visits": [{"date": "2026-01-01", "lines": [], "patient_fee": "200 kr"}]},
            "/visits/0/patient_fee",
            "invalid",
        ),
        ({"remaining_teeth": "many"}, "/remaining_teeth", "invalid"),
        ({"ocr": "1"}, "/ocr", "unknown_field"),
        (
            {"visits": [{"date": "2026-01-01", "lines": []}, {"date": "2026-01-01", "lines": []}]},
            "/visits/1/date",
            "visit_repeated",
        ),
    ],
)
def test_a_body_of_the_wrong_shape_answers_400_with_the_pointer(client, small_world, body, pointer, code):
    _key, secret = key_for(small_world.clinic)
    full = {**body_of(n_draft()), **body}
    response = post_claim(client, secret, full)
    assert response.status_code == 400
    assert [(f["pointer"], f["code"]) for f in response.json()["faults"]] == [(pointer, code)]


def test_malformed_json_answers_400(client, small_world):
    _key, secret = key_for(small_world.clinic)
    response = post_claim(client, secret, '{"personnummer": "1')
    assert response.status_code == 400 and response.json()["faults"][0]["code"] == "parse_error"


# Every fault code of the validation, through the API, as the form's validation gives it --------------------------


def _fhb(world):
    return approved_prior_assessment(world, pin=FHB_PIN)


def _stored(world, draft, invoice="999"):
    return claim_submit(actor=world.biller, clinic=world.clinic, invoice_reference=invoice, draft=draft)


def _used_invoice(world):
    claim = _stored(world, n_draft(reference="OLD-1"), invoice="555")
    Invoice.objects.filter(pk=claim.invoice_id).update(received_at=timezone.now() - 2 * DAY)
    return {"invoice_reference": "555"}


def _old_visit(world):
    old = TODAY - datetime.timedelta(days=250)
    world.tariff(old)
    return n_draft(lines=[LineDraft(old, "101")], patient_fees={old: FEE})


def _terminated(world, *, ends_on, last_billing_on):
    """The clinic under notice (uppsägning), as clinics.services.termination_give leaves it."""
    Termination.objects.create(
        clinic=world.clinic, ends_on=ends_on, last_billing_on=last_billing_on, given_by=world.biller
    )
    Clinic.objects.filter(pk=world.clinic.pk).update(ends_on=ends_on)
    world.clinic.refresh_from_db()


def _visit_after_end(world):
    _terminated(world, ends_on=VISIT - DAY, last_billing_on=TODAY + 30 * DAY)
    return n_draft()


def _clinic_terminated(world):
    _terminated(world, ends_on=VISIT, last_billing_on=TODAY - DAY)
    return n_draft()


def _code_for_s_only(world):
    TariffRowFactory(version=world.tariff(VISIT), code="950", support_forms=[SupportForm.S])
    return n_draft(lines=[LineDraft(VISIT, "950")])


def _future(world):
    tomorrow = TODAY + DAY
    world.tariff(tomorrow)
    return n_draft(lines=[LineDraft(tomorrow, "101")], patient_fees={tomorrow: FEE})


def _other_support_form_fhb(world):
    assessment = approved_fhb(world.clinic, N_PIN, support_form=SupportForm.S)
    return n_draft(prior_assessment_number=assessment.number, lines=[LineDraft(VISIT, "101")])


def _duplicate_care(world):
    _stored(world, n_draft(reference="FIRST-1"))
    return n_draft(reference="SECOND-1")


def _fhb_used_up(world):
    _fhb(world)
    _stored(world, s_draft(reference="FHB-1", lines=[LineDraft(TODAY, "401", tooth="36")]))
    return s_draft(reference="FHB-2", lines=[LineDraft(VISIT, "401", tooth="36")], patient_fees={VISIT: FEE})


def _not_covered(world):
    _fhb(world)
    draft = s_draft()
    return s_draft(lines=[*draft.lines, LineDraft(TODAY, "121")])


def _s(world, **changes):
    _fhb(world)
    return s_draft(**changes)


def _retired_care_model(world):
    CareModel.objects.filter(region=world.region, code="K1").update(retired_from=VISIT)
    return n_draft()


def _retired_category(world):
    draft = _s(world)
    PatientCategory.objects.filter(region=world.region, code=draft.patient_category).update(retired_from=VISIT)
    return draft


# code → (the draft that has the fault (made in the test's world), the call's changes: invoice number, clinic)
FAULT_CASES = {
    "reference_required": lambda w: n_draft(reference=""),
    "reference_invalid": lambda w: n_draft(reference="RÄK-1"),
    "reference_used": lambda w: (_stored(w, n_draft(lines=[LineDraft(VISIT, "121")])), n_draft())[1],
    "personal_identity_number_invalid": lambda w: n_draft(personal_identity_number="200001012385", patient_fees={}),
    "support_form_invalid": lambda w: n_draft(support_form="X"),
    "comment_too_long": lambda w: n_draft(comment="x" * 501),
    "free_card_invalid": lambda w: n_draft(free_card=FreeCardDraft("77001", VISIT, VISIT - DAY)),
    "teeth_out_of_range": lambda w: n_draft(remaining_teeth=33),
    "remaining_teeth_required": lambda w: n_draft(intact_teeth=5),
    "intact_teeth_exceed_remaining": lambda w: n_draft(remaining_teeth=20, intact_teeth=21),
    "care_model_unknown": lambda w: n_draft(care_model="X9"),
    "care_model_required": lambda w: n_draft(care_model=""),
    "care_model_retired": _retired_care_model,
    "patient_category_retired": _retired_category,
    "patient_category_unknown": lambda w: n_draft(patient_category="S3"),
    "patient_category_required": lambda w: _s(w, patient_category=""),
    "lines_empty": lambda w: n_draft(lines=[], patient_fees={}),
    "visit_in_future": _future,
    "visit_too_old": _old_visit,
    "visit_after_end": _visit_after_end,
    "clinic_terminated": _clinic_terminated,
    "patient_fee_negative": lambda w: n_draft(patient_fees={VISIT: -1}),
    "code_unknown": lambda w: n_draft(lines=[LineDraft(VISIT, "101"), LineDraft(VISIT, "999")]),
    "patient_fee_given_twice": lambda w: n_draft(
        lines=[LineDraft(VISIT, "101"), LineDraft(VISIT, PATIENT_FEE_CODE, price=FEE)]
    ),
    "patient_fee_without_visit": lambda w: n_draft(patient_fees={VISIT: FEE, VISIT - 10 * DAY: 100}),
    "patient_fee_exceeds_total": lambda w: n_draft(lines=[LineDraft(VISIT, "901", price=10000)]),
    "patient_fee_missing": lambda w: n_draft(patient_fees={}),
    "certificate_missing": lambda w: n_draft(personal_identity_number=FHB_PIN, certificate_number=""),
    "certificate_number_mismatch": lambda w: n_draft(certificate_number="764160"),
    "prior_assessment_required": lambda w: _s(w, prior_assessment_number=""),
    "code_requires_prior_assessment": lambda w: n_draft(lines=[LineDraft(VISIT, "825S", jaw="OK")]),
    "prior_assessment_invalid": lambda w: _s(w, prior_assessment_number="FHB-2099-999999"),
    "prior_assessment_support_form": _other_support_form_fhb,
    "not_covered_by_prior_assessment": _not_covered,
    "prior_assessment_line_used": _fhb_used_up,
    "prior_assessment_amount_exceeded": _fhb_used_up,
    "free_amount_exceeded": lambda w: dalarna_draft(
        lines=[LineDraft(VISIT, "103"), LineDraft(VISIT, "901", price=146000)]
    ),
    "duplicate_care": _duplicate_care,
    "line_comment_too_long": lambda w: n_draft(lines=[LineDraft(VISIT, "101", comment="x" * 201)]),
    "code_not_for_support_form": _code_for_s_only,
    "tooth_required": lambda w: n_draft(lines=[LineDraft(VISIT, "401")]),
    "tooth_invalid": lambda w: n_draft(lines=[LineDraft(VISIT, "401", tooth="19")]),
    "tooth_not_allowed": lambda w: n_draft(lines=[LineDraft(VISIT, "101", tooth="36")]),
    "jaw_required": lambda w: n_draft(lines=[LineDraft(VISIT, "825")]),
    "jaw_invalid": lambda w: n_draft(lines=[LineDraft(VISIT, "825", jaw="ÖK")]),
    "jaw_not_allowed": lambda w: n_draft(lines=[LineDraft(VISIT, "101", jaw="OK")]),
    "price_not_allowed": lambda w: n_draft(lines=[LineDraft(VISIT, "101", price=98000)]),
    "price_required": lambda w: n_draft(lines=[LineDraft(VISIT, "901")]),
    "price_negative": lambda w: n_draft(lines=[LineDraft(VISIT, "901", price=-100)]),
    "invoice_reference_required": lambda w: (n_draft(), {"invoice_reference": ""}),
    "invoice_reference_invalid": lambda w: (n_draft(), {"invoice_reference": "1" * 26}),
    "invoice_reference_used": lambda w: (n_draft(), _used_invoice(w)),
}
DALARNA_CODES = {"free_amount_exceeded"}


def validation_codes() -> set[str]:
    """Every code claims/validation.py can give a claim's fault."""
    source = (ROOT / "claims" / "validation.py").read_text(encoding="utf-8")
    return set(re.findall(r'(?:fault|Fault)\(\s*(?:code=)?"([a-z_]+)"', source))


def test_the_table_below_has_every_fault_code_of_the_validation():
    assert set(FAULT_CASES) == validation_codes()


@pytest.mark.parametrize("code", sorted(FAULT_CASES))
def test_each_fault_code_comes_through_the_api_as_the_validation_gives_it_to_the_form(
    client, small_world, request, code
):
    if code in DALARNA_CODES:
        request.getfixturevalue("dalarna_history")
    made = FAULT_CASES[code](small_world)
    draft, changes = made if isinstance(made, tuple) else (made, {})
    clinic = small_world.other_region_clinic if code in DALARNA_CODES else small_world.clinic
    invoice_reference = changes.get("invoice_reference", INVOICE)
    # The form's validation: claims.validation as the form calls it (the invoice number first).
    ordered = in_visit_order(draft)
    expected = claim_validate(clinic=clinic, draft=ordered)
    reference_fault = invoice_reference_fault(clinic=clinic, reference=invoice_reference, may_join_open=True)
    expected = ([reference_fault] if reference_fault else []) + expected
    assert code in {fault.code for fault in expected}
    _key, secret = key_for(clinic)
    response = post_claim(client, secret, body_of(draft, invoice_reference=invoice_reference))
    assert response.status_code == 422, response.content
    faults = response.json()["faults"]
    assert [(f["code"], f["message"]) for f in faults] == [(f.code, f.message) for f in expected]
    assert all(f["pointer"].startswith("/") for f in faults)


# The same draft through the three doors ---------------------------------------------------------------------------


def _door_form(client, world, *, day, reference, invoice):
    page = _open(client, world)
    page.search(N_PIN)
    page.add(day, "101")
    page.submit(reference=reference, invoice_reference=invoice, care_model="")
    return page.summary()


def _door_file(client, world, *, day, reference, invoice):
    content = f"""<?xml version="1.0" encoding="UTF-8"?>
<Fakturafil xmlns="urn:se:tandvardsstod:fakturafil:1" version="1">
  <Huvud>
    <Kliniknummer>31</Kliniknummer>
    <Fakturareferens>{invoice}</Fakturareferens>
    <Skapad>{TODAY.isoformat()}T08:00:00</Skapad>
    <Programvara>Testjournal 1.0</Programvara>
  </Huvud>
  <Rakning>
    <Rakningsreferens>{reference}</Rakningsreferens>
    <Personnummer>{N_PIN}</Personnummer>
    <Stodform>N</Stodform>
    <Besok datum="{day.isoformat()}"><Atgard kod="101"/></Besok>
  </Rakning>
</Fakturafil>
""".encode()
    started = invoice_file_start(
        actor=world.biller, clinic=world.clinic31, uploaded=SimpleUploadedFile("fakturafil.xml", content)
    )
    upload = invoice_file_check(upload=started.upload)
    return [fault.message for fault in upload.faults.order_by("claim_index", "pk")]


def _door_api(client, world, *, day, reference, invoice):
    body = {
        "personnummer": N_PIN,
        "support_form": "N",
        "reference": reference,
        "invoice_reference": invoice,
        "visits": [{"date": day.isoformat(), "lines": [{"code": "101"}]}],
    }
    return [fault["message"] for fault in post_claim(client, "tandportal-demo-31", body).json()["faults"]]


@pytest.mark.usefixtures("vg_tariff")
@pytest.mark.parametrize("door", [_door_form, _door_file, _door_api], ids=["form", "file", "api"])
@pytest.mark.parametrize("reference", ["DOORS-1", "used"])
def test_the_same_draft_gives_the_same_faults_through_the_form_the_file_and_the_api(client, world, door, reference):
    day = TODAY - DAY
    if reference == "used":
        reference = Claim.objects.filter(clinic=world.clinic31).order_by("pk").first().reference
    faults = door(client, world, day=day, reference=reference, invoice="DOORS-77")
    expected = ["Ange vårdmodell för N-tandvård.", f"Patientavgift saknas för besöket {day.isoformat()}."]
    if reference != "DOORS-1":
        expected.insert(0, "Räkningsreferensen har redan använts, använd ett annat")
    assert sorted(faults) == sorted(expected)


# Reading -----------------------------------------------------------------------------------------------------------


def test_a_claim_is_read_by_its_clinics_key_and_the_read_is_in_the_access_log(client, small_world):
    key, secret = key_for(small_world.clinic, name="Journal Öst")
    claim = _stored(small_world, n_draft())
    response = call(client, "get", f"claims/{claim.pk}", secret)
    assert response.status_code == 200
    body = response.json()
    assert (body["id"], body["reference"], body["personnummer"]) == (claim.pk, "980890", N_PIN)
    entry = AccessLogEntry.objects.get(personal_identity_number=N_PIN)
    assert entry.user == key.user and entry.path == f"/api/v1/claims/{claim.pk}" and "980890" in entry.shown


def test_a_key_of_one_clinic_gets_404_for_the_claims_of_the_two_others(client, small_world):
    """Clinic 31's key, and claims of 32 (the same region) and 2001 (another region): not found, whatever the verb."""
    _key, secret = key_for(small_world.clinic)
    small_world.tariff(VISIT, region=small_world.other_region)
    foreign = [
        ClaimFactory(invoice__clinic=small_world.other_clinic, state=ClaimState.RECEIVED),
        ClaimFactory(invoice__clinic=small_world.other_region_clinic, state=ClaimState.PAID),
    ]
    for claim in foreign:
        for method, path in (("get", ""), ("delete", ""), ("post", "/credit")):
            response = call(client, method, f"claims/{claim.pk}{path}", secret, {} if method == "post" else None)
            assert (response.status_code, response["Content-Type"]) == (404, "application/problem+json"), method
        claim.refresh_from_db()
        assert claim.state in (ClaimState.RECEIVED, ClaimState.PAID)
    listed = call(client, "get", "claims", secret).json()["results"]
    assert listed == []
    assert not AccessLogEntry.objects.exists()


def test_an_unknown_claim_answers_404(client, small_world):
    _key, secret = key_for(small_world.clinic)
    assert call(client, "get", "claims/999999", secret).status_code == 404


@pytest.mark.parametrize("state", ["revoked", "expired"])
def test_a_revoked_or_expired_key_answers_401_for_claims(client, small_world, state):
    key, secret = key_for(small_world.clinic)
    claim = _stored(small_world, n_draft())
    change = {"revoked_at": timezone.now()} if state == "revoked" else {"expires_at": timezone.now() - DAY}
    ApiKey.objects.filter(pk=key.pk).update(**change)
    assert call(client, "get", f"claims/{claim.pk}", secret).status_code == 401
    assert call(client, "post", "claims", secret, body_of(n_draft(reference="X-2"))).status_code == 401
    assert call(client, "delete", f"claims/{claim.pk}", secret).status_code == 401


def test_claims_are_listed_by_change_with_an_opaque_cursor(client, small_world):
    key, secret = key_for(small_world.clinic)
    claims = [
        _stored(
            small_world,
            n_draft(reference=f"L-{n}", lines=[LineDraft(VISIT - n * DAY, "101")], patient_fees={VISIT - n * DAY: FEE}),
        )
        for n in range(5)
    ]
    start = timezone.now() - datetime.timedelta(hours=1)
    Claim.objects.filter(pk=claims[0].pk).update(updated_at=start - DAY)  # changed before updated_since
    seen, cursor = [], None
    pages = 0
    while True:
        query = f"claims?updated_since={start.isoformat().replace('+', '%2B')}&limit=2"
        response = call(client, "get", query + (f"&cursor={cursor}" if cursor else ""), secret)
        assert response.status_code == 200, response.content
        page = response.json()
        seen += [claim["reference"] for claim in page["results"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert page["next"].startswith("/api/v1/claims?cursor=")
    assert seen == ["L-1", "L-2", "L-3", "L-4"] and pages == 2
    # A claim changed later comes after the last one seen.
    claim_delete(actor=key.user, claim=claims[1])
    again = call(client, "get", f"claims?updated_since={start.isoformat().replace('+', '%2B')}", secret).json()
    assert [claim["reference"] for claim in again["results"]][-1] == "L-1"
    assert AccessLogEntry.objects.filter(personal_identity_number=N_PIN, path="/api/v1/claims").exists()


@pytest.mark.parametrize(
    "query,pointer",
    [("updated_since=yesterday", "/updated_since"), ("cursor=bm9wZQ", "/cursor"), ("limit=0", "/limit"), ("x=1", "/x")],
)
def test_a_wrong_list_query_answers_400(client, small_world, query, pointer):
    _key, secret = key_for(small_world.clinic)
    response = call(client, "get", f"claims?{query}", secret)
    assert response.status_code == 400
    assert [f["pointer"] for f in response.json()["faults"]] == [pointer]


# Radera and Kreditera ---------------------------------------------------------------------------------------------


def test_a_claim_under_behandling_is_deleted_as_radera_and_again_answers_the_same(client, small_world):
    key, secret = key_for(small_world.clinic)
    claim = _stored(small_world, n_draft())
    response = call(client, "delete", f"claims/{claim.pk}", secret)
    assert response.status_code == 200 and response.json()["state"] == ClaimState.DELETED
    claim.refresh_from_db()
    assert claim.state == ClaimState.DELETED
    assert AuditEvent.objects.filter(action="claims.claim.deleted", object_id=str(claim.pk), actor=key.user).exists()
    assert call(client, "delete", f"claims/{claim.pk}", secret).status_code == 200


def test_a_paid_claim_cannot_be_deleted_409_in_swedish(client, small_world):
    _key, secret = key_for(small_world.clinic)
    claim = ClaimFactory(invoice__clinic=small_world.clinic, state=ClaimState.PAID, reference="PAID-1")
    response = call(client, "delete", f"claims/{claim.pk}", secret)
    assert response.status_code == 409 and response["Content-Type"] == "application/problem+json"
    assert response.json()["detail"] == "Räkningen PAID-1 kan inte raderas: den har status utbetald."
    claim.refresh_from_db()
    assert claim.state == ClaimState.PAID


def _paid(world) -> Claim:
    claim = _stored(world, n_draft(lines=[LineDraft(VISIT, "101"), LineDraft(VISIT, "121")]))
    Claim.objects.filter(pk=claim.pk).update(state=ClaimState.PAID, paid_on=TODAY)
    return Claim.objects.get(pk=claim.pk)


def test_chosen_lines_of_a_paid_claim_are_credited_as_kreditera(client, small_world):
    _key, secret = key_for(small_world.clinic)
    claim = _paid(small_world)
    line = claim.lines.get(code="121")
    response = call(client, "post", f"claims/{claim.pk}/credit", secret, {"line_ids": [line.pk]})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["lines"] == [{"line_id": line.pk, "amount": line.amount}] and body["total"] == line.amount
    assert body["claim"]["state"] == ClaimState.PAID
    credited = {item["id"]: item["credited"] for visit in body["claim"]["visits"] for item in visit["lines"]}
    assert credited[line.pk] is True and list(credited.values()).count(True) == 1


def test_a_whole_paid_claim_is_credited_and_a_second_credit_answers_409(client, small_world):
    _key, secret = key_for(small_world.clinic)
    claim = _paid(small_world)
    response = call(client, "post", f"claims/{claim.pk}/credit", secret, {})
    assert response.status_code == 201 and response.json()["total"] == claim.total
    assert response.json()["claim"]["state"] == ClaimState.CREDITED
    again = call(client, "post", f"claims/{claim.pk}/credit", secret, {})
    assert again.status_code == 409 and again.json()["detail"] == "Åtgärden är redan krediterad."


def test_a_claim_not_paid_cannot_be_credited_409(client, small_world):
    _key, secret = key_for(small_world.clinic)
    claim = _stored(small_world, n_draft())
    response = call(client, "post", f"claims/{claim.pk}/credit", secret, {})
    assert response.status_code == 409 and "Bara utbetalda räkningar kan krediteras" in response.json()["detail"]


@pytest.mark.parametrize("line_ids", [[999999], "fee"])
def test_lines_that_cannot_be_chosen_answer_422_with_the_pointer(client, small_world, line_ids):
    _key, secret = key_for(small_world.clinic)
    claim = _paid(small_world)
    if line_ids == "fee":
        line_ids = [claim.lines.get(code=PATIENT_FEE_CODE).pk]
    response = call(client, "post", f"claims/{claim.pk}/credit", secret, {"line_ids": line_ids})
    assert response.status_code == 422
    assert [f["pointer"] for f in response.json()["faults"]] == ["/line_ids"]


def test_a_credit_body_of_the_wrong_shape_answers_400(client, small_world):
    _key, secret = key_for(small_world.clinic)
    claim = _paid(small_world)
    response = call(client, "post", f"claims/{claim.pk}/credit", secret, {"line_ids": "all"})
    assert response.status_code == 400 and response.json()["faults"][0]["pointer"] == "/line_ids"
