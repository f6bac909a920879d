"""Prior assessments over the API: a request (JSON part and attachments) checked as the web form checks it, faults
as data with pointers, the decision with godkänt · fakturerat · kvar, the clinic's list, a komplettering, the access
log, tenancy and body limits. On the demo's VG tariff (codes 401 with tooth, 101, 901 with an entered price)."""

import json
from unittest import mock

import pytest
from django.core.files.storage import FileSystemStorage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from claims.selectors import prior_assessment_use
from eligibility import services as eligibility_services
from eligibility.models import PriorAssessment, PriorAssessmentAttachment, PriorAssessmentState
from portal.models import AccessLogEntry, AuditEvent
from tests.eligibility.factories import PNG
from tests.eligibility.test_views import EXECUTABLE, NEW_PIN

from .helpers import call

pytestmark = pytest.mark.django_db

KEY31, KEY2001 = "tandportal-demo-31", "tandportal-demo-2001"
MB = 1024 * 1024


@pytest.fixture(name="private_files")
def _private_files(tmp_path):
    """Attachments go to a folder of the test's own (as tests/eligibility/test_views.py's fixture)."""
    field = PriorAssessmentAttachment._meta.get_field("file")
    original = field.storage
    field.storage = FileSystemStorage(location=tmp_path)
    yield tmp_path
    field.storage = original


def _request(**changes) -> dict:
    body = {
        "personnummer": NEW_PIN,
        "support_form": "S",
        "patient_category": "S3",
        "justification": "Extraktion av 36 inför strålbehandling.",
        "lines": [{"code": "401", "tooth": "36"}, {"code": "101"}],
    }
    return {**body, **changes}


def _post(client, secret=KEY31, body=None, attachments=(), **headers):
    data = {"request": json.dumps(body if body is not None else _request())}
    if attachments:
        data["attachments"] = list(attachments)
    return client.post("/api/v1/prior-assessments", data, HTTP_AUTHORIZATION=f"Bearer {secret}", **headers)


def _mine(world) -> PriorAssessment:
    return PriorAssessment.objects.get(clinic=world.clinic31, patient__personal_identity_number=NEW_PIN)


# Requesting ------------------------------------------------------------------------------------------------------


def test_a_request_is_stored_with_its_attachment_and_answers_201(client, world, private_files):
    png = SimpleUploadedFile("röntgen 36.png", PNG, content_type="image/png")
    response = _post(client, attachments=[png])
    assert response.status_code == 201, response.content
    body = response.json()
    assessment = _mine(world)
    assert response["Location"] == f"/api/v1/prior-assessments/{assessment.pk}" == body["url"]
    assert (body["id"], body["number"], body["state"]) == (assessment.pk, assessment.number, "submitted")
    assert body["personnummer"] == NEW_PIN and body["patient_category"] == "S3"
    assert body["planned_date"] == timezone.localdate().isoformat()
    # Prices from the tariff where fixed, as the web form stores them.
    assert [(line["code"], line["estimated_price"]) for line in body["lines"]] == [("401", 122000), ("101", 98000)]
    assert body["decision"] is None and body["uses"] is None
    assert [(a["name"], a["size"]) for a in body["attachments"]] == [("röntgen 36.png", len(PNG))]
    assert AuditEvent.objects.filter(action="eligibility.prior_assessment.submitted", object_id=str(assessment.pk))
    assert assessment.created_by.api_key.clinic == world.clinic31


def test_an_entered_price_in_ore_is_kept(client, world):
    body = _request(lines=[{"code": "401", "tooth": "36"}, {"code": "901", "estimated_price": 230050}])
    assert _post(client, body=body).status_code == 201
    assert list(_mine(world).lines.values_list("code", "estimated_price")) == [("401", 122000), ("901", 230050)]


@pytest.mark.parametrize(
    ("line", "code", "pointer"),
    [
        ({"code": "999"}, "code_unknown", "/request/lines/1/code"),
        ({"code": "101", "tooth": "36"}, None, "/request/lines/1/tooth"),
        ({"code": "901"}, None, "/request/lines/1/estimated_price"),
    ],
)
def test_the_tariffs_faults_answer_422_with_codes_and_pointers(client, world, line, code, pointer):
    response = _post(client, body=_request(lines=[{"code": "401", "tooth": "36"}, line]))
    assert response.status_code == 422 and response["Content-Type"] == "application/problem+json"
    faults = response.json()["faults"]
    assert [f["pointer"] for f in faults] == [pointer]
    assert faults[0]["message"] and (code is None or faults[0]["code"] == code)
    assert not PriorAssessment.objects.filter(patient__personal_identity_number=NEW_PIN).exists()


def test_the_same_faults_as_the_web_form_in_its_words(client, world):
    body = _request(patient_category="", lines=[{"code": "401"}])
    faults = _post(client, body=body).json()["faults"]
    assert {(f["pointer"], f["message"]) for f in faults} == {
        ("/request/patient_category", "Ange patientkategori för S-tandvård."),
        ("/request/lines/0/tooth", "Åtgärd 401 kräver tand."),
    }
    english = _post(client, body=body, HTTP_ACCEPT_LANGUAGE="en").json()
    assert "Enter the patient category for S dental care." in {f["message"] for f in english["faults"]}
    assert english["title"] == "The request cannot be carried out as it is"


def test_a_refused_attachment_answers_422_pointing_at_it_and_stores_nothing(client, world, private_files):
    files = [
        SimpleUploadedFile("röntgen.png", PNG, content_type="image/png"),
        SimpleUploadedFile("program.pdf", EXECUTABLE, content_type="application/pdf"),
    ]
    response = _post(client, attachments=files)
    assert response.status_code == 422
    assert [(f["code"], f["pointer"]) for f in response.json()["faults"]] == [("executable", "/attachments/1")]
    assert not PriorAssessment.objects.filter(patient__personal_identity_number=NEW_PIN).exists()
    assert not list(private_files.rglob("*.png"))


@pytest.mark.parametrize(
    ("data", "pointer", "code"),
    [
        ({}, "/request", "required"),
        ({"request": "{"}, "/request", "invalid"),
        ({"request": json.dumps(_request(lines=[]))}, "/request/lines", "min_length"),
        ({"request": json.dumps(_request(support_form="X"))}, "/request/support_form", "invalid_choice"),
        ({"request": json.dumps(_request(planned_date="1850-01-01"))}, "/request/planned_date", "out_of_range"),
        ({"request": json.dumps(_request(lines=[{"code": "401", "pris": 1}]))}, "/request/lines/0/pris", None),
        ({"request": json.dumps(_request()), "extra": "x"}, "/extra", "unknown_field"),
    ],
)
def test_a_malformed_request_answers_400_with_the_pointer(client, world, data, pointer, code):
    response = client.post("/api/v1/prior-assessments", data, HTTP_AUTHORIZATION=f"Bearer {KEY31}")
    assert response.status_code == 400, response.content
    faults = response.json()["faults"]
    assert pointer in [f["pointer"] for f in faults]
    assert code is None or code in [f["code"] for f in faults if f["pointer"] == pointer]


def test_json_answers_415_and_no_key_401(client, world):
    assert call(client, "post", "prior-assessments", KEY31, _request()).status_code == 415
    assert _post(client, secret="tp_nothing").status_code == 401


# Reading ---------------------------------------------------------------------------------------------------------


def _approved(world) -> PriorAssessment:
    return world.clinic31.prior_assessments.filter(state=PriorAssessmentState.APPROVED).order_by("pk").first()


def test_the_decision_with_approved_billed_and_left(client, world):
    assessment = _approved(world)
    response = call(client, "get", f"prior-assessments/{assessment.pk}", KEY31)
    assert response.status_code == 200
    body = response.json()
    use = prior_assessment_use(assessment)
    assert body["uses"] == {"approved": use.approved, "billed": use.billed, "left": use.left}
    assert body["decision"]["valid_until"] == assessment.valid_until.isoformat()
    assert body["decision"]["message"] == assessment.decision_reason
    assert body["decision"]["approved_total"] == assessment.approved_total
    assert all(line["approved"] is True and line["approved_amount"] > 0 for line in body["lines"])
    entry = AccessLogEntry.objects.filter(path=f"/api/v1/prior-assessments/{assessment.pk}").get()
    assert entry.personal_identity_number == assessment.patient.personal_identity_number
    assert entry.clinic == world.clinic31 and entry.user.api_key.name


def test_the_list_pages_the_clinics_requests_newest_first_and_logs_them(client, world):
    mine = list(PriorAssessment.objects.of_clinic(world.clinic31).order_by("-id").values_list("pk", flat=True))
    assert len(mine) >= 1
    seen, path = [], "prior-assessments?limit=1"
    while path:
        page = call(client, "get", path, KEY31).json()
        seen += [item["id"] for item in page["results"]]
        path = page["next"] and page["next"].removeprefix("/api/v1/")
    assert seen == mine
    assert AccessLogEntry.objects.filter(shown="API: förhandsbedömningar", clinic=world.clinic31).exists()
    approved = call(client, "get", "prior-assessments?state=approved", KEY31).json()["results"]
    assert approved and {item["state"] for item in approved} == {"approved"}
    assert call(client, "get", "prior-assessments?state=nej", KEY31).status_code == 400
    others = call(client, "get", "prior-assessments", KEY2001).json()["results"]
    assert not set(mine) & {item["id"] for item in others}


def test_another_clinics_request_is_404_for_every_operation_and_not_logged(client, world):
    assessment = _approved(world)
    for method, path in (
        ("get", f"prior-assessments/{assessment.pk}"),
        ("post", f"prior-assessments/{assessment.pk}/completions"),
    ):
        response = call(client, method, path, KEY2001)
        assert response.status_code == 404 and response["Content-Type"] == "application/problem+json", path
    assert call(client, "get", "prior-assessments/-5", KEY31).status_code == 404
    assert not AccessLogEntry.objects.filter(path__startswith="/api/v1/prior-assessments/").exists()


# Komplettering ---------------------------------------------------------------------------------------------------


def _awaiting(client, world) -> PriorAssessment:
    assert _post(client).status_code == 201
    return eligibility_services.prior_assessment_request_information(
        actor=world.coordinator_vg, assessment=_mine(world), question="Bifoga röntgen av 36."
    )


def test_a_requested_komplettering_is_answered_with_text_and_attachment(client, world, private_files):
    assessment = _awaiting(client, world)
    shown = call(client, "get", f"prior-assessments/{assessment.pk}", KEY31).json()
    assert shown["state"] == "awaiting_information" and shown["information_requested"] == "Bifoga röntgen av 36."
    assert shown["information_deadline"]
    response = client.post(
        f"/api/v1/prior-assessments/{assessment.pk}/completions",
        {"text": "Röntgen bifogad.", "attachments": [SimpleUploadedFile("36.png", PNG)]},
        HTTP_AUTHORIZATION=f"Bearer {KEY31}",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["state"] == "information_received" and body["version"] == 2
    assert [(a["name"], a["version"]) for a in body["attachments"]] == [("36.png", 2)]
    assert body["events"][-1]["kind"] == "information_supplied" and body["events"][-1]["text"] == "Röntgen bifogad."


def test_a_komplettering_nobody_asked_for_answers_409(client, world):
    assert _post(client).status_code == 201
    assessment = _mine(world)
    response = client.post(
        f"/api/v1/prior-assessments/{assessment.pk}/completions", {"text": "Svar"}, HTTP_AUTHORIZATION=f"Bearer {KEY31}"
    )
    assert response.status_code == 409 and response["Content-Type"] == "application/problem+json"
    assert response.json()["faults"][0]["code"] == "no_completion_requested"
    assert assessment.number in response.json()["detail"]
    english = client.post(
        f"/api/v1/prior-assessments/{assessment.pk}/completions",
        {"text": "Svar"},
        HTTP_AUTHORIZATION=f"Bearer {KEY31}",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert english.json()["detail"].startswith("No further information is requested")


def test_an_empty_komplettering_answers_422(client, world):
    assessment = _awaiting(client, world)
    response = client.post(
        f"/api/v1/prior-assessments/{assessment.pk}/completions", {"text": " "}, HTTP_AUTHORIZATION=f"Bearer {KEY31}"
    )
    assert response.status_code == 422
    assert [f["pointer"] for f in response.json()["faults"]] == ["/text"]
    assessment.refresh_from_db()
    assert assessment.state == PriorAssessmentState.AWAITING_INFORMATION


# Body limits -----------------------------------------------------------------------------------------------------


def test_attachments_over_the_anonymous_limit_need_a_valid_key(client, world, private_files):
    big_png = PNG + b"\x00" * (2 * MB)
    with mock.patch("django.http.multipartparser.MultiPartParser.parse", side_effect=AssertionError("read")):
        refused = Client().post(
            "/api/v1/prior-assessments",
            {"request": json.dumps(_request()), "attachments": [SimpleUploadedFile("a.png", big_png)]},
            HTTP_AUTHORIZATION="Bearer tp_bogus",
        )
    assert refused.status_code == 413
    taken = _post(client, attachments=[SimpleUploadedFile("a.png", big_png)])
    assert taken.status_code == 201, taken.content


# Documentation ---------------------------------------------------------------------------------------------------


def test_the_api_documentation_describes_invoice_files_and_prior_assessments_in_both_languages(client, settings):
    swedish = client.get("/dokumentation/api/").content.decode()
    assert "POST /api/v1/invoice-files tar emot fakturafilen" in swedish
    assert "POST /api/v1/prior-assessments tar emot en begäran" in swedish
    assert swedish.index('id="fakturafiler"') < swedish.index('id="det-som-kommer"')
    assert "ladda upp fakturafiler" not in swedish.split('id="det-som-kommer"')[1]
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    english = client.get("/dokumentation/api/").content.decode()
    assert "POST /api/v1/invoice-files takes the invoice file" in english
    assert "POST /api/v1/prior-assessments takes a request for a prior assessment" in english
