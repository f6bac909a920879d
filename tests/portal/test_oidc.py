"""Single sign-on through the region's identity provider (OpenID Connect), with the provider's token and userinfo
endpoints mocked: who is let in, and that nobody is created."""

import time
from unittest import mock
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from django.contrib.auth import SESSION_KEY

from clinics.models import User

SECRET = "hemlig-nyckel-bara-for-testerna-0123456789"


@pytest.fixture
def oidc(settings):
    settings.OIDC_ENABLED = True
    settings.OIDC_RP_CLIENT_ID = "tandportal"
    settings.OIDC_RP_CLIENT_SECRET = SECRET
    settings.OIDC_OP_AUTHORIZATION_ENDPOINT = "https://idp.region.test/auth"
    settings.OIDC_OP_TOKEN_ENDPOINT = "https://idp.region.test/token"
    settings.OIDC_OP_USER_ENDPOINT = "https://idp.region.test/userinfo"
    settings.OIDC_RP_SIGN_ALGO = "HS256"
    settings.OIDC_PROVIDER_NAME = "SITHS"
    settings.AUTHENTICATION_BACKENDS = [*settings.AUTHENTICATION_BACKENDS, "portal.oidc.PortalOIDCBackend"]
    return settings


def _sso(client, claims: dict, next_url: str = ""):
    """Start at the portal, 'log in' at the provider, come back with a code; the provider's endpoints are mocks."""
    start = client.get("/logga-in/sso/", {"next": next_url} if next_url else {})
    assert start.status_code == 302
    location = urlsplit(start["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == "https://idp.region.test/auth"
    query = {key: values[0] for key, values in parse_qs(location.query).items()}
    assert query["client_id"] == "tandportal" and query["redirect_uri"].endswith("/logga-in/sso/svar/")
    id_token = jwt.encode(
        {
            "iss": "https://idp.region.test",
            "sub": "person-1",
            "aud": "tandportal",
            "nonce": query["nonce"],
            "exp": int(time.time()) + 300,
        },
        SECRET,
        algorithm="HS256",
    )
    token_response = mock.Mock(status_code=200)
    token_response.json.return_value = {"id_token": id_token, "access_token": "access-1", "token_type": "Bearer"}
    userinfo_response = mock.Mock(status_code=200, headers={"content-type": "application/json"})
    userinfo_response.json.return_value = claims
    with mock.patch("mozilla_django_oidc.auth.requests") as requests:
        requests.post.return_value = token_response
        requests.get.return_value = userinfo_response
        response = client.get("/logga-in/sso/svar/", {"code": "kod-1", "state": query["state"]})
    return response, requests


def test_a_person_is_matched_by_hsa_id_and_needs_no_second_code(client, small_world, oidc):
    coordinator = small_world.coordinator
    User.objects.filter(pk=coordinator.pk).update(hsa_id="SE2321000032-S1234")
    region_page = f"/region/{small_world.region.code}/"

    response, requests = _sso(client, {"hsa_id": "SE2321000032-S1234", "email": "annan@region.test"}, region_page)

    assert response.status_code == 302 and response["Location"] == region_page
    assert client.session[SESSION_KEY] == str(coordinator.pk)
    assert requests.post.call_args.kwargs["data"]["code"] == "kod-1"
    assert requests.get.call_args.kwargs["headers"] == {"Authorization": "Bearer access-1"}
    assert client.get(region_page).status_code == 200  # the provider's login is the strong one


def test_a_person_is_matched_by_e_mail_in_any_case(client, small_world, oidc):
    response, _requests = _sso(client, {"email": small_world.biller.email.upper()})

    assert response.status_code == 302
    assert client.session[SESSION_KEY] == str(small_world.biller.pk)


def test_an_unknown_person_is_not_let_in_and_not_created(client, small_world, oidc):
    users = User.objects.count()

    response, _requests = _sso(client, {"email": "okand@region.test", "hsa_id": "SE2321000032-X9"})

    assert response.status_code == 302 and response["Location"] == "/logga-in/?sso=fel"
    assert SESSION_KEY not in client.session
    assert User.objects.count() == users
    assert "ingen användare i Tandportalen med ditt HSA-id" in client.get(response["Location"]).content.decode()


def test_a_deactivated_user_is_not_let_in(client, small_world, oidc):
    User.objects.filter(pk=small_world.biller.pk).update(is_active=False)

    _response, _requests = _sso(client, {"email": small_world.biller.email})

    assert SESSION_KEY not in client.session


def test_an_unverified_e_mail_claim_is_not_trusted(client, small_world, oidc):
    _sso(client, {"email": small_world.biller.email, "email_verified": False})

    assert SESSION_KEY not in client.session


def test_the_login_page_offers_the_provider_and_can_do_without_passwords(client, db, oidc):
    body = client.get("/logga-in/").content.decode()
    assert "Logga in med SITHS" in body and 'name="password"' in body

    oidc.PASSWORD_LOGIN_ENABLED = False
    body = client.get("/logga-in/").content.decode()
    assert "Logga in med SITHS" in body and 'name="password"' not in body


def test_password_login_turned_off_refuses_the_right_password(client, small_world, settings):
    settings.PASSWORD_LOGIN_ENABLED = False

    response = client.post("/logga-in/", {"username": small_world.biller.email, "password": "tandvard-test"})

    assert response.status_code == 302 and response["Location"] == "/logga-in/"
    assert SESSION_KEY not in client.session


def test_without_configuration_the_provider_pages_lead_to_the_login_page(client, db):
    response = client.get("/logga-in/sso/")
    assert response.status_code == 302 and response["Location"] == "/logga-in/"
    assert "Logga in med" not in client.get("/logga-in/").content.decode()
