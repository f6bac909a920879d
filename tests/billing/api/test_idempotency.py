"""Idempotency-Key on every POST of the API: the first answer again, 409 while it runs, 422 for another body, one
claim however many times (and however many at once) it is sent."""

from __future__ import annotations

import datetime
import hashlib
import json
import threading

import pytest
from django.db import connections
from django.test import Client
from django.utils import timezone

from billing.api import claims as claims_api
from billing.models import IdempotentRequest
from claims.drafts import LineDraft
from claims.models import Claim
from tests.claims.test_validation import N_PIN, TODAY, VISIT, n_draft
from tests.eligibility.factories import CertificateFactory

from . import test_claims_api
from .helpers import call, key_for
from .test_claims_api import body_of

small_world = test_claims_api.small_world
validation_world = test_claims_api.validation_world

KEY = "5f0c9a4e-0d1b-4d53-9a53-3f1c2b7d9e10"


def _post(client, secret, body, key=KEY, **headers):
    return call(client, "post", "claims", secret, body, HTTP_IDEMPOTENCY_KEY=key, **headers)


@pytest.mark.django_db
def test_the_same_key_and_body_answer_the_first_result_again_and_store_one_claim(client, small_world):
    _key, secret = key_for(small_world.clinic)
    first = _post(client, secret, body_of(n_draft()))
    again = _post(client, secret, body_of(n_draft()))
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.content == first.content and again["Location"] == first["Location"]
    assert again["Idempotent-Replayed"] == "true" and not first.has_header("Idempotent-Replayed")
    assert again["Content-Type"] == "application/json" and again["X-Request-ID"]
    assert Claim.objects.filter(clinic=small_world.clinic).count() == 1


@pytest.mark.django_db
def test_a_refused_claim_is_answered_the_same_again(client, small_world):
    _key, secret = key_for(small_world.clinic)
    body = body_of(n_draft(care_model=""))
    first = _post(client, secret, body)
    assert first.status_code == 422
    again = _post(client, secret, body, HTTP_ACCEPT_LANGUAGE="en")
    assert (again.status_code, again.content) == (422, first.content)
    assert again["Content-Type"] == "application/problem+json" and again["Content-Language"] == "sv"


@pytest.mark.django_db
def test_the_same_key_with_another_body_or_path_answers_422(client, small_world):
    _key, secret = key_for(small_world.clinic)
    assert _post(client, secret, body_of(n_draft())).status_code == 201
    other = _post(client, secret, body_of(n_draft(reference="980891")))
    assert other.status_code == 422 and other["Content-Type"] == "application/problem+json"
    assert other.json()["detail"] == "Idempotency-Key har redan använts för ett annat anrop."
    check = call(
        client,
        "post",
        "eligibility-checks",
        secret,
        {"personnummer": N_PIN, "date": TODAY.isoformat()},
        HTTP_IDEMPOTENCY_KEY=KEY,
    )
    assert check.status_code == 422
    assert Claim.objects.count() == 1


@pytest.mark.django_db
def test_a_key_is_one_api_keys_own(client, small_world):
    _one, secret = key_for(small_world.clinic)
    _two, other_secret = key_for(small_world.clinic, name="Annat journalsystem")
    assert _post(client, secret, body_of(n_draft())).status_code == 201
    second = _post(client, other_secret, body_of(n_draft()))
    assert second.status_code == 422 and not second.has_header("Idempotent-Replayed")
    assert second.json()["faults"][0]["code"] == "reference_used"


@pytest.mark.django_db
def test_while_the_first_call_runs_the_same_key_answers_409_with_retry_after(client, small_world):
    key, secret = key_for(small_world.clinic)
    raw = json.dumps(body_of(n_draft())).encode()
    IdempotentRequest.objects.create(
        api_key=key, idempotency_key=KEY, fingerprint=f"POST /api/v1/claims {hashlib.sha256(raw).hexdigest()}"
    )
    response = _post(client, secret, raw.decode())
    assert response.status_code == 409 and response["Retry-After"] == "1"
    assert response.json()["detail"] == "Ett anrop med samma Idempotency-Key pågår. Försök igen om en stund."
    assert not Claim.objects.exists()


@pytest.mark.django_db
def test_a_key_older_than_24_hours_is_free_again(client, small_world):
    _key, secret = key_for(small_world.clinic)
    assert _post(client, secret, body_of(n_draft())).status_code == 201
    IdempotentRequest.objects.update(created_at=timezone.now() - datetime.timedelta(hours=24, minutes=1))
    fresh = _post(client, secret, body_of(n_draft(reference="980891", lines=[LineDraft(VISIT, "121")])))
    assert fresh.status_code == 201 and not fresh.has_header("Idempotent-Replayed")
    assert IdempotentRequest.objects.count() == 1


@pytest.mark.django_db
def test_a_failure_is_not_kept_so_the_call_may_be_retried_with_the_key(small_world, monkeypatch):
    _key, secret = key_for(small_world.clinic)
    client = Client(raise_request_exception=False)

    def broken(**kwargs):
        raise RuntimeError("database went away")

    with monkeypatch.context() as patch:
        patch.setattr(claims_api, "claim_submit", broken)
        assert _post(client, secret, body_of(n_draft())).status_code == 500
    assert not IdempotentRequest.objects.exists()
    assert _post(client, secret, body_of(n_draft())).status_code == 201


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["", "k" * 256])
def test_an_empty_or_too_long_key_answers_400(client, small_world, key):
    _key, secret = key_for(small_world.clinic)
    response = _post(client, secret, body_of(n_draft()), key=key)
    assert response.status_code == 400
    assert response.json()["faults"][0]["code"] == "idempotency_key_invalid"
    assert not Claim.objects.exists()
    assert _post(client, secret, body_of(n_draft()), key="k" * 255).status_code == 201


@pytest.mark.django_db
def test_without_the_header_a_second_send_is_a_second_call(client, small_world):
    _key, secret = key_for(small_world.clinic)
    assert call(client, "post", "claims", secret, body_of(n_draft())).status_code == 201
    again = call(client, "post", "claims", secret, body_of(n_draft()))
    assert again.status_code == 422 and again.json()["faults"][0]["code"] == "reference_used"
    assert not IdempotentRequest.objects.exists()


def test_every_post_of_the_api_documents_the_header_and_its_409_and_422(client):
    schema = client.get("/api/v1/openapi.json").json()
    posts = [operation for path in schema["paths"].values() for method, operation in path.items() if method == "post"]
    assert len(posts) >= 3
    for operation in posts:
        assert "Idempotency-Key" in {parameter["name"] for parameter in operation.get("parameters", [])}
        assert {"409", "422"} <= set(operation["responses"]), operation["operationId"]


@pytest.mark.django_db(transaction=True)
def test_twenty_parallel_calls_with_one_key_store_one_claim(transactional_small_world):
    world = transactional_small_world
    world.tariff(VISIT, TODAY)
    CertificateFactory(patient__personal_identity_number=N_PIN, region=world.region, number="764153", group="N1")
    _key, secret = key_for(world.clinic)
    body = body_of(n_draft())
    barrier = threading.Barrier(20)
    answers: list[tuple[int, bool, bytes]] = []
    lock = threading.Lock()

    def send():
        try:
            barrier.wait(timeout=30)
            response = _post(Client(), secret, body)
            with lock:
                answers.append((response.status_code, response.has_header("Idempotent-Replayed"), response.content))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(answers) == 20
    assert Claim.objects.filter(clinic=world.clinic).count() == 1
    firsts = [answer for answer in answers if answer[0] == 201 and not answer[1]]
    assert len(firsts) == 1
    assert {(status, replayed) for status, replayed, _content in answers} <= {(201, False), (201, True), (409, False)}
    assert {content for status, _replayed, content in answers if status == 201} == {firsts[0][2]}
