"""The demo's API keys work as the README says, each for its own clinic only."""

import pytest
from django.utils import timezone

from clinics.models import ApiKey
from clinics.services import api_key_create, api_key_hash

from .helpers import call

DEMO_PIN = "200001012384"  # an N certificate of Västra Götaland in the demo


@pytest.mark.parametrize("secret,clinic_number", [("tandportal-demo-31", "31"), ("tandportal-demo-2001", "2001")])
def test_the_demo_keys_are_stored_hashed_for_their_clinic(world, secret, clinic_number):
    key = ApiKey.objects.get(hash=api_key_hash(secret))
    assert key.clinic.number == clinic_number and key.prefix == secret[:12]
    assert key.state() == "active"


def test_clinic_31s_key_sees_its_regions_certificate_and_2001s_does_not(client, world):
    body = {"personnummer": DEMO_PIN, "date": timezone.localdate().isoformat()}
    vg = call(client, "post", "eligibility-checks", "tandportal-demo-31", body).json()
    assert [c["number"] for c in vg["certificates"]] == ["764153"]
    dalarna = call(client, "post", "eligibility-checks", "tandportal-demo-2001", body).json()
    assert dalarna["certificates"] == []


def test_a_prior_assessment_of_31_is_not_listed_for_32s_or_2001s_key(client, world):
    assessment = world.clinic31.prior_assessments.filter(state="approved").order_by("pk").first()
    assert assessment is not None, "the demo has an approved FHB at clinic 31"
    _key32, secret32 = api_key_create(actor=None, clinic=world.clinic32, name="32")
    body = {"personnummer": assessment.patient.personal_identity_number, "date": timezone.localdate().isoformat()}

    def numbers(secret):
        answer = call(client, "post", "eligibility-checks", secret, body).json()
        return [a["number"] for a in answer["prior_assessments"]]

    assert assessment.number in numbers("tandportal-demo-31")
    assert numbers(secret32) == [] and numbers("tandportal-demo-2001") == []
