"""The API's resources and rules: eligibility checks, tariffs, problem+json, limits, windows, tenancy, logs."""

import datetime
import json

import pytest
from django.test import Client
from django.utils import timezone
from drf_spectacular.validation import validate_schema

from billing.api.authentication import ApiKeyRateThrottle
from claims.selectors import patient_paid_in_year
from claims.validation import last_billing_day
from clinics import services
from clinics.models import ApiKey, SupportForm
from portal.models import AccessLogEntry, ServiceWindow
from tests.eligibility.factories import TEST_PINS, CertificateFactory, PatientFactory, approved_prior_assessment

from .helpers import call, key_for

pytestmark = pytest.mark.django_db

PIN = TEST_PINS[0]


def _check(client, secret, pin=PIN, day=None, **headers):
    day = day or timezone.localdate()
    return call(client, "post", "eligibility-checks", secret, {"personnummer": pin, "date": day.isoformat()}, **headers)


@pytest.fixture
def certified(small_world):
    """A patient with an N certificate of the world's region."""
    patient = PatientFactory(personal_identity_number=PIN)
    return CertificateFactory(
        patient=patient, region=small_world.region, support_form=SupportForm.N, valid_from=datetime.date(2020, 1, 1)
    )


def test_the_key_is_read_with_its_clinic_region_and_user_as_the_orm_reads_them(small_world, django_assert_num_queries):
    key, secret = key_for(small_world.clinic)
    ApiKey.objects.filter(pk=key.pk).update(webhook_url="https://journal.example/hook", webhook_kinds=["claim.paid"])
    orm = ApiKey.objects.select_related("clinic__region", "user").get(pk=key.pk)
    read = services.api_key_authenticate(secret)
    with django_assert_num_queries(0):
        pairs = [(read, orm), (read.clinic, orm.clinic), (read.clinic.region, orm.clinic.region), (read.user, orm.user)]
    for got, expected in pairs:
        fields = type(expected)._meta.concrete_fields
        assert [getattr(got, f.attname) for f in fields if f.name != "last_used_at"] == [
            getattr(expected, f.attname) for f in fields if f.name != "last_used_at"
        ]
        assert (got._state.adding, got._state.db, got.get_deferred_fields()) == (False, "default", set())
    assert read.webhook_kinds == ["claim.paid"]


# Eligibility ---------------------------------------------------------------------------------------------------


def test_an_eligibility_check_answers_as_sok_person(client, small_world, certified):
    _key, secret = key_for(small_world.clinic)
    today = timezone.localdate()
    response = _check(client, secret)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["patient_known"] is True
    assert [c["number"] for c in body["certificates"]] == [certified.number]
    forms = {f["support_form"]: f for f in body["support_forms"]}
    assert forms["N"]["allowed"] is True and forms["N"]["certificate_number"] == certified.number
    assert forms["F"]["allowed"] is False and forms["F"]["reason"]
    assert forms["S"]["requires_prior_assessment"] is True
    assert body["free_card"] is None and body["prior_assessments"] == []
    assert body["paid_this_year"] == patient_paid_in_year(
        region=small_world.region, personal_identity_number=PIN, year=today.year
    )
    assert body["billing_deadline"] == last_billing_day(region=small_world.region, visit_date=today).isoformat()
    assert "efter behandlings" in body["billing_deadline_rule"]
    assert response["Cache-Control"] == "no-store, private"


def test_a_personnummer_with_a_dash_and_ten_digits_is_taken(client, small_world, certified):
    _key, secret = key_for(small_world.clinic)
    ten = f"{PIN[2:8]}-{PIN[8:]}"
    assert _check(client, secret, pin=ten).json()["certificates"][0]["number"] == certified.number


def test_an_approved_prior_assessment_shows_approved_billed_and_left_only_to_its_clinics_key(
    client, small_world, certified
):
    small_world.tariff()
    assessment = approved_prior_assessment(small_world, pin=PIN)
    _key, secret = key_for(small_world.clinic)
    _other, other_secret = key_for(small_world.other_clinic)
    mine = _check(client, secret).json()["prior_assessments"]
    assert mine == [
        {
            "number": assessment.number,
            "support_form": "S",
            "valid_until": assessment.valid_until and assessment.valid_until.isoformat(),
            "approved": 243000,
            "billed": 0,
            "left": 243000,
        }
    ]
    assert _check(client, other_secret).json()["prior_assessments"] == []


def test_another_regions_key_does_not_see_the_certificate(client, small_world, certified):
    _key, secret = key_for(small_world.other_region_clinic)
    body = _check(client, secret).json()
    assert body["certificates"] == []
    assert {f["support_form"]: f["allowed"] for f in body["support_forms"]}["N"] is False


def test_each_check_is_in_the_access_log_with_the_keys_name(client, small_world, certified):
    key, secret = key_for(small_world.clinic, name="Journal Öst")
    _check(client, secret)
    entry = AccessLogEntry.objects.get(personal_identity_number=PIN)
    assert entry.user == key.user and "Journal Öst" in entry.user.name
    assert entry.clinic == small_world.clinic and entry.region == small_world.region
    assert entry.role == "biller" and entry.path == "/api/v1/eligibility-checks"


def test_a_refused_body_is_not_logged(client, small_world):
    _key, secret = key_for(small_world.clinic)
    call(client, "post", "eligibility-checks", secret, {"personnummer": PIN})
    assert not AccessLogEntry.objects.exists()


# Problems ------------------------------------------------------------------------------------------------------


def test_missing_fields_answer_400_problem_json_with_pointers(client, small_world):
    _key, secret = key_for(small_world.clinic)
    response = call(client, "post", "eligibility-checks", secret, {})
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"].endswith("/validation") and problem["status"] == 400 and problem["title"]
    assert {(f["pointer"], f["code"]) for f in problem["faults"]} == {
        ("/personnummer", "required"),
        ("/date", "required"),
    }
    assert all(f["message"] for f in problem["faults"])


def test_an_unknown_field_is_refused_with_its_pointer(client, small_world):
    _key, secret = key_for(small_world.clinic)
    body = {"personnummer": PIN, "date": "2026-01-15", "datum": "2026-01-15"}
    problem = call(client, "post", "eligibility-checks", secret, body).json()
    assert problem["faults"] == [{"code": "unknown_field", "message": "Okänt fält.", "pointer": "/datum"}]


def test_faults_in_english_with_accept_language_en(client, small_world):
    _key, secret = key_for(small_world.clinic)
    body = {"personnummer": PIN, "date": "2026-01-15", "datum": "x"}
    response = call(client, "post", "eligibility-checks", secret, body, HTTP_ACCEPT_LANGUAGE="en-GB,en;q=0.9")
    assert response.json()["faults"][0]["message"] == "Unknown field."
    assert response.json()["title"] == "The request has errors"
    assert response["Content-Language"] == "en"
    swedish = call(client, "post", "eligibility-checks", secret, body)
    assert swedish.json()["faults"][0]["message"] == "Okänt fält." and swedish["Content-Language"] == "sv"


@pytest.mark.parametrize(
    "body,pointer,code",
    [
        ({"personnummer": "19400101-1235", "date": "2026-01-15"}, "/personnummer", "invalid_personnummer"),
        ({"personnummer": PIN, "date": "15/1 2026"}, "/date", "invalid"),
        ({"personnummer": PIN, "date": "1850-01-01"}, "/date", "out_of_range"),
        ({"personnummer": 194001011236, "date": "2026-01-15"}, "/personnummer", "invalid_personnummer"),
        ({"personnummer": ["x"], "date": "2026-01-15"}, "/personnummer", "invalid"),
    ],
)
def test_a_wrong_value_answers_400_with_the_fields_pointer(client, small_world, body, pointer, code):
    _key, secret = key_for(small_world.clinic)
    problem = call(client, "post", "eligibility-checks", secret, body).json()
    assert problem["status"] == 400
    assert [(f["pointer"], f["code"]) for f in problem["faults"]] == [(pointer, code)]


def test_malformed_json_and_a_non_object_answer_400(client, small_world):
    _key, secret = key_for(small_world.clinic)
    broken = call(client, "post", "eligibility-checks", secret, '{"personnummer": ')
    assert broken.status_code == 400 and broken.json()["faults"][0]["code"] == "parse_error"
    listed = call(client, "post", "eligibility-checks", secret, json.dumps([1, 2]))
    assert listed.status_code == 400 and listed["Content-Type"] == "application/problem+json"


def test_a_form_body_answers_415_and_a_wrong_method_405(client, small_world):
    _key, secret = key_for(small_world.clinic)
    form = client.post("/api/v1/eligibility-checks", {"personnummer": PIN}, HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert form.status_code == 415 and form.json()["status"] == 415
    assert call(client, "get", "eligibility-checks", secret).status_code == 405
    assert call(client, "delete", "tariffs/current", secret).status_code == 405


def test_the_request_id_is_echoed_or_made(client, small_world):
    _key, secret = key_for(small_world.clinic)
    small_world.tariff()
    given = call(client, "get", "tariffs/current", secret, HTTP_X_REQUEST_ID="journal-42.a")
    assert given["X-Request-ID"] == "journal-42.a"
    made = call(client, "get", "tariffs/current", secret)
    assert len(made["X-Request-ID"]) == 32
    refused = call(client, "get", "tariffs/current", "tp_wrong", HTTP_X_REQUEST_ID="abc\u00e5 <x>")
    assert refused.status_code == 401 and len(refused["X-Request-ID"]) == 32


def test_too_many_calls_answer_429_with_retry_after_per_key(client, small_world, monkeypatch):
    monkeypatch.setattr(ApiKeyRateThrottle, "THROTTLE_RATES", {"api_key": "2/min"})
    small_world.tariff()
    _key, secret = key_for(small_world.clinic)
    _other, other_secret = key_for(small_world.clinic, name="Annat system")
    assert [call(client, "get", "tariffs/current", secret).status_code for _ in range(2)] == [200, 200]
    limited = call(client, "get", "tariffs/current", secret)
    assert limited.status_code == 429 and limited["Content-Type"] == "application/problem+json"
    assert 1 <= int(limited["Retry-After"]) <= 60
    assert call(client, "get", "tariffs/current", other_secret).status_code == 200


def test_a_service_window_of_the_keys_region_answers_503_with_retry_after(client, small_world):
    small_world.tariff()
    small_world.tariff(region=small_world.other_region)
    now = timezone.now()
    ServiceWindow.objects.create(
        region=small_world.region,
        starts_at=now - datetime.timedelta(minutes=5),
        ends_at=now + datetime.timedelta(minutes=30),
        message="Uppgradering",
        created_by=small_world.region_admin,
    )
    _key, secret = key_for(small_world.clinic)
    _other, other_secret = key_for(small_world.other_region_clinic)
    closed = call(client, "get", "tariffs/current", secret)
    assert closed.status_code == 503 and closed["Content-Type"] == "application/problem+json"
    assert closed.json()["detail"] == "Uppgradering"
    assert 1700 <= int(closed["Retry-After"]) <= 1800
    assert call(client, "get", "tariffs/current", other_secret).status_code == 200


def test_a_service_window_of_the_whole_portal_closes_the_api_for_every_key(client, small_world):
    now = timezone.now()
    ServiceWindow.objects.create(
        starts_at=now - datetime.timedelta(minutes=5),
        ends_at=now + datetime.timedelta(minutes=10),
        message="Hela portalen",
        created_by=small_world.region_admin,
    )
    assert call(client, "get", "tariffs/current", "tp_any").status_code == 503


# Tariffs -------------------------------------------------------------------------------------------------------


def test_the_current_tariff_lists_codes_prices_in_ore_and_rules(client, small_world):
    version = small_world.tariff()
    _key, secret = key_for(small_world.clinic)
    body = call(client, "get", "tariffs/current", secret).json()
    assert body["name"] == version.name and body["valid_from"] == version.valid_from.isoformat()
    rows = {row.code: row for row in version.rows.all()}
    assert {code["code"] for code in body["codes"]} == set(rows)
    for code in body["codes"]:
        row = rows[code["code"]]
        assert code["price"] == row.price and code["entered_price"] == (row.price is None)
        assert code["requires"] == row.requires and code["repeatable"] == row.repeatable
        assert code["requires_prior_assessment"] == row.requires_prior_assessment


def test_a_years_tariffs_and_none_for_a_year_without(client, small_world):
    today = timezone.localdate()
    version = small_world.tariff()
    small_world.tariff(region=small_world.other_region)
    _key, secret = key_for(small_world.clinic)
    body = call(client, "get", f"tariffs/{today.year}", secret).json()
    assert body["year"] == today.year and [v["name"] for v in body["versions"]] == [version.name]
    missing = call(client, "get", "tariffs/1990", secret)
    assert missing.status_code == 404 and missing["Content-Type"] == "application/problem+json"
    assert call(client, "get", "tariffs/3000", secret).status_code == 404
    # A year no calendar has is the same problem, not the router's HTML page.
    for year in ("-137", "28404963927"):
        answer = call(client, "get", f"tariffs/{year}", secret)
        assert (answer.status_code, answer["Content-Type"]) == (404, "application/problem+json"), year


def test_a_region_without_a_tariff_answers_404(client, small_world):
    _key, secret = key_for(small_world.clinic)
    assert call(client, "get", "tariffs/current", secret).status_code == 404


# The schema and its pages --------------------------------------------------------------------------------------


def test_the_openapi_document_is_served_and_valid(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"] == "3.1.0"
    validate_schema(schema)
    assert {"/api/v1/eligibility-checks", "/api/v1/tariffs/current", "/api/v1/tariffs/{year}"} <= set(schema["paths"])
    assert "Kontrollera rätt till stöd" in json.dumps(schema, ensure_ascii=False)
    assert "Check eligibility" in json.dumps(schema)


@pytest.mark.parametrize("path", ["/api/v1/docs/", "/dokumentation/api/"])
def test_the_documentation_pages_answer_without_inline_script(client, path):
    response = client.get(path)
    assert response.status_code == 200
    html = response.content.decode()
    assert "<script>" not in html and "<script >" not in html
    assert "<style" not in html
    for src in __import__("re").findall(r'<script src="([^"]+)"', html):
        assert src.startswith("/"), src  # nothing from another host


def test_the_swagger_start_script_is_served_as_javascript(client):
    response = client.get("/api/v1/docs/?script=")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/javascript")
    assert "/api/v1/openapi.json" in response.content.decode()


def test_messages_are_the_portals_words_in_swedish_and_english(client, small_world):
    _key, secret = key_for(small_world.clinic)
    swedish = call(client, "post", "eligibility-checks", secret, {"date": "2026-01-15"}).json()
    assert swedish["faults"] == [
        {"code": "required", "message": "Detta fält måste fyllas i.", "pointer": "/personnummer"}
    ]
    english = call(client, "post", "eligibility-checks", secret, {"date": "x"}, HTTP_ACCEPT_LANGUAGE="en").json()
    assert {f["message"] for f in english["faults"]} == {"This field is required.", "Enter the date as YYYY-MM-DD."}
    anonymous = call(client, "get", "tariffs/current")
    assert anonymous.json()["detail"] == "Anropet saknar API-nyckel: skicka Authorization: Bearer <nyckel>."
    assert "API key" in call(client, "get", "tariffs/current", HTTP_ACCEPT_LANGUAGE="en").json()["detail"]


def test_a_call_needs_no_csrf_token_and_sets_no_cookie(small_world):
    small_world.tariff()
    _key, secret = key_for(small_world.clinic)
    client = Client(enforce_csrf_checks=True)
    response = call(client, "post", "eligibility-checks", secret, {"personnummer": PIN, "date": "2026-01-15"})
    assert response.status_code == 200
    assert not response.cookies
    assert "sessionid" not in client.cookies
