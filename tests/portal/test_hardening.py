"""Answers that never leak or crash, and the audit's probes kept as tests.

Every page and download a signed-in user gets says `Cache-Control: no-store, private`; a request body is refused
before it is read when it is larger than the page takes (small before login); a date outside 1900–2100 is a form
error on every form and filter, never a 500; every POST is refused without the CSRF token; the login's `next`
never leads to another site.
"""

import datetime
import importlib
import pkgutil
import re
from unittest import mock

import pytest
from django import forms
from django.test import Client
from django.urls import reverse
from hypothesis import given, settings
from hypothesis import strategies as st

from portal import middleware
from portal.forms import EARLIEST_DATE, LATEST_DATE, DateField
from tests.identity import PASSWORD_BACKEND
from tests.project_apps import project_apps
from tests.test_permissions import ALL_PATTERNS, Owner, _kwargs_for

APPS = project_apps()
MB = 1024 * 1024

# Who opens which pages in the walks: a clinic's local administrator (clinic 31), the region's coordinator and
# its administrator; between them they may open every page.
SIGNED_IN = ["admin31@demo.test", "fakturerare@demo.test", "samordnare.vg@demo.test", "regionadmin@demo.test"]


def _urls(world, only=lambda route: True) -> list[tuple[str, str, object]]:
    """Every page of the URL conf that `only` takes, with clinic 31's and Västra Götaland's objects for its ids."""
    vg = Owner(world.clinic31, world.vg)
    return [
        (route, reverse(pattern.name, kwargs=_kwargs_for(world, route, home=vg, objects=vg)), pattern)
        for route, pattern in ALL_PATTERNS
        if only(route)
    ]


# Cache-Control -----------------------------------------------------------------------------------------------


@pytest.mark.slow  # every page and download as each signed-in user: minutes, the longest tests of test-fast
def test_every_page_and_download_for_a_signed_in_user_is_kept_out_of_caches(client, world):
    opened = set()
    for email in SIGNED_IN:
        client.force_login(world.user(email))
        for route, url, _pattern in _urls(world):
            if route in ("logga-ut/", "healthz", "readyz"):
                continue
            response = client.get(url)
            if response.status_code == 200:
                opened.add(route)
                directives = {part.strip() for part in response["Cache-Control"].split(",")}
                assert {"no-store", "private"} <= directives and "public" not in directives, f"{url} as {email}"
    # The patient pages the audit named: a claim, a credit invoice, a prior assessment, an error-list Excel.
    for route in (
        "klinik/<int:clinic_pk>/fakturor/rakningar/<int:claim_pk>/",
        "klinik/<int:clinic_pk>/fakturor/rakningar/<int:claim_pk>/kreditera/",
        "klinik/<int:clinic_pk>/fakturor/rakningar/<int:claim_pk>/radera/",
        "klinik/<int:clinic_pk>/forhandsbedomningar/<int:assessment_pk>/",
        "klinik/<int:clinic_pk>/fakturafil/<int:upload_pk>/fellista.xlsx",
        "region/<slug:region_code>/rakningar/<int:claim_pk>/",
    ):
        assert route in opened, route
    assert len(opened) > 60


# Request bodies ----------------------------------------------------------------------------------------------


@pytest.fixture
def body_never_read():
    """Fails the test if anything parses the request's form (which writes its files to disk)."""
    with mock.patch("django.http.request.MultiPartParser.parse", side_effect=AssertionError("the body was read")):
        yield


def _multipart(size: int) -> tuple[bytes, str]:
    boundary = "grans"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.xml"\r\n'
            "Content-Type: application/xml\r\n\r\n"
        ).encode()
        + b"x" * size
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


def test_an_anonymous_body_beyond_the_small_limit_is_refused_unread(db, body_never_read):
    client = Client()
    client.get("/logga-in/")  # the login page's CSRF cookie is all an attacker needs
    body, content_type = _multipart(middleware.ANONYMOUS_MAX_BODY_BYTES)
    response = client.post("/logga-in/", body, content_type=content_type)
    assert response.status_code == 413
    assert "Sidan tar emot högst 0,2 MB" in response.content.decode()


def test_an_anonymous_body_that_claims_300_mb_is_refused_before_a_byte_is_read(db, body_never_read):
    response = Client().post("/logga-in/", b"", content_type="multipart/form-data; boundary=x", CONTENT_LENGTH=300 * MB)
    assert response.status_code == 413


def test_a_signed_in_user_may_send_a_page_no_more_than_it_takes(client, world, body_never_read):
    client.force_login(world.biller)
    body, content_type = _multipart(middleware.SIGNED_IN_MAX_BODY_BYTES)
    url = reverse("invoice_list", kwargs={"clinic_pk": world.clinic31.pk})
    assert client.post(url, body, content_type=content_type).status_code == 413
    upload = reverse("invoice_file_upload", kwargs={"clinic_pk": world.clinic31.pk})
    assert client.post(upload, b"", content_type=content_type, CONTENT_LENGTH=51 * MB).status_code == 413


def test_a_password_without_the_owed_code_may_send_no_more_than_anyone(client, world, body_never_read):
    # The coordinator has given the password but not yet the code: not signed in for the body limits.
    client.force_login(world.coordinator_vg, backend=PASSWORD_BACKEND)
    body, content_type = _multipart(middleware.ANONYMOUS_MAX_BODY_BYTES)
    response = client.post(reverse("review_claim_list", kwargs={"region_code": "vg"}), body, content_type=content_type)
    assert response.status_code == 413
    assert "Sidan tar emot högst 0,2 MB" in response.content.decode()


def test_the_invoice_file_page_takes_a_file_of_50_mb(client, world):
    client.force_login(world.biller)
    upload = reverse("invoice_file_upload", kwargs={"clinic_pk": world.clinic31.pk})
    body, content_type = _multipart(3 * MB)  # more than other pages take; refused for what it is, not its size
    response = client.post(upload, body, content_type=content_type)
    assert response.status_code == 200
    assert "Filen är inte en XML-fil." in response.content.decode()


def _body_limit(callback) -> int:
    """What a view takes from a signed-in user, or (the API's views, which guard their own bodies) from a valid key."""
    if getattr(callback, "guard_body", None) is not None:
        return callback.view_class.max_body_bytes
    return getattr(callback, "max_body_bytes", middleware.SIGNED_IN_MAX_BODY_BYTES)


def test_only_the_invoice_file_page_and_its_api_take_50_mb():
    limits = {route: _body_limit(pattern.callback) for route, pattern in ALL_PATTERNS}
    large = {route for route, limit in limits.items() if limit > 25 * MB}
    assert large == {"klinik/<int:clinic_pk>/fakturafil/", "api/v1/invoice-files"}
    assert limits["klinik/<int:clinic_pk>/fakturafil/"] == 50 * MB + middleware.FORM_OVERHEAD_BYTES
    assert limits["api/v1/invoice-files"] == limits["klinik/<int:clinic_pk>/fakturafil/"]


# Dates -------------------------------------------------------------------------------------------------------


def _all_forms() -> list[type[forms.BaseForm]]:
    for app in APPS:
        package = importlib.import_module(app)
        for module in pkgutil.walk_packages(package.__path__, f"{app}."):
            if not any(part in module.name for part in (".migrations", ".management", ".settings", "devservices")):
                importlib.import_module(module.name)
    found, todo = [], [forms.BaseForm]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls.__module__.split(".")[0] in APPS:
            found.append(cls)
    return found


def _date_fields() -> list[tuple[str, str, forms.DateField]]:
    return [
        (f"{form.__module__}.{form.__name__}", name, field)
        for form in _all_forms()
        for name, field in form.base_fields.items()
        if isinstance(field, forms.DateField)
    ]


DATE_FIELDS = _date_fields()
DATE_NAMES = sorted({name for _form, name, _field in DATE_FIELDS})


def test_every_date_field_of_every_form_is_the_portals_bounded_one():
    assert len(DATE_FIELDS) >= 15
    assert {"date_from", "date_to", "payout_date", "visit_date"} <= set(DATE_NAMES)
    plain = [f"{form}.{name}" for form, name, field in DATE_FIELDS if not isinstance(field, DateField)]
    assert not plain, f"use portal.forms.DateField: {plain}"


outside = st.one_of(
    st.dates(max_value=EARLIEST_DATE - datetime.timedelta(days=1)),
    st.dates(min_value=LATEST_DATE + datetime.timedelta(days=1)),
)


@settings(max_examples=60, deadline=None)
@given(day=outside, index=st.integers(min_value=0))
def test_a_date_outside_1900_to_2100_is_a_form_error_in_every_date_field(day, index):
    form, name, field = DATE_FIELDS[index % len(DATE_FIELDS)]
    with pytest.raises(forms.ValidationError) as refused:
        field.clean(day.isoformat())
    assert refused.value.messages == ["Ange ett datum mellan 1900-01-01 och 2100-12-31."], f"{form}.{name}"


@settings(max_examples=60, deadline=None)
@given(day=st.dates(min_value=EARLIEST_DATE, max_value=LATEST_DATE), index=st.integers(min_value=0))
def test_a_date_within_1900_to_2100_is_taken_by_every_date_field(day, index):
    _form, _name, field = DATE_FIELDS[index % len(DATE_FIELDS)]
    assert field.clean(day.isoformat()) == day


@pytest.mark.slow  # every page, GET and POST, as each signed-in user: minutes each
@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01"])
def test_no_page_answers_500_to_an_extreme_date_in_any_date_field_or_filter(client, world, day):
    """Every page, asked (GET) and sent (POST) every date field the portal has, set to the extreme date; the
    test client raises the exception a 500 would hide."""
    data = {name: day for name in DATE_NAMES} | {f"entry-{name}": day for name in DATE_NAMES}
    for email in SIGNED_IN:
        client.force_login(world.user(email))
        for route, url, _pattern in _urls(world):
            if route in ("logga-ut/", "healthz", "readyz"):
                continue
            assert client.get(url, data).status_code != 500, url
            assert client.post(url, data).status_code != 500, url


@pytest.mark.parametrize(
    "name,method,url",
    [
        ("review", "get", "region/vg/rakningar/"),
        ("access log", "post", "region/vg/atkomstlogg/"),  # a personnummer travels in the body only
        ("invoices", "get", "klinik/{clinic}/fakturor/"),
    ],
)
def test_a_search_with_an_extreme_date_says_so_beside_the_field(client, world, name, method, url):
    email = "fakturerare@demo.test" if url.startswith("klinik") else "regionadmin@demo.test"
    client.force_login(world.user(email))
    data = {"date_from": "0001-01-01", "date_to": "9999-12-31", "personal_identity_number": "200001012384"}
    response = getattr(client, method)("/" + url.format(clinic=world.clinic31.pk), data)
    assert response.status_code == 200
    assert response.content.decode().count("Ange ett datum mellan 1900-01-01 och 2100-12-31.") >= 2, name


def test_a_payout_date_in_year_9999_is_a_form_error(client, world):
    client.force_login(world.coordinator_vg)
    response = client.post(reverse("payout_run_new", kwargs={"region_code": "vg"}), {"payout_date": "9999-12-31"})
    assert response.status_code == 200
    assert "Ange ett datum mellan 1900-01-01 och 2100-12-31." in response.content.decode()


# CSRF and redirects ------------------------------------------------------------------------------------------


@pytest.mark.slow  # a POST to every page as four users: minutes
def test_every_post_without_the_csrf_token_is_refused(world):
    for email in (None, "admin31@demo.test", "samordnare.vg@demo.test", "regionadmin@demo.test"):
        client = Client(enforce_csrf_checks=True)
        if email:
            client.force_login(world.user(email))
        for route, url, _pattern in _urls(world):
            if route.startswith("api/"):
                continue  # the API takes a key in a header and sets no cookie: nothing to forge (tests/billing/api)
            response = client.post(url, {"x": "1"})
            assert response.status_code == 403, f"POST {url} as {email or 'anonymous'}"
            assert "Sidan har blivit för gammal" in response.content.decode(), url


@pytest.mark.parametrize(
    "target",
    ["https://evil.test/", "//evil.test/", "/\\evil.test/", "https:evil.test", "\\\\evil.test", "javascript:alert(1)"],
)
def test_the_login_never_sends_anyone_to_another_site(client, world, target):
    response = client.post(
        "/logga-in/?next=" + target, {"username": "fakturerare@demo.test", "password": "tandvard-demo", "next": target}
    )
    assert response.status_code == 302
    assert response["Location"] in ("/", reverse("home"), "/valj-klinik/") or response["Location"].startswith("/"), (
        response["Location"]
    )
    assert "evil" not in response["Location"] and "javascript" not in response["Location"]


def test_the_language_switch_never_sends_anyone_to_another_site(client, db):
    response = client.post("/sprak/", {"language": "en", "next": "https://evil.test/"})
    assert response.status_code == 302
    assert "evil" not in response["Location"]


def test_the_documented_proxy_configurations_take_what_the_portal_takes_and_no_more():
    from pathlib import Path

    from portal.uploads import MAX_ATTACHMENT_UPLOAD_BYTES

    text = (Path(__file__).resolve().parents[2] / "docs" / "deployment.md").read_text()
    invoice_limit = 50 * MB + middleware.FORM_OVERHEAD_BYTES
    nginx = [int(size) * MB for size in re.findall(r"client_max_body_size (\d+)m;", text)]
    caddy = [int(size) * MB for size in re.findall(r"max_size (\d+)MiB", text)]
    for sizes in (nginx, caddy):
        general, invoice_files = sorted(sizes)
        assert MAX_ATTACHMENT_UPLOAD_BYTES <= general < 50 * MB
        assert invoice_limit <= invoice_files <= 52 * MB
    assert "fakturafil/$" in text
