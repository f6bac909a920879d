"""The audit's XSS probe, kept: a hostile string in every free-text field of the demo, then every page and Excel
download as each kind of user. A page must show it escaped, and a workbook as text, never as a formula."""

import datetime
import io
import re

import openpyxl
import pytest
from django.apps import apps
from django.db import DatabaseError, models, transaction
from django.urls import reverse
from django.utils import timezone

from agreements.services import agreement_publish
from onboarding.models import ClinicApplication
from onboarding.services import application_token
from tests.portal.test_hardening import SIGNED_IN, _urls
from tests.project_apps import BASE_DIR, app_folders, project_apps
from tests.test_permissions import ALL_PATTERNS

# Starts with "=" so that a spreadsheet would take it for a formula; holds a tag that, unescaped, is markup.
HOSTILE = '=<q9 x="1">'
MARKUP = b"<q9"
APPS = set(project_apps())
# Fields whose value the portal computes with (numbers, codes, keys) rather than only shows; the forms and the
# file parser refuse anything but their format, so no hostile text reaches them.
_NOT_FREE_TEXT = re.compile(
    r"email|password|personal_identity_number|sha256|code|number|account|token|file|path|language|content_type|"
    r"extension|tooth|surface|ocr|checksum|key|session|ip|role|fingerprint"
)


def _free_text_fields():
    for model in apps.get_models():
        if model._meta.app_label not in APPS or model._meta.proxy:
            continue
        for field in model._meta.get_fields():
            if not isinstance(field, models.CharField | models.TextField) or field.choices or field.primary_key:
                continue
            if _NOT_FREE_TEXT.search(field.name) or (field.max_length or 1000) < len(HOSTILE):
                continue
            yield model, field


def _write_hostile_text(world) -> list[tuple[str, str]]:
    """Every free-text field of every row of the project's models set to the hostile text: the (app, field) written."""
    written = []
    for model, field in _free_text_fields():
        try:
            with transaction.atomic():
                if model._default_manager.update(**{field.name: HOSTILE}):
                    written.append((model._meta.app_label, f"{model.__name__}.{field.name}"))
        except DatabaseError:
            pass  # an append-only table, or a field that must be unique: not one the probe can fill by updating
    # An agreement is append-only (never edited): the region publishes a version in hostile words instead.
    today = timezone.localdate()
    agreement_publish(
        actor=world.region_admin,
        region=world.vg,
        title=HOSTILE,
        text=HOSTILE,
        valid_from=today,
        sign_by=today + datetime.timedelta(days=30),
    )
    written.append(("agreements", "AgreementVersion.title"))
    return written


def _app_of(pattern) -> str:
    return pattern.callback.__module__.split(".")[0]


def _pages(client, world, only):
    """Each page of the walk that `only` takes as each signed-in user and then as nobody (the public pages), and the
    confirmation link of an application with a genuine token, which the walk's made-up token does not open. A page
    `only` leaves out is not even given its objects."""
    for email in [*SIGNED_IN, None]:
        if email:
            client.force_login(world.user(email))
        else:
            client.logout()
        for route, url, pattern in _urls(world, only):
            if route not in ("logga-ut/", "healthz", "readyz"):
                yield route, url, pattern, email
    route = "ansok-om-anslutning/bekrafta/<str:token>/"
    if only(route):
        application = ClinicApplication.objects.order_by("pk").first()
        url = reverse("application_confirm", kwargs={"token": application_token(application)})
        yield route, url, dict(ALL_PATTERNS)[route], None


def _probe(client, world, *, only=lambda route: True) -> tuple[set[str], set[str]]:
    """Hostile text in every free-text field, then each page of the walk that `only` takes: every page shows it
    escaped and every workbook as text. Returns the apps whose pages opened and the routes that showed the text."""
    written = _write_hostile_text(world)
    assert {"Clinic.name", "Claim.comment"} <= {name for _app, name in written}, written
    # Every app of ours with free text has rows of it in the demo, or its pages would show the probe nothing.
    with_free_text = {model._meta.app_label for model, _field in _free_text_fields()}
    assert with_free_text - {app for app, _name in written} == set(), written
    opened, shown = set(), set()
    for route, url, pattern, email in _pages(client, world, only):
        response = client.get(url)
        if response.status_code != 200:
            continue
        opened.add(_app_of(pattern))
        content = b"".join(response.streaming_content) if response.streaming else response.content
        kind = response.get("Content-Type", "")
        if kind.startswith("text/html"):
            assert MARKUP not in content, f"{url} as {email or 'anonymous'} shows hostile text unescaped"
            if b"&lt;q9" in content:
                shown.add(route)
        elif "spreadsheetml" in kind:
            workbook = openpyxl.load_workbook(io.BytesIO(content))
            for sheet in workbook.worksheets:
                for row in sheet.iter_rows():
                    for cell in row:
                        if isinstance(cell.value, str) and "<q9" in cell.value:
                            assert cell.data_type == "s", f"{url}: {cell.coordinate} is a formula"
                            shown.add(route)
    return opened, shown


def test_the_probes_and_walks_reach_every_app_of_ours():
    """The probe's apps are the app registry's; this fails if an app of ours is not installed (so not probed) or
    has pages the URL walk (permissions, access log, hardening, this probe) does not find."""
    assert app_folders() == set(project_apps()) == APPS
    assert {"notifications", "onboarding", "privacy", "agreements", "regioninfo"} <= APPS
    with_urls = {app for app in APPS if (BASE_DIR / app / "urls.py").exists()}
    assert with_urls <= {_app_of(pattern) for _route, pattern in ALL_PATTERNS}


@pytest.mark.slow  # every page and workbook as each signed-in user: a minute and more
def test_hostile_text_in_every_free_text_field_is_escaped_on_every_page_and_text_in_every_workbook(client, world):
    opened, shown = _probe(client, world)
    assert len(shown) > 20, shown
    assert any(route.endswith(".xlsx") for route in shown), shown
    # Every app of ours with pages had pages opened, and the pages of the apps added last show the text.
    assert APPS & {_app_of(pattern) for _route, pattern in ALL_PATTERNS} <= opened
    assert {
        "region/<slug:region_code>/ansokningar/",
        "ansok-om-anslutning/bekrafta/<str:token>/",
        "region/<slug:region_code>/avtal/",
        "klinik/<int:clinic_pk>/dokument/",
    } <= shown, shown


def test_hostile_text_is_escaped_on_the_claims_pages_and_text_in_every_workbook(client, world):
    """make test-fast's part of the probe: the pages of claims (clinic and region) and every Excel download."""
    _opened, shown = _probe(client, world, only=lambda route: "rakning" in route or route.endswith(".xlsx"))
    assert {
        "klinik/<int:clinic_pk>/fakturor/rakningar/<int:claim_pk>/",
        "region/<slug:region_code>/rakningar/",
    } <= shown
    assert any(route.endswith(".xlsx") for route in shown), shown
