"""Headers every page carries: a Content Security Policy without inline script, no framing."""

from django.conf import settings


def test_pages_send_a_csp_without_inline_script(client, db):
    response = client.get("/logga-in/")
    policy = response["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
    assert directives["script-src"] == "'self'"
    assert directives["default-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert response["X-Frame-Options"] == "DENY"


def test_passwords_are_hashed_with_argon2_outside_tests():
    from portal.settings import base

    assert base.PASSWORD_HASHERS[0] == "django.contrib.auth.hashers.Argon2PasswordHasher"
    assert settings.AUTH_USER_MODEL == "clinics.User"


def test_no_url_carries_a_personal_identity_number():
    # Personnummer travel in POST bodies only (OWASP ASVS 14.2.1); no route may take one as a parameter.
    from tests.test_permissions import ALL_PATTERNS

    for route, _ in ALL_PATTERNS:
        assert "personnummer" not in route.lower() and "pnr" not in route.lower(), route
