"""Every page that shows a personnummer logs it: each GET page of each demo role, read for personnummer.

The pages are the permission walk's (tests/test_permissions.py: every URL of the URL conf, with the demo's or
made objects for its ids), asked by each role where it may see them. Every personnummer on the page, in text or
in a form's hidden field, in the 12- or 10-digit form, with or without a dash, must have an access-log entry
written by that request, naming that person and that user. A page added later that forgets to log is found here.
"""

import re

import pytest
from django.urls import reverse

from claims.models import InvoiceFileFault, InvoiceFileState, InvoiceFileUpload
from portal.access import Access
from portal.models import AccessLogEntry

from .conftest import World
from .test_permissions import ACTORS, ALL_PATTERNS, EXPECTED, Owner, _kwargs_for

# A personnummer or samordningsnummer, not part of a longer number (as portal.validators finds them in text).
PERSONNUMMER = re.compile(r"(?<![0-9])(?:[0-9]{2})?([0-9]{6})[-+]?([0-9]{4})(?![0-9])")


def _looks_like_personnummer(yymmdd: str, last_four: str) -> bool:
    digits = yymmdd + last_four
    month, day = int(yymmdd[2:4]), int(yymmdd[4:6]) % 60 or 60
    total = sum(sum(divmod(int(d) * (2 - i % 2), 10)) for i, d in enumerate(digits))
    return 1 <= month <= 12 and 1 <= day <= 31 and total % 10 == 0


def personnummer_on(text: str) -> set[str]:
    """The personnummer on a page, as their last ten digits (YYMMDDNNNC)."""
    return {a + b for a, b in PERSONNUMMER.findall(text) if _looks_like_personnummer(a, b)}


def _home(world: World, role: str) -> Owner:
    if role in ("other_clinic_user", "other_coordinator"):
        return Owner(world.clinic2001, world.dalarna)
    return Owner(world.clinic31, world.vg)


ROLES = [role for role, actor in ACTORS.items() if actor.email]
# The Avtalsansvarig signs agreements and appoints users: no page of theirs shows a personnummer.
NO_PATIENT_DATA = {"avtalsansvarig"}
# Pages outside a clinic or region hold no patient's data (the file format's documentation shows Skatteverket's
# test numbers in its example), and could not log it: an access-log entry names the clinic or region.
OUTSIDE = {Access.PUBLIC, Access.AUTHENTICATED}


def _unlogged(client, user, url: str) -> tuple[set[str], set[str]]:
    """GET the page: (the personnummer it shows, those of them the request did not log for the user)."""
    last = AccessLogEntry.objects.order_by("-id").values_list("id", flat=True).first() or 0
    response = client.get(url)
    if response.status_code != 200 or "text/html" not in response.get("Content-Type", ""):
        return set(), set()
    shown = personnummer_on(response.content.decode())
    logged = {
        pin[2:]
        for pin in AccessLogEntry.objects.filter(id__gt=last, user=user).values_list(
            "personal_identity_number", flat=True
        )
    }
    return shown, shown - logged


def test_the_pattern_finds_each_form_and_nothing_else():
    page = "<td>20000101-2384</td> 200001012384 000101-2384 0001012384 19121212-**** 2026-12-06 5551-2345 123456789012"
    assert personnummer_on(page) == {"0001012384"}


# Each role's walk asks every page it may open (2–10 s each): `make test-fast` walks a clinic's biller and a region's
# coordinator, the two whose pages show the most patients; the other roles' walks are `slow` (make test, CI).
FAST_ROLES = {"biller", "coordinator"}


@pytest.mark.parametrize(
    "role", [pytest.param(role, marks=() if role in FAST_ROLES else (pytest.mark.slow,)) for role in ROLES]
)
def test_every_personnummer_on_every_page_is_in_the_access_log(client, world, role):
    user = world.user(ACTORS[role].email)
    client.force_login(user)
    home = _home(world, role)
    unlogged, pages_with_numbers = {}, 0
    for route, pattern in ALL_PATTERNS:
        access = getattr(pattern.callback, "access", None)
        if access in OUTSIDE or EXPECTED.get(access, {}).get(role) != "ok":
            continue
        url = reverse(pattern.name, kwargs=_kwargs_for(world, route, home=home, objects=home))
        shown, missing = _unlogged(client, user, url)
        pages_with_numbers += bool(shown)
        if missing:
            unlogged[url] = sorted(missing)
    assert unlogged == {}
    if role in NO_PATIENT_DATA:
        assert pages_with_numbers == 0
    elif home.region == world.vg:  # the demo's patients are Västra Götaland's: the walk saw patient data at all
        assert pages_with_numbers > 0


def test_the_invoice_files_error_list_logs_the_number_it_shows(client, world):
    upload = InvoiceFileUpload.objects.create(
        clinic=world.clinic31,
        uploaded_by=world.biller,
        original_name="faktura.xml",
        sha256="1" * 64,
        state=InvoiceFileState.CHECKED,
    )
    for index, pin in enumerate(["20000101-2384", "000102-2383"], start=1):
        InvoiceFileFault.objects.create(
            upload=upload, claim_index=index, clinic_number="31", personal_identity_number=pin, code="x", message="Fel"
        )
    client.force_login(world.biller)
    url = reverse("invoice_file_detail", kwargs={"clinic_pk": world.clinic31.pk, "upload_pk": upload.pk})

    shown, missing = _unlogged(client, world.biller, url)

    assert shown == {"0001012384", "0001022383"} and missing == set()
    logged = AccessLogEntry.objects.filter(user=world.biller, shown="Fakturafil: fellista")
    assert sorted(logged.values_list("personal_identity_number", flat=True)) == ["200001012384", "200001022383"]
