"""Invoice files over the API: upload (202 and a job URL), the check by the web's task, counts and the error list as
data, sending the correct claims, the clinic's one check at a time, body limits by key, and tenancy."""

import threading
from unittest import mock

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connections
from django.test import Client

from billing import invoice_file_services
from claims.models import Claim, Invoice, InvoiceFileState, InvoiceFileUpload, InvoiceSource
from clinics.services import api_key_revoke
from portal.middleware import ANONYMOUS_MAX_BODY_BYTES
from portal.models import AccessLogEntry, AuditEvent
from tests.billing.test_invoice_file_flow import BAD_PIN, _claim, _ready_for_files, invoice_xml, mixed_file
from tests.kept import kept
from tests.worlds import SmallWorld

from .helpers import call, key_for

pytestmark = pytest.mark.django_db

MB = 1024 * 1024


# Every test here that asks for the small world asks for it ready: made once per module (tests/kept.py).
file_world_made = kept(lambda: _ready_for_files(SmallWorld()), "file_world_made")


@pytest.fixture
def small_world(file_world_made, db) -> SmallWorld:
    return file_world_made.fresh()


@pytest.fixture
def file_world(small_world):
    """Clinic 31 with GOOD_PIN's certificate and the tariff the test files' claims need (as the web's tests)."""
    return small_world


@pytest.fixture
def secret(file_world):
    return key_for(file_world.clinic)[1]


@pytest.fixture
def upload(client, django_capture_on_commit_callbacks):
    """POST a file; the check (billing.tasks.check_invoice_file) runs eagerly once the upload commits, as in the
    web's tests."""

    def post(secret, content: bytes, *, name="faktura.xml", review_only=None, **headers):
        data = {"file": SimpleUploadedFile(name, content, content_type="application/xml")}
        if review_only is not None:
            data["review_only"] = "true" if review_only else "false"
        with django_capture_on_commit_callbacks(execute=True):
            return client.post("/api/v1/invoice-files", data, HTTP_AUTHORIZATION=f"Bearer {secret}", **headers)

    return post


@pytest.fixture
def send(client, django_capture_on_commit_callbacks):
    def post(secret, upload_id: int, **headers):
        with django_capture_on_commit_callbacks(execute=True):
            return call(client, "post", f"invoice-files/{upload_id}/send", secret, **headers)

    return post


def _multipart(size: int) -> tuple[bytes, str]:
    """A file part of `size` bytes of XML."""
    boundary = "grans"
    content = b"<?xml version='1.0'?><x>" + b"y" * (size - 30) + b"</x>"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="stor.xml"\r\n'
            "Content-Type: application/xml\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


@pytest.fixture
def body_never_read():
    """Fails the test if anything parses the request's multipart body (Django's parser, which DRF's uses)."""
    with mock.patch("django.http.multipartparser.MultiPartParser.parse", side_effect=AssertionError("read")):
        yield


# Upload, check, result -------------------------------------------------------------------------------------


def test_a_file_is_accepted_with_202_and_checked_by_the_webs_task(client, file_world, secret, upload):
    response = upload(secret, mixed_file())
    assert response.status_code == 202, response.content
    body = response.json()
    stored = InvoiceFileUpload.objects.get(pk=body["id"])
    assert response["Location"] == f"/api/v1/invoice-files/{stored.pk}" == body["url"]
    assert body["state"] == "queued" and body["earlier"] is False and body["finished"] is False
    assert stored.clinic == file_world.clinic and stored.uploaded_by.api_key.name == "Journalsystemet"
    assert AuditEvent.objects.filter(action="claims.invoice_file.uploaded", object_id=str(stored.pk)).exists()

    result = call(client, "get", f"invoice-files/{stored.pk}", secret)
    assert result.status_code == 200
    checked = result.json()
    assert checked["state"] == "checked" and checked["finished"] is True and checked["can_send"] is True
    assert checked["counts"] == {"claims": 3, "checked": 3, "correct": 2, "with_faults": 1}
    assert checked["invoice_reference"] == "F-7001"
    assert checked["faults_total"] == len(checked["faults"]) >= 1 and checked["faults_next"] is None
    fault = checked["faults"][0]
    assert (fault["claim"], fault["claim_reference"], fault["personnummer"]) == (2, "FIL-2", BAD_PIN)
    assert fault["code"] and fault["message"]
    # The error list shows a personnummer: read through the key, it is in the access log with the key's user.
    assert AccessLogEntry.objects.filter(user=stored.uploaded_by, shown="API: fakturafilens fellista").exists()


def test_the_error_list_comes_a_page_at_a_time(client, file_world, secret, upload):
    claims = [_claim(f"FIL-{n}", BAD_PIN) for n in range(1, 6)]
    upload_id = upload(secret, invoice_xml(claims)).json()["id"]
    first = call(client, "get", f"invoice-files/{upload_id}?faults_limit=2", secret).json()
    total = first["faults_total"]
    assert total >= 5 and len(first["faults"]) == 2 and first["faults_next"]
    seen, page = list(first["faults"]), first
    while page["faults_next"]:
        page = call(client, "get", page["faults_next"].removeprefix("/api/v1/"), secret).json()
        seen += page["faults"]
    assert len(seen) == total
    assert [f["claim"] for f in seen] == sorted(f["claim"] for f in seen)
    bad = call(client, "get", f"invoice-files/{upload_id}?faults_limit=0", secret)
    assert bad.status_code == 400 and bad.json()["faults"][0]["pointer"] == "/faults_limit"


def test_a_whole_file_fault_is_the_files_message(client, file_world, secret, upload):
    upload_id = upload(secret, mixed_file().replace(b"<Kliniknummer>31<", b"<Kliniknummer>32<")).json()["id"]
    body = call(client, "get", f"invoice-files/{upload_id}", secret).json()
    assert body["state"] == "rejected" and body["finished"] is True and body["can_send"] is False
    assert "klinik 32" in body["message"] and body["faults"] == []


def test_the_same_file_again_answers_the_earlier_upload_with_200(file_world, secret, upload):
    first = upload(secret, mixed_file()).json()
    again = upload(secret, mixed_file())
    assert again.status_code == 200 and again.json()["earlier"] is True and again.json()["id"] == first["id"]
    assert InvoiceFileUpload.objects.count() == 1


@pytest.mark.parametrize("content,code", [(b"", "empty"), (b"%PDF-1.7 not xml", "not_xml"), (b"\x00<x/>", "not_xml")])
def test_what_is_no_xml_answers_422_with_the_fault_and_stores_nothing(file_world, secret, upload, content, code):
    response = upload(secret, content)
    assert response.status_code == 422 and response["Content-Type"] == "application/problem+json"
    assert [(f["code"], f["pointer"]) for f in response.json()["faults"]] == [(code, "/file")]
    assert not InvoiceFileUpload.objects.exists()


def test_a_missing_file_or_an_unknown_field_answers_400_and_json_415(client, file_world, secret):
    missing = client.post("/api/v1/invoice-files", {"review_only": "true"}, HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert missing.status_code == 400 and missing.json()["faults"][0]["pointer"] == "/file"
    unknown = client.post(
        "/api/v1/invoice-files",
        {"file": SimpleUploadedFile("f.xml", mixed_file()), "granska": "1"},
        HTTP_AUTHORIZATION=f"Bearer {secret}",
    )
    assert unknown.status_code == 400
    assert unknown.json()["faults"] == [{"code": "unknown_field", "message": "Okänt fält.", "pointer": "/granska"}]
    as_json = call(client, "post", "invoice-files", secret, {"file": "x"})
    assert as_json.status_code == 415 and "multipart/form-data" in as_json.json()["detail"]


def test_a_file_over_the_size_limit_answers_413(file_world, secret, upload, monkeypatch):
    monkeypatch.setattr(invoice_file_services, "MAX_FILE_SIZE", 100)
    response = upload(secret, mixed_file())
    assert response.status_code == 413 and response["Content-Type"] == "application/problem+json"
    assert response.json()["faults"][0]["code"] == "too_large"
    assert not InvoiceFileUpload.objects.exists()


# Sending ---------------------------------------------------------------------------------------------------


def test_send_sends_the_correct_claims_as_one_invoice_as_ladda_upp(client, file_world, secret, upload, send):
    upload_id = upload(secret, mixed_file()).json()["id"]
    response = send(secret, upload_id)
    assert response.status_code == 202 and response.json()["state"] == "sending"
    invoice = Invoice.objects.get(clinic=file_world.clinic, reference="F-7001")
    assert invoice.source == InvoiceSource.FILE
    assert sorted(Claim.objects.filter(invoice=invoice).values_list("reference", flat=True)) == ["FIL-1", "FIL-3"]
    done = call(client, "get", f"invoice-files/{upload_id}", secret).json()
    assert done["state"] == "sent" and done["invoice"] == {"id": invoice.pk, "reference": "F-7001"}
    again = send(secret, upload_id)
    assert again.status_code == 200 and again.json()["state"] == "sent"
    assert Claim.objects.filter(invoice=invoice).count() == 2


def test_a_file_for_review_only_or_with_nothing_correct_answers_409(file_world, secret, upload, send):
    review = upload(secret, mixed_file(), review_only=True).json()
    refused = send(secret, review["id"])
    assert refused.status_code == 409 and refused["Content-Type"] == "application/problem+json"
    assert refused.json()["faults"][0]["code"] == "review_only"
    assert "granskning" in refused.json()["detail"]
    all_bad = upload(secret, invoice_xml([_claim("FIL-1", BAD_PIN)], reference="F-7002")).json()
    assert send(secret, all_bad["id"]).json()["faults"][0]["code"] == "nothing_to_send"
    assert not Claim.objects.exists()


def test_a_file_still_being_checked_answers_409_in_english_when_asked(client, file_world, secret):
    queued = _queued(file_world)
    response = call(client, "post", f"invoice-files/{queued.pk}/send", secret, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 409
    assert response.json()["detail"] == "The file cannot be sent in its current status."
    assert response["Content-Language"] == "en"


# One check per clinic at a time ----------------------------------------------------------------------------


def _queued(world, clinic=None) -> InvoiceFileUpload:
    upload = InvoiceFileUpload(
        clinic=clinic or world.clinic, uploaded_by=world.biller, original_name="f.xml", sha256="2" * 64
    )
    upload.file.save("test.xml", ContentFile(mixed_file()), save=False)
    upload.save()
    return upload


def test_a_new_file_while_the_clinics_file_is_checked_answers_429_with_retry_after(
    file_world, secret, upload, monkeypatch
):
    _queued(file_world)
    response = upload(secret, mixed_file(reference="F-7003"))
    assert response.status_code == 429 and response["Content-Type"] == "application/problem+json"
    assert int(response["Retry-After"]) > 0
    assert "En annan av klinikens fakturafiler kontrolleras" in response.json()["detail"]
    assert InvoiceFileUpload.objects.count() == 1
    english = upload(secret, mixed_file(reference="F-7003"), HTTP_ACCEPT_LANGUAGE="en")
    assert "Another of the clinic's invoice files is being checked" in english.json()["detail"]


def test_two_files_sent_at_the_same_moment_are_one_202_and_one_429(transactional_small_world, monkeypatch):
    """The per-clinic lock: whichever comes first is stored, the other sees it being checked. No check runs (the
    queue is left out), so the first stays queued whatever the threads' order."""
    world = _ready_for_files(transactional_small_world)
    secret = key_for(world.clinic)[1]
    monkeypatch.setattr(invoice_file_services, "_enqueue", lambda upload_id: None)
    start = threading.Barrier(2)
    answers = []

    def post(reference):
        try:
            start.wait(timeout=10)
            data = {"file": SimpleUploadedFile("f.xml", mixed_file(reference=reference))}
            answers.append(Client().post("/api/v1/invoice-files", data, HTTP_AUTHORIZATION=f"Bearer {secret}"))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=post, args=(reference,)) for reference in ("F-8001", "F-8002")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(answer.status_code for answer in answers) == [202, 429]
    assert InvoiceFileUpload.objects.filter(clinic=world.clinic).count() == 1


def test_another_clinics_file_being_checked_does_not_hold_this_clinic_back(file_world, secret, upload):
    _queued(file_world, clinic=file_world.other_clinic)
    assert upload(secret, mixed_file()).status_code == 202


def test_a_stalled_check_does_not_hold_the_clinic_back(file_world, secret, upload, settings):
    stalled = _queued(file_world)
    InvoiceFileUpload.objects.filter(pk=stalled.pk).update(updated_at="2020-01-01T00:00Z")
    assert upload(secret, mixed_file()).status_code == 202


# Tenancy and keys ------------------------------------------------------------------------------------------


def test_another_clinics_file_is_404_for_every_operation(client, file_world, secret):
    other = _queued(file_world, clinic=file_world.other_clinic)
    for method, path in (("get", f"invoice-files/{other.pk}"), ("post", f"invoice-files/{other.pk}/send")):
        response = call(client, method, path, secret)
        assert response.status_code == 404 and response["Content-Type"] == "application/problem+json", path
    assert call(client, "get", "invoice-files/-1", secret).status_code == 404
    assert call(client, "get", "invoice-files/99999999999999999999", secret).status_code == 404
    other.refresh_from_db()
    assert other.state == InvoiceFileState.QUEUED


def test_a_revoked_key_answers_401(client, file_world):
    key, secret = key_for(file_world.clinic)
    queued = _queued(file_world)
    api_key_revoke(actor=file_world.admin, key=key)
    assert call(client, "get", f"invoice-files/{queued.pk}", secret).status_code == 401


# Body limits -----------------------------------------------------------------------------------------------


def test_a_2_mb_file_with_a_valid_key_is_taken(client, file_world, secret, django_capture_on_commit_callbacks):
    body, content_type = _multipart(2 * MB)
    assert len(body) > ANONYMOUS_MAX_BODY_BYTES
    response = client.post(
        "/api/v1/invoice-files", body, content_type=content_type, HTTP_AUTHORIZATION=f"Bearer {secret}"
    )
    assert response.status_code == 202, response.content
    assert InvoiceFileUpload.objects.get().size > 2 * MB - 100


@pytest.mark.parametrize("header", [None, "Bearer tp_bogus", "Basic dXNlcjpwYXNz"])
def test_a_large_body_without_a_valid_key_is_refused_413_unread(file_world, body_never_read, header):
    body, content_type = _multipart(2 * MB)
    headers = {"HTTP_AUTHORIZATION": header} if header else {}
    response = Client().post("/api/v1/invoice-files", body, content_type=content_type, **headers)
    assert response.status_code == 413 and response["Content-Type"] == "application/problem+json"
    assert response.json()["status"] == 413 and "0,2 MB" in response.json()["detail"]


def test_a_revoked_key_gets_the_anonymous_limit(client, file_world, body_never_read):
    key, secret = key_for(file_world.clinic)
    api_key_revoke(actor=file_world.admin, key=key)
    body, content_type = _multipart(2 * MB)
    response = client.post(
        "/api/v1/invoice-files", body, content_type=content_type, HTTP_AUTHORIZATION=f"Bearer {secret}"
    )
    assert response.status_code == 413


def test_a_body_over_the_files_limit_is_refused_413_unread_even_with_a_key(client, file_world, secret, body_never_read):
    response = client.post(
        "/api/v1/invoice-files",
        b"",
        content_type="multipart/form-data; boundary=x",
        CONTENT_LENGTH=51 * MB,
        HTTP_AUTHORIZATION=f"Bearer {secret}",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 413 and response["Content-Type"] == "application/problem+json"
    assert response.json()["detail"] == "What you sent is too large. At most 50,1 MB is taken here."


def test_json_to_the_api_keeps_the_signed_in_limit(client, file_world, secret, body_never_read):
    # 3 MB to a JSON operation with a valid key: over the signed-in 2,5 MB, refused before it is read.
    response = client.post(
        "/api/v1/eligibility-checks",
        b"",
        content_type="application/json",
        CONTENT_LENGTH=3 * MB,
        HTTP_AUTHORIZATION=f"Bearer {secret}",
    )
    assert response.status_code == 413 and "2,5 MB" in response.json()["detail"]
