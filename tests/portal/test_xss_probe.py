"""The audit's XSS probe, kept: a hostile string in every free-text field of the demo, then every page and Excel
download as each kind of user. A page must show it escaped, and a workbook as text, never as a formula."""

import io
import re

import openpyxl
import pytest
from django.apps import apps
from django.db import DatabaseError, models, transaction

from tests.portal.test_hardening import SIGNED_IN, _urls

# Starts with "=" so that a spreadsheet would take it for a formula; holds a tag that, unescaped, is markup.
HOSTILE = '=<q9 x="1">'
MARKUP = b"<q9"
APPS = {
    "portal",
    "clinics",
    "agreements",
    "eligibility",
    "claims",
    "payouts",
    "reports",
    "review",
    "billing",
    "regioninfo",
}
# Fields whose value the portal computes with (numbers, codes, keys) rather than only shows; the forms and the
# file parser refuse anything but their format, so no hostile text reaches them.
_NOT_FREE_TEXT = re.compile(
    r"email|password|personal_identity_number|sha256|code|number|account|token|file|path|language|content_type|"
    r"extension|tooth|surface|ocr|checksum|key|session|ip"
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


def _write_hostile_text() -> list[str]:
    written = []
    for model, field in _free_text_fields():
        try:
            with transaction.atomic():
                if model._default_manager.update(**{field.name: HOSTILE}):
                    written.append(f"{model.__name__}.{field.name}")
        except DatabaseError:
            pass  # an append-only log, or a field that must be unique: not one the probe can fill
    return written


def _probe(client, world, *, only=lambda route: True) -> set[str]:
    """Hostile text in every free-text field, then each page of the walk that `only` takes as each signed-in user:
    every page shows it escaped and every workbook as text. Returns the routes that showed it."""
    written = _write_hostile_text()
    assert {"Clinic.name", "Claim.comment"} <= set(written), written
    shown = set()
    for email in SIGNED_IN:
        client.force_login(world.user(email))
        for route, url, _pattern in _urls(world):
            if route in ("logga-ut/", "healthz", "readyz") or not only(route):
                continue
            response = client.get(url)
            if response.status_code != 200:
                continue
            content = b"".join(response.streaming_content) if response.streaming else response.content
            kind = response.get("Content-Type", "")
            if kind.startswith("text/html"):
                assert MARKUP not in content, f"{url} as {email} shows hostile text unescaped"
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
    return shown


@pytest.mark.slow  # every page and workbook as each signed-in user: a minute and more
def test_hostile_text_in_every_free_text_field_is_escaped_on_every_page_and_text_in_every_workbook(client, world):
    shown = _probe(client, world)
    assert len(shown) > 20, shown
    assert any(route.endswith(".xlsx") for route in shown), shown


def test_hostile_text_is_escaped_on_the_claims_pages_and_text_in_every_workbook(client, world):
    """make test-fast's part of the probe: the pages of claims (clinic and region) and every Excel download."""
    shown = _probe(client, world, only=lambda route: "rakning" in route or route.endswith(".xlsx"))
    assert {
        "klinik/<int:clinic_pk>/fakturor/rakningar/<int:claim_pk>/",
        "region/<slug:region_code>/rakningar/",
    } <= shown
    assert any(route.endswith(".xlsx") for route in shown), shown
