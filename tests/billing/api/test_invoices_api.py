"""GET /invoices and /payout-notices: Era fakturor and Utbetalningar over the API, for the key's clinic only."""

import datetime
import re
import zlib

import jsonschema
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from claims.models import ClaimState, CreditInvoice, Invoice
from payouts import notices
from payouts.models import PayoutInvoice, PayoutPayment, PayoutRun
from portal.models import AccessLogEntry
from tests.claims.factories import ClaimFactory, InvoiceFactory
from tests.eligibility.factories import TEST_PINS, PatientFactory

from .helpers import call, key_for

pytestmark = pytest.mark.django_db


def _invoice(clinic, *, received_at=None, claims=1, pins=None, **values):
    invoice = InvoiceFactory(clinic=clinic, **values)
    for index in range(claims):
        patient = PatientFactory(personal_identity_number=pins[index]) if pins else PatientFactory()
        ClaimFactory(invoice=invoice, patient=patient)
    if received_at is not None:
        Invoice.objects.filter(pk=invoice.pk).update(received_at=received_at)
    return invoice


def _ids(body) -> list[int]:
    return [row["id"] for row in body["results"]]


def _pages(client, secret, path="invoices?limit=3", before_next=None) -> list[list[int]]:
    pages, url = [], path
    while url:
        body = call(client, "get", url, secret).json()
        pages.append(_ids(body))
        if before_next:
            before_next(len(pages))
        url = body["next"] and body["next"].split("/api/v1/", 1)[1]
        assert (body["next"] is None) == (body["next_cursor"] is None)
    return pages


# The list -------------------------------------------------------------------------------------------------------


def test_the_list_shows_the_keys_clinics_invoices_newest_first_with_figures_and_their_claims_by_link(
    client, small_world
):
    older = _invoice(small_world.clinic, received_at=timezone.now() - datetime.timedelta(days=3), pins=TEST_PINS[:1])
    newer = _invoice(small_world.clinic, claims=2)
    _invoice(small_world.other_clinic)
    _key, secret = key_for(small_world.clinic)
    response = call(client, "get", "invoices", secret)
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    body = response.json()
    assert _ids(body) == [newer.pk, older.pk] and body["next"] is None and body["next_cursor"] is None
    row = body["results"][1]
    claim = older.claims.get()
    assert row["reference"] == older.reference and row["amount"] == claim.total == 98000
    assert row["status"] == "Under behandling" and row["our_reference"] == "" and row["payout_date"] is None
    assert row["url"].endswith(f"/api/v1/invoices/{older.pk}")
    assert "claims" not in row and row["claim_count"] == 1 and body["results"][0]["claim_count"] == 2
    assert row["claims_url"].endswith(f"/api/v1/invoices/{older.pk}/claims")
    claims = call(client, "get", row["claims_url"].split("/api/v1/", 1)[1], secret).json()
    assert claims["next"] is None and claims["next_cursor"] is None
    assert claims["results"] == [
        {
            "id": claim.pk,
            "reference": claim.reference,
            "personnummer": TEST_PINS[0],
            "support_form": "N",
            "visit_dates": ["2026-10-01"],
            "total": 98000,
            "patient_fee_total": 0,
            "state": {"code": "received", "name": "Under behandling"},
            "status": "Under behandling",
            "approved_on": None,
            "paid_on": None,
        }
    ]


def test_state_names_and_statuses_in_english_with_accept_language_en(client, small_world):
    invoice = _invoice(small_world.clinic)
    invoice.claims.update(state=ClaimState.UNDER_REVIEW)
    _key, secret = key_for(small_world.clinic)
    english = call(client, "get", f"invoices/{invoice.pk}", secret, HTTP_ACCEPT_LANGUAGE="en").json()
    assert english["status"] == "In progress" and english["claims_status"] == "1 claim under review"
    claim = call(client, "get", f"invoices/{invoice.pk}/claims", secret, HTTP_ACCEPT_LANGUAGE="en").json()["results"][0]
    assert claim["state"] == {"code": "under_review", "name": "Under review"}
    assert claim["status"] == "The claim is under review"
    swedish = call(client, "get", f"invoices/{invoice.pk}/claims", secret).json()["results"][0]
    assert swedish["state"] == {"code": "under_review", "name": "Under granskning"}


# Paging ---------------------------------------------------------------------------------------------------------


def test_paging_with_the_cursor_lists_each_invoice_once_also_with_equal_times(client, small_world):
    now = timezone.now()
    # Three share one moment (as invoices of one file may): the id orders them.
    times = [now - datetime.timedelta(minutes=m) for m in (1, 2, 2, 2, 5, 6, 7)]
    made = [_invoice(small_world.clinic, received_at=t).pk for t in times]
    _key, secret = key_for(small_world.clinic)
    pages = _pages(client, secret)
    assert [len(page) for page in pages] == [3, 3, 1]
    listed = [pk for page in pages for pk in page]
    assert listed == sorted(made, key=lambda pk: (-times[made.index(pk)].timestamp(), -pk))


def test_an_invoice_arriving_between_pages_neither_shifts_nor_repeats_the_rest(client, small_world):
    made = [_invoice(small_world.clinic, received_at=timezone.now() - datetime.timedelta(hours=h)).pk for h in range(7)]
    _key, secret = key_for(small_world.clinic)
    arrived = []

    def new_invoice(pages_read):
        if pages_read == 1:
            arrived.append(_invoice(small_world.clinic).pk)

    listed = [pk for page in _pages(client, secret, before_next=new_invoice) for pk in page]
    assert listed == made  # newest first, none twice, none lost
    assert arrived and call(client, "get", "invoices?limit=1", secret).json()["results"][0]["id"] == arrived[0]


def test_the_next_link_keeps_the_filters(client, small_world):
    for _ in range(3):
        _invoice(small_world.clinic).claims.update(state=ClaimState.VOIDED, void_reason="Dubblett")
    _invoice(small_world.clinic)
    _key, secret = key_for(small_world.clinic)
    first = call(client, "get", "invoices?status=voided&limit=2", secret).json()
    assert "status=voided" in first["next"] and "limit=2" in first["next"]
    rest = call(client, "get", first["next"].split("/api/v1/", 1)[1], secret).json()
    assert len(first["results"]) + len(rest["results"]) == 3 and rest["next"] is None


def _queries(client, secret, path: str) -> tuple[int, dict]:
    with CaptureQueriesContext(connection) as captured:
        response = call(client, "get", path, secret)
    assert response.status_code == 200
    return len(captured), response.json()


def test_a_page_runs_the_same_queries_however_many_invoices_and_claims_it_shows(client, small_world):
    _key, secret = key_for(small_world.clinic)
    _invoice(small_world.clinic)
    _queries(client, secret, "invoices")  # the key's first call also notes when it was last used
    few, _body = _queries(client, secret, "invoices")
    for _ in range(5):
        _invoice(small_world.clinic, claims=3)
    assert _queries(client, secret, "invoices")[0] == few


def test_an_invoice_of_many_claims_is_one_row_of_figures_and_its_claims_come_a_page_at_a_time(client, small_world):
    """An invoice file's invoice may hold ten thousand claims: the list and the invoice answer its figures in the
    queries and size of an invoice of one claim, and its claims come `limit` at a time, logged per page."""
    _key, secret = key_for(small_world.clinic)
    small = _invoice(small_world.clinic)
    _queries(client, secret, "invoices")
    list_queries, _body = _queries(client, secret, "invoices")
    detail_queries, small_detail = _queries(client, secret, f"invoices/{small.pk}")
    large = _invoice(small_world.clinic, claims=12)
    assert _queries(client, secret, "invoices")[0] == list_queries
    queries, detail = _queries(client, secret, f"invoices/{large.pk}")
    assert queries == detail_queries and len(str(detail)) < len(str(small_detail)) + 100
    assert detail["claim_count"] == 12 and detail["amount"] == 12 * 98000
    assert not AccessLogEntry.objects.exists()  # figures show no personnummer

    pages, path = [], f"invoices/{large.pk}/claims?limit=5"
    while path:
        queries, body = _queries(client, secret, path)
        pages.append([claim["reference"] for claim in body["results"]])
        path = body["next"] and body["next"].split("/api/v1/", 1)[1]
        assert "limit=5" in (path or "limit=5")
    assert [len(page) for page in pages] == [5, 5, 2]
    assert [ref for page in pages for ref in page] == sorted(large.claims.values_list("reference", flat=True))
    # Each page logs its own patients only: twelve patients, each once.
    assert AccessLogEntry.objects.count() == 12
    assert AccessLogEntry.objects.values("personal_identity_number").distinct().count() == 12


def test_an_invoices_claims_page_runs_the_same_queries_however_many_claims_the_invoice_holds(client, small_world):
    _key, secret = key_for(small_world.clinic)
    few = _invoice(small_world.clinic, claims=2)
    many = _invoice(small_world.clinic, claims=9)
    _queries(client, secret, "invoices")
    queries, _body = _queries(client, secret, f"invoices/{few.pk}/claims?limit=2")
    assert _queries(client, secret, f"invoices/{many.pk}/claims?limit=2")[0] == queries


# Filters --------------------------------------------------------------------------------------------------------


def test_filters_by_number_claim_reference_vaar_referens_period_and_tab(client, small_world):
    today = timezone.localdate()
    old = _invoice(small_world.clinic, received_at=timezone.now() - datetime.timedelta(days=40), reference="555")
    paid = _invoice(small_world.clinic, reference="777")
    Invoice.objects.filter(pk=paid.pk).update(our_reference="VR-0042", payout_date=today)
    paid.claims.update(state=ClaimState.PAID, paid_on=today)
    credited = _invoice(small_world.clinic)
    CreditInvoice.objects.create(
        clinic=small_world.clinic,
        invoice=credited,
        reference=f"{credited.reference}_Kredit",
        total=100,
        created_by=credited.created_by,
    )
    _key, secret = key_for(small_world.clinic)

    def ids(query):
        response = call(client, "get", f"invoices?{query}", secret)
        assert response.status_code == 200, response.content
        return set(_ids(response.json()))

    assert ids("reference=555") == {old.pk}
    assert ids(f"claim_reference={paid.claims.get().reference.lower()}") == {paid.pk}
    assert ids("our_reference=vr-0042") == {paid.pk}
    recent = (today - datetime.timedelta(days=30)).isoformat()
    assert ids(f"from={recent}") == {paid.pk, credited.pk}
    assert ids(f"to={recent}") == {old.pk}
    assert ids(f"from={today}&to={today}&status=paid") == {paid.pk}
    assert ids("status=received") == {old.pk, credited.pk}
    assert ids("status=credits") == {credited.pk}
    body = call(client, "get", f"invoices/{paid.pk}", secret).json()
    assert (body["our_reference"], body["payout_date"]) == ("VR-0042", today.isoformat())
    claims = call(client, "get", f"invoices/{paid.pk}/claims", secret).json()["results"]
    assert claims[0]["paid_on"] == today.isoformat()
    assert call(client, "get", f"invoices/{credited.pk}", secret).json()["credits"][0]["amount"] == 100


@pytest.mark.parametrize(
    "query,pointer,code",
    [
        ("limit=0", "/limit", "min_value"),
        ("limit=101", "/limit", "max_value"),
        ("limit=many", "/limit", "invalid"),
        ("from=2026-13-01", "/from", "invalid"),
        ("from=1850-01-01", "/from", "out_of_range"),
        ("from=2026-02-01&to=2026-01-01", "/to", "period_reversed"),
        ("status=all", "/status", "invalid_choice"),
        ("cursor=abc", "/cursor", "invalid_cursor"),
        ("personnummer=194001011236", "/personnummer", "unknown_field"),
    ],
)
def test_a_wrong_parameter_answers_400_with_its_pointer(client, small_world, query, pointer, code):
    _key, secret = key_for(small_world.clinic)
    response = call(client, "get", f"invoices?{query}", secret)
    assert response.status_code == 400 and response["Content-Type"] == "application/problem+json"
    assert [(f["pointer"], f["code"]) for f in response.json()["faults"]] == [(pointer, code)]


def test_one_lists_cursor_is_no_cursor_of_the_other(client, world):
    run = world.vg_run
    _payment_for(world.clinic31, run.payout_date - datetime.timedelta(days=7))
    notice_page = call(client, "get", "payout-notices?limit=1", "tandportal-demo-31").json()
    assert notice_page["next_cursor"]
    answer = call(client, "get", f"invoices?cursor={notice_page['next_cursor']}", "tandportal-demo-31")
    assert answer.status_code == 400 and answer.json()["faults"][0]["code"] == "invalid_cursor"
    invoice = call(client, "get", "invoices?limit=1", "tandportal-demo-31").json()
    claims = f"invoices/{invoice['results'][0]['id']}/claims?cursor={invoice['next_cursor']}"
    answer = call(client, "get", claims, "tandportal-demo-31")
    assert answer.status_code == 400 and answer.json()["faults"][0]["code"] == "invalid_cursor"


@pytest.mark.parametrize(
    "query,pointer,code",
    [
        ("limit=0", "/limit", "min_value"),
        ("limit=101", "/limit", "max_value"),
        ("cursor=abc", "/cursor", "invalid_cursor"),
        ("from=2026-01-01", "/from", "unknown_field"),
    ],
)
def test_a_wrong_parameter_of_an_invoices_claims_answers_400(client, small_world, query, pointer, code):
    invoice = _invoice(small_world.clinic)
    _key, secret = key_for(small_world.clinic)
    response = call(client, "get", f"invoices/{invoice.pk}/claims?{query}", secret)
    assert response.status_code == 400 and response["Content-Type"] == "application/problem+json"
    assert [(f["pointer"], f["code"]) for f in response.json()["faults"]] == [(pointer, code)]


# Status codes, tenancy ------------------------------------------------------------------------------------------


def test_without_a_key_401_and_another_clinics_invoice_404(client, small_world):
    mine = _invoice(small_world.clinic)
    theirs = _invoice(small_world.other_clinic)
    _key, secret = key_for(small_world.clinic)
    for path in ("invoices", f"invoices/{mine.pk}", f"invoices/{mine.pk}/claims", "payout-notices"):
        refused = call(client, "get", path)
        assert refused.status_code == 401 and refused["Content-Type"] == "application/problem+json"
    assert call(client, "get", f"invoices/{mine.pk}", secret).status_code == 200
    for path in (
        f"invoices/{theirs.pk}",
        f"invoices/{theirs.pk}/claims",
        "invoices/99999999",
        "invoices/99999999/claims",
        f"invoices/{2**64}",
        f"invoices/{2**64}/claims",
    ):
        missing = call(client, "get", path, secret)
        assert (missing.status_code, missing["Content-Type"]) == (404, "application/problem+json"), path
    assert call(client, "post", "invoices", secret, {}).status_code == 405


def _payment_for(clinic, payout_date) -> PayoutPayment:
    """A payout to the clinic in a run whose file went to the bank, paying one new invoice of it."""
    run = PayoutRun.objects.create(
        region=clinic.region,
        payout_date=payout_date,
        created_by=clinic.memberships.first().user,
        file_downloaded_at=timezone.now(),
        state="paid",
    )
    payment = PayoutPayment.objects.create(
        run=run,
        clinic=clinic,
        payment_method=clinic.payment_method,
        account_number=clinic.account_number,
        gross=98000,
        net=98000,
    )
    invoice = _invoice(clinic)
    PayoutInvoice.objects.create(
        payment=payment, invoice=invoice, region=clinic.region, our_reference=f"T{payment.pk}", amount=98000
    )
    return payment


def test_clinic_31s_key_gets_404_for_every_invoice_and_notice_of_32_and_2001(client, world):
    run = world.vg_run
    foreign = [run.payments.get(clinic=world.clinic32), _payment_for(world.clinic2001, datetime.date(2026, 3, 2))]
    foreign_invoices = [p.invoices.first().invoice for p in foreign] + [_invoice(world.clinic2001)]
    paths = [f"invoices/{invoice.pk}{part}" for invoice in foreign_invoices for part in ("", "/claims")]
    for payment in foreign:
        paths += [f"payout-notices/{payment.pk}", f"payout-notices/{payment.pk}.pdf"]
    for path in paths:
        answer = call(client, "get", path, "tandportal-demo-31")
        assert (answer.status_code, answer["Content-Type"]) == (404, "application/problem+json"), path
    own = run.payments.get(clinic=world.clinic31)
    for path in (f"invoices/{own.invoices.first().invoice_id}", f"payout-notices/{own.pk}.pdf"):
        assert call(client, "get", path, "tandportal-demo-31").status_code == 200, path
    listed = call(client, "get", "payout-notices", "tandportal-demo-31").json()
    assert own.pk in _ids(listed) and not set(_ids(listed)) & {p.pk for p in foreign}
    invoices = set(_ids(call(client, "get", "invoices?limit=100", "tandportal-demo-31").json()))
    assert invoices and not invoices & {i.pk for i in foreign_invoices}


# Payout notices -------------------------------------------------------------------------------------------------


def test_the_notice_list_shows_payouts_sent_to_the_bank_with_amounts_and_vaar_referens(client, small_world):
    clinic = small_world.clinic
    small_world.biller
    early = _payment_for(clinic, datetime.date(2026, 1, 5))
    late = _payment_for(clinic, datetime.date(2026, 2, 5))
    unsent = _payment_for(clinic, datetime.date(2026, 3, 5))
    PayoutRun.objects.filter(pk=unsent.run_id).update(file_downloaded_at=None)
    _key, secret = key_for(clinic)
    body = call(client, "get", "payout-notices", secret).json()
    assert _ids(body) == [late.pk, early.pk]
    row = body["results"][0]
    assert row["payout_date"] == "2026-02-05" and (row["gross"], row["set_off"], row["net"]) == (98000, 0, 98000)
    assert row["our_references"] == [f"T{late.pk}"]
    assert row["invoices"][0]["our_reference"] == f"T{late.pk}"
    assert row["links"]["pdf"].endswith(f"/api/v1/payout-notices/{late.pk}.pdf")
    assert _ids(call(client, "get", "payout-notices?from=2026-01-06", secret).json()) == [late.pk]
    assert _ids(call(client, "get", "payout-notices?to=2026-01-05", secret).json()) == [early.pk]
    first = call(client, "get", "payout-notices?limit=1", secret).json()
    second = call(client, "get", f"payout-notices?limit=1&cursor={first['next_cursor']}", secret).json()
    assert (_ids(first), _ids(second), second["next"]) == ([late.pk], [early.pk], None)
    # An invoice links the notice that paid it.
    invoice = late.invoices.get().invoice
    paid_by = call(client, "get", f"invoices/{invoice.pk}", secret).json()["payout_notices"]
    assert [(n["id"], n["our_reference"]) for n in paid_by] == [(late.pk, f"T{late.pk}")]
    assert call(client, "get", f"payout-notices/{unsent.pk}", secret).status_code == 404


def test_the_notice_as_json_has_the_rows_notice_build_gives(client, world):
    payment = world.vg_run.payments.get(clinic=world.clinic31)
    notice = notices.notice_build(payment)
    body = call(client, "get", f"payout-notices/{payment.pk}", "tandportal-demo-31").json()
    assert body["title"] == notice.title and body["payout_date"] == payment.run.payout_date.isoformat()
    assert body["invoices"] == [vars(row) for row in notice.invoices] and body["invoices"]
    assert body["claims"] == [vars(row) for row in notice.claims] and body["claims"]
    assert body["set_offs"] == [vars(row) for row in notice.set_offs]
    assert (body["gross"], body["set_off"], body["net"]) == (payment.gross, payment.set_off, payment.net)
    assert [fact["label"] for fact in body["facts"]][:2] == ["Region", "Klinik"]
    english = call(client, "get", f"payout-notices/{payment.pk}", "tandportal-demo-31", HTTP_ACCEPT_LANGUAGE="en")
    assert english.json()["title"].startswith("Payout notice")


def _pdf_text(content: bytes) -> str:
    streams = re.findall(rb"stream\r?\n(.*?)\r?\nendstream", content, re.S)
    texts = []
    for stream in streams:
        try:
            texts.append(zlib.decompress(stream).decode("latin-1"))
        except zlib.error:
            texts.append(stream.decode("latin-1"))
    return "".join(texts)


@pytest.mark.parametrize("accept", ["application/pdf", "*/*", None])
def test_the_notice_as_pdf_is_the_webs_pdf_for_that_payment(client, world, accept):
    run = world.vg_run
    payment = run.payments.get(clinic=world.clinic31)
    headers = {"HTTP_ACCEPT": accept} if accept else {}
    response = call(client, "get", f"payout-notices/{payment.pk}.pdf", "tandportal-demo-31", **headers)
    assert (response.status_code, response["Content-Type"]) == (200, "application/pdf")
    assert response.content.startswith(b"%PDF")
    name = notices.notice_file_name(payment, "pdf")
    assert name == f"utbetalningsbesked-31-{run.payout_date:%Y%m%d}.pdf"
    assert response["Content-Disposition"] == f'attachment; filename="{name}"'
    text = _pdf_text(response.content)
    assert payment.invoices.first().our_reference in text
    other = run.payments.get(clinic=world.clinic32).invoices.first().our_reference
    assert other not in text


def test_a_missing_pdf_asked_for_as_pdf_is_still_a_problem(client, small_world):
    _key, secret = key_for(small_world.clinic)
    missing = call(client, "get", "payout-notices/99999999.pdf", secret, HTTP_ACCEPT="application/pdf")
    assert (missing.status_code, missing["Content-Type"]) == (404, "application/problem+json")
    assert missing.json()["status"] == 404


# The access log -------------------------------------------------------------------------------------------------


def test_a_page_of_claims_logs_each_patient_on_it_once_under_the_keys_name(client, small_world):
    first = _invoice(small_world.clinic, claims=3, pins=TEST_PINS[:3])
    _invoice(small_world.clinic, pins=TEST_PINS[3:4])
    key, secret = key_for(small_world.clinic, name="Journal Väst")
    call(client, "get", "invoices", secret)
    call(client, "get", f"invoices/{first.pk}", secret)
    assert not AccessLogEntry.objects.exists()  # the invoices' figures show nobody
    page = call(client, "get", f"invoices/{first.pk}/claims?limit=2", secret).json()
    shown = sorted(claim["personnummer"] for claim in page["results"])
    entries = AccessLogEntry.objects.order_by("personal_identity_number")
    assert [e.personal_identity_number for e in entries] == shown and len(shown) == 2
    assert {(e.user_id, e.clinic_id, e.role, e.path) for e in entries} == {
        (key.user_id, small_world.clinic.pk, "biller", f"/api/v1/invoices/{first.pk}/claims")
    }
    assert entries[0].shown == f"API: räkningar i faktura {first.reference} (GET /invoices/{{id}}/claims)"
    last = entries.order_by("-id")[0].id
    call(client, "get", page["next"].split("/api/v1/", 1)[1], secret)
    rest = AccessLogEntry.objects.filter(id__gt=last).values_list("personal_identity_number", flat=True)
    assert sorted([*shown, *rest]) == sorted(TEST_PINS[:3])


def test_answers_without_personnummer_are_not_logged(client, small_world):
    _invoice(small_world.other_clinic, pins=TEST_PINS[:1])
    small_world.biller
    payment = _payment_for(small_world.clinic, datetime.date(2026, 1, 5))
    _key, secret = key_for(small_world.clinic)
    Invoice.objects.filter(pk=payment.invoices.get().invoice_id).update(reference="paid")
    last = AccessLogEntry.objects.order_by("-id").values_list("id", flat=True).first() or 0
    assert call(client, "get", "invoices?reference=none", secret).json()["results"] == []
    invoice_id = payment.invoices.get().invoice_id
    for path in (
        "invoices",
        f"invoices/{invoice_id}",
        "payout-notices",
        f"payout-notices/{payment.pk}",
        f"payout-notices/{payment.pk}.pdf",
    ):
        assert call(client, "get", path, secret).status_code == 200
    assert not AccessLogEntry.objects.filter(id__gt=last).exists()


# The schema -----------------------------------------------------------------------------------------------------


def test_the_schema_documents_the_operations_bilingually_and_the_pdf_as_application_pdf(client):
    schema = client.get("/api/v1/openapi.json").json()
    paths = schema["paths"]
    pdf = paths["/api/v1/payout-notices/{payment_pk}.pdf"]["get"]
    assert set(pdf["responses"]["200"]["content"]) == {"application/pdf"}
    assert set(pdf["responses"]["404"]["content"]) == {"application/problem+json"}
    for path in (
        "/api/v1/invoices",
        "/api/v1/invoices/{invoice_pk}",
        "/api/v1/invoices/{invoice_pk}/claims",
        "/api/v1/payout-notices",
    ):
        operation = paths[path]["get"]
        assert " / " in operation["summary"] and "\n\n" in operation["description"], path
    parameters = {p["name"] for p in paths["/api/v1/invoices"]["get"]["parameters"]}
    assert {"cursor", "limit", "from", "to", "status", "reference", "claim_reference", "our_reference"} <= parameters
    claims = {p["name"] for p in paths["/api/v1/invoices/{invoice_pk}/claims"]["get"]["parameters"]}
    assert claims == {"invoice_pk", "cursor", "limit"}


def test_answers_with_content_match_the_schema(client, world):
    """Schemathesis' world has no invoices or payouts; the demo's clinic 31 has both."""
    schema = client.get("/api/v1/openapi.json").json()
    payment = world.vg_run.payments.get(clinic=world.clinic31)
    invoice = payment.invoices.first().invoice
    CreditInvoice.objects.create(
        clinic=world.clinic31, invoice=invoice, reference="K-1", total=100, created_by=world.biller
    )
    for path, template in [
        ("invoices?limit=2", "/api/v1/invoices"),
        (f"invoices/{invoice.pk}", "/api/v1/invoices/{invoice_pk}"),
        (f"invoices/{invoice.pk}/claims", "/api/v1/invoices/{invoice_pk}/claims"),
        ("payout-notices", "/api/v1/payout-notices"),
        (f"payout-notices/{payment.pk}", "/api/v1/payout-notices/{payment_pk}"),
    ]:
        body = call(client, "get", path, "tandportal-demo-31").json()
        reference = schema["paths"][template]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        validator = jsonschema.Draft202012Validator({**reference, "components": schema["components"]})
        errors = [error.message for error in validator.iter_errors(body)]
        assert not errors, (path, errors)
    assert body["invoices"] and call(client, "get", f"invoices/{invoice.pk}", "tandportal-demo-31").json()["credits"]


def test_parameter_faults_in_english_with_accept_language_en(client, small_world):
    _key, secret = key_for(small_world.clinic)
    faults = call(client, "get", "invoices?limit=0&status=x&cursor=y", secret, HTTP_ACCEPT_LANGUAGE="en").json()
    assert {f["pointer"]: f["message"] for f in faults["faults"]} == {
        "/limit": "Enter at least 1.",
        "/status": "Choose received, paid, credits or voided.",
    }
    cursor = call(client, "get", "invoices?cursor=y", secret, HTTP_ACCEPT_LANGUAGE="en").json()
    assert cursor["faults"][0]["message"].startswith("The cursor is unknown")
