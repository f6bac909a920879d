"""The agreement gate on the API's doors that send claims: POST /claims and POST /invoice-files/{id}/send answer
403 application/problem+json (type agreement-unsigned, code agreement_unsigned, the gate's message in the caller's
language and agreement_url, where to sign) until the clinic signs; uploading and checking a file and the eligibility
check still work. Signed, the same calls go through — with the same Idempotency-Key too, since a refusal that passes
once the clinic acts is not kept for the key."""

from __future__ import annotations

import pytest
from django.utils import timezone

from agreements import services as agreement_services
from claims.models import Claim, InvoiceFileState, InvoiceFileUpload
from tests.agreements.helpers import overdue_version
from tests.billing.test_invoice_file_flow import _ready_for_files, mixed_file
from tests.claims import test_validation
from tests.claims.test_validation import N_PIN, n_draft

from .helpers import call, key_for
from .test_claims_api import body_of, post_claim
from .test_invoice_files_api import send, upload  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db

# The validation tests' world, as test_claims_api's.
small_world = test_validation.small_world
validation_world = test_validation.validation_world
dalarna_history = test_validation.dalarna_history


def _assert_agreement_problem(response, clinic, *, english: bool = False):
    assert response.status_code == 403, response.content
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "https://tandportal.se/api/problem/agreement-unsigned"
    assert problem["status"] == 403
    assert problem["agreement_url"] == f"http://testserver/klinik/{clinic.pk}/avtal/"
    (fault,) = problem["faults"]
    assert fault["code"] == "agreement_unsigned" and fault["pointer"] == ""
    expected = "The clinic has not signed the agreement" if english else "Kliniken har inte signerat avtalet"
    assert problem["detail"].startswith(expected) and fault["message"] == problem["detail"]


def test_post_claims_is_refused_until_signed_and_the_same_idempotency_key_then_stores_it(client, small_world):
    clinic = small_world.clinic
    version = overdue_version(small_world.region, small_world.region_admin)
    _key, secret = key_for(clinic)
    body = body_of(n_draft())
    refused = post_claim(client, secret, body, HTTP_IDEMPOTENCY_KEY="claim-1")
    _assert_agreement_problem(refused, clinic)
    _assert_agreement_problem(post_claim(client, secret, body, HTTP_ACCEPT_LANGUAGE="en"), clinic, english=True)
    assert not Claim.objects.filter(clinic=clinic).exists()
    # The eligibility check is never held back.
    checked = call(
        client, "post", "eligibility-checks", secret, {"personnummer": N_PIN, "date": timezone.localdate().isoformat()}
    )
    assert checked.status_code == 200, checked.content

    agreement_services.agreement_sign(actor=small_world.admin, clinic=clinic, version=version)
    stored = post_claim(client, secret, body, HTTP_IDEMPOTENCY_KEY="claim-1")
    assert stored.status_code == 201, stored.content
    assert not stored.has_header("Idempotent-Replayed")
    assert Claim.objects.filter(clinic=clinic).count() == 1


def test_another_region_publishing_holds_nothing_back(client, small_world):
    overdue_version(small_world.other_region, small_world.region_admin)
    _key, secret = key_for(small_world.clinic)
    assert post_claim(client, secret, body_of(n_draft())).status_code == 201


@pytest.fixture
def file_world(db):
    from tests.worlds import SmallWorld

    return _ready_for_files(SmallWorld())


def test_an_invoice_file_is_checked_but_its_send_refused_until_signed(
    client,
    file_world,
    upload,  # noqa: F811 (the fixture imported above)
    send,  # noqa: F811
):
    clinic = file_world.clinic
    version = overdue_version(file_world.region, file_world.region_admin)
    _key, secret = key_for(clinic)
    accepted = upload(secret, mixed_file())
    assert accepted.status_code == 202, accepted.content
    upload_id = accepted.json()["id"]
    assert call(client, "get", f"invoice-files/{upload_id}", secret).json()["state"] == "checked"
    _assert_agreement_problem(send(secret, upload_id), clinic)
    assert InvoiceFileUpload.objects.get(pk=upload_id).state == InvoiceFileState.CHECKED

    agreement_services.agreement_sign(
        actor=file_world.admin, clinic=clinic, version=version, today=timezone.localdate()
    )
    assert send(secret, upload_id).status_code == 202
    assert InvoiceFileUpload.objects.get(pk=upload_id).state == InvoiceFileState.SENT
