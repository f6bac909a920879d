"""Åtkomstlogg: a coordinator reviews who looked at a patient's data, exports the patient's extract, and is logged."""

import datetime
import io
from unittest import mock

import lxml.html
import openpyxl
import pytest
from django.utils import timezone

from portal import access_log
from portal.models import AccessLogEntry, AuditEvent
from portal.xlsx_stream import XLSX_CONTENT_TYPE
from tests.conftest import World
from tests.test_accessibility_markup import assert_accessible_markup

# Skatteverket's published test personnummer; never a real person's.
PIN = "200001012384"
PIN_FORMATTED = "20000101-2384"
OTHER_PIN = "200001022383"
URL = "/region/vg/atkomstlogg/"


def _logged_at(when: datetime.datetime, **fields) -> AccessLogEntry:
    # The table is append-only, so the time is set as the row is written: auto_now_add asks timezone.now().
    with mock.patch("django.utils.timezone.now", return_value=when):
        return AccessLogEntry.objects.create(**fields)


def _days_ago(days: int) -> datetime.datetime:
    return timezone.now() - datetime.timedelta(days=days)


@pytest.fixture
def entries(world: World) -> dict[str, AccessLogEntry]:
    """Views of the test patients: three in Västra Götaland (one long ago), one in Dalarna."""
    return {
        "vg_biller": _logged_at(
            _days_ago(2),
            user=world.biller,
            role="biller",
            clinic=world.clinic31,
            region=world.vg,
            personal_identity_number=PIN,
            shown="Sök person",
        ),
        "vg_coordinator": _logged_at(
            _days_ago(1),
            user=world.coordinator_vg,
            role="coordinator",
            clinic=None,
            region=world.vg,
            personal_identity_number=PIN,
            shown="Intyg",
        ),
        "vg_old": _logged_at(
            _days_ago(60),
            user=world.biller,
            role="biller",
            clinic=world.clinic32,
            region=world.vg,
            personal_identity_number=OTHER_PIN,
            shown="Förhandsbedömning gammal",
        ),
        "dalarna": _logged_at(
            _days_ago(3),
            user=world.dalarna_biller,
            role="biller",
            clinic=world.clinic2001,
            region=world.dalarna,
            personal_identity_number=PIN,
            shown="Dalarnas uppslag",
        ),
    }


def _rows(response) -> list[list[str]]:
    assert response.status_code == 200
    doc = lxml.html.document_fromstring(response.content)
    return [[cell.text_content().strip() for cell in row.xpath("./td")] for row in doc.xpath("//main//table/tbody/tr")]


def _search(client, user, url=URL, **data):
    client.force_login(user)
    return client.post(url, data)


# Searching by personnummer ------------------------------------------------------------------------------


def test_search_by_personnummer_shows_the_regions_entries_newest_first(client, world, entries):
    response = _search(client, world.coordinator_vg, personal_identity_number=PIN_FORMATTED)

    rows = _rows(response)
    assert [row[5] for row in rows] == ["Intyg", "Sök person"]
    coordinator_row, biller_row = rows
    assert coordinator_row[1:5] == [
        f"{world.coordinator_vg.name} (samordnare.vg@demo.test)",
        "Samordnare",
        "Västra Götaland",  # no clinic: the region
        PIN_FORMATTED,
    ]
    assert biller_row[2:5] == ["Fakturerare", str(world.clinic31), PIN_FORMATTED]
    assert biller_row[0] == f"{timezone.localtime(entries['vg_biller'].occurred_at):%Y-%m-%d %H:%M:%S}"
    assert "Dalarnas uppslag" not in response.content.decode()


def test_the_results_page_is_accessible(client, world, entries):
    response = _search(client, world.coordinator_vg, personal_identity_number=PIN)
    assert_accessible_markup(lxml.html.document_fromstring(response.content), "access log results")


def test_a_region_admin_of_the_region_may_review_too(client, world, entries):
    rows = _rows(_search(client, world.region_admin, personal_identity_number=PIN))
    assert [row[5] for row in rows] == ["Intyg", "Sök person"]


def test_search_by_personnummer_is_itself_in_the_access_log(client, world, entries):
    _search(client, world.coordinator_vg, personal_identity_number=PIN_FORMATTED)

    entry = AccessLogEntry.objects.get(shown="Åtkomstlogg: sökning")
    assert entry.user == world.coordinator_vg
    assert entry.role == "coordinator"
    assert entry.region == world.vg
    assert entry.clinic is None
    assert entry.personal_identity_number == PIN
    assert PIN not in entry.path and PIN_FORMATTED not in entry.path


def test_many_hits_are_shown_a_page_at_a_time_by_posted_cursors(client, world, entries, monkeypatch):
    monkeypatch.setattr(access_log, "PAGE_SIZE", 1)
    response = _search(client, world.coordinator_vg, personal_identity_number=PIN)
    assert [row[5] for row in _rows(response)] == ["Intyg"]

    # The next page is a posted form that carries the search again, never a link with the personnummer in it.
    doc = lxml.html.document_fromstring(response.content)
    (form,) = doc.xpath("//nav[contains(@class,'pagination')]//form[.//button[normalize-space()='Nästa sida']]")
    assert form.get("method") == "post" and form.get("action") == URL
    fields = {field.get("name"): field.get("value") for field in form.xpath(".//input[@type='hidden']")}
    assert fields["personal_identity_number"] and fields["cursor"]
    second = client.post(URL, fields)
    assert [row[5] for row in _rows(second)] == ["Sök person"]
    assert not lxml.html.document_fromstring(second.content).xpath("//button[normalize-space()='Nästa sida']")


def test_a_page_holds_fifty_hits_each_with_who_where_and_what(client, world):
    """50 rows a page, as the other long lists (each row's patient is logged as seen); a row reads only the names
    it shows of the user, clinic and region, and says each in words."""
    AccessLogEntry.objects.bulk_create(
        AccessLogEntry(
            user=world.biller,
            role="biller",
            clinic=world.clinic31,
            region=world.vg,
            personal_identity_number=PIN,
            shown=f"Räkning R{number}: åtgärder och historik",
            shown_kind="claim",
            shown_params={"reference": f"R{number}"},
        )
        for number in range(51)
    )
    rows = _rows(_search(client, world.coordinator_vg, personal_identity_number=PIN))
    assert len(rows) == access_log.PAGE_SIZE == 50
    user = f"{world.biller.name} ({world.biller.email})" if world.biller.name else world.biller.email
    assert rows[0][1:] == [
        user,
        "Fakturerare",
        f"{world.clinic31.number} {world.clinic31.name}",
        PIN_FORMATTED,
        "Räkning R50: åtgärder och historik",
    ]


# Searching by user and period ---------------------------------------------------------------------------


def test_search_by_user_shows_only_entries_in_the_period(client, world, entries):
    # The default period is the last 30 days; the e-mail address is matched whatever its case.
    response = _search(client, world.coordinator_vg, user_email="Fakturerare@Demo.test")
    assert [row[5] for row in _rows(response)] == ["Sök person"]

    sixty_days_ago = timezone.localdate() - datetime.timedelta(days=60)
    response = _search(
        client,
        world.coordinator_vg,
        user_email="fakturerare@demo.test",
        date_from=(sixty_days_ago - datetime.timedelta(days=1)).isoformat(),
        date_to=(sixty_days_ago + datetime.timedelta(days=1)).isoformat(),
    )
    rows = _rows(response)
    assert [row[5] for row in rows] == ["Förhandsbedömning gammal"]
    assert rows[0][3:5] == [str(world.clinic32), "20000102-2383"]


def test_search_by_user_is_recorded_in_the_audit_log(client, world, entries):
    before = AccessLogEntry.objects.count()
    date_from, date_to = datetime.date(2024, 1, 1), timezone.localdate()

    _search(
        client,
        world.coordinator_vg,
        user_email="fakturerare@demo.test",
        date_from=date_from.isoformat(),
        date_to=date_to.isoformat(),
    )

    event = AuditEvent.objects.get(action="portal.access_log.searched")
    assert event.actor == world.coordinator_vg
    assert (event.object_type, event.object_id) == ("clinics.user", str(world.biller.pk))
    assert event.region_id == world.vg.pk
    assert event.after == {"from": "2024-01-01", "to": date_to.isoformat(), "export": False}
    # No single patient was searched for, but the page showed the personnummer the user looked at: each is logged.
    shown = set(
        AccessLogEntry.objects.filter(user=world.biller, region=world.vg).values_list(
            "personal_identity_number", flat=True
        )
    )
    logged = AccessLogEntry.objects.filter(user=world.coordinator_vg, shown="Åtkomstlogg: sökning")
    assert AccessLogEntry.objects.count() == before + len(shown)
    assert sorted(logged.values_list("personal_identity_number", flat=True)) == sorted(shown)


def test_unknown_user_is_a_form_error(client, world, entries):
    response = _search(client, world.coordinator_vg, user_email="ingen@demo.test")
    body = response.content.decode()
    assert "Det finns ingen användare med den e-postadressen." in body
    assert 'value="ingen@demo.test"' in body
    assert not AuditEvent.objects.filter(action="portal.access_log.searched").exists()


# The form -----------------------------------------------------------------------------------------------


def test_an_empty_search_says_what_is_missing_and_keeps_the_input(client, world, entries):
    response = _search(client, world.coordinator_vg, personal_identity_number="", date_from="2024-03-01")

    assert response.status_code == 200
    doc = lxml.html.document_fromstring(response.content)
    summary = doc.xpath("//*[contains(@class, 'error-summary')]")[0]
    assert "Ange ett personnummer eller en användares e-postadress." in summary.text_content()
    assert summary.xpath(".//a[@href='#id_personal_identity_number']")
    assert doc.xpath("//input[@name='date_from']")[0].get("value") == "2024-03-01"
    assert not doc.xpath("//main//table")
    assert_accessible_markup(doc, "access log after an empty search")


def test_the_period_must_not_end_before_it_starts(client, world, entries):
    response = _search(
        client, world.coordinator_vg, personal_identity_number=PIN, date_from="2024-03-10", date_to="2024-03-01"
    )
    assert "Slutdatum kan inte ligga före startdatum." in response.content.decode()
    assert not AccessLogEntry.objects.filter(shown__startswith="Åtkomstlogg").exists()


def test_the_form_offers_the_last_30_days(client, world):
    client.force_login(world.coordinator_vg)
    doc = lxml.html.document_fromstring(client.get(URL).content)
    today = timezone.localdate()
    assert doc.xpath("//input[@name='date_from']")[0].get("value") == str(today - datetime.timedelta(days=30))
    assert doc.xpath("//input[@name='date_to']")[0].get("value") == str(today)


def test_the_personnummer_never_travels_in_the_url(client, world, entries):
    client.force_login(world.coordinator_vg)
    doc = lxml.html.document_fromstring(client.get(URL).content)
    (form,) = doc.xpath("//main//form[.//input[@name='personal_identity_number']]")
    assert form.get("method") == "post"
    assert form.get("action") == URL

    # A search put in the query string is not carried out.
    response = client.get(URL, {"personal_identity_number": PIN})
    (main,) = lxml.html.document_fromstring(response.content).xpath("//main")
    text = lxml.html.tostring(main, encoding="unicode")
    assert PIN not in text and PIN_FORMATTED not in text
    assert not main.xpath(".//table")
    assert not AccessLogEntry.objects.filter(shown__startswith="Åtkomstlogg").exists()


# Export -------------------------------------------------------------------------------------------------


def _content(response) -> bytes:
    # Streamed as it is written (portal.xlsx_stream), whatever its size.
    assert response.streaming
    return b"".join(response.streaming_content)


def _workbook_rows(response) -> list[tuple]:
    workbook = openpyxl.load_workbook(io.BytesIO(_content(response)))
    # Every row comes padded to the widest; drop the empty cells at the end.
    rows = []
    for row in workbook.active.iter_rows(values_only=True):
        row = list(row)
        while row and row[-1] is None:
            row.pop()
        rows.append(tuple(row))
    return rows


def test_export_is_an_excel_file_with_the_same_rows(client, world, entries):
    response = _search(client, world.coordinator_vg, personal_identity_number=PIN_FORMATTED, export="1")

    assert response.status_code == 200
    assert response["Content-Type"] == XLSX_CONTENT_TYPE
    disposition = response["Content-Disposition"]
    assert disposition.startswith('attachment; filename="atkomstlogg-vg-') and disposition.endswith('.xlsx"')
    assert PIN not in disposition and "20000101" not in disposition
    assert "no-store" in response["Cache-Control"]

    rows = _workbook_rows(response)
    assert rows[0] == ("Åtkomstlogg för Västra Götaland",)
    assert PIN_FORMATTED in rows[1][0] and rows[1][0].startswith("Sökning:")
    assert rows[2][0].startswith("Exporterad ") and "samordnare.vg@demo.test" in rows[2][0]
    header = rows.index(("Tidpunkt", "Användare", "Roll", "Klinik", "Personnummer", "Visat"))
    data = rows[header + 1 :]
    assert [row[5] for row in data] == ["Intyg", "Sök person"]
    assert data[1][1:5] == (
        f"{world.biller.name} (fakturerare@demo.test)",
        "Fakturerare",
        str(world.clinic31),
        PIN_FORMATTED,
    )
    expected_time = timezone.localtime(entries["vg_biller"].occurred_at).replace(tzinfo=None, microsecond=0)
    assert data[1][0] == expected_time


def test_export_is_itself_logged(client, world, entries):
    _search(client, world.coordinator_vg, personal_identity_number=PIN, export="1")
    entry = AccessLogEntry.objects.get(shown="Åtkomstlogg: export")
    assert (entry.user, entry.region, entry.personal_identity_number) == (world.coordinator_vg, world.vg, PIN)

    _search(client, world.coordinator_vg, user_email="fakturerare@demo.test", export="1")
    event = AuditEvent.objects.get(action="portal.access_log.searched")
    assert event.after["export"] is True


def test_export_keeps_text_that_looks_like_a_formula_as_text(client, world):
    _logged_at(
        _days_ago(1),
        user=world.biller,
        role="biller",
        clinic=world.clinic31,
        region=world.vg,
        personal_identity_number=PIN,
        shown='=HYPERLINK("http://example.test")',
    )
    response = _search(client, world.coordinator_vg, personal_identity_number=PIN, export="1")
    workbook = openpyxl.load_workbook(io.BytesIO(_content(response)))
    cells = [
        cell for row in workbook.active.iter_rows() for cell in row if cell.value == '=HYPERLINK("http://example.test")'
    ]
    assert cells and all(cell.data_type == "s" for cell in cells)


def test_export_reads_the_log_in_chunks_without_losing_or_repeating_a_row(client, world, monkeypatch):
    monkeypatch.setattr(access_log, "EXPORT_CHUNK", 2)
    moment = _days_ago(1)
    pins = [PIN, OTHER_PIN, "200001032382", PIN, OTHER_PIN]
    for number, pin in enumerate(pins):
        # Two rows at each moment: the id orders them, as the cursor does.
        _logged_at(
            moment - datetime.timedelta(minutes=number // 2),
            user=world.biller,
            role="biller",
            clinic=world.clinic31,
            region=world.vg,
            personal_identity_number=pin,
            shown=f"Rad {number}",
        )
    before = AccessLogEntry.objects.count()
    response = _search(client, world.coordinator_vg, user_email="fakturerare@demo.test", export="1")
    rows = _workbook_rows(response)
    data = rows[rows.index(("Tidpunkt", "Användare", "Roll", "Klinik", "Personnummer", "Visat")) + 1 :]
    # Newest first: within a moment the later row (the larger id) first.
    assert [row[5] for row in data] == ["Rad 1", "Rad 0", "Rad 3", "Rad 2", "Rad 4"]
    # Each patient in the file is logged once, as their chunk was written.
    logged = AccessLogEntry.objects.order_by("id")[before:]
    assert sorted(entry.personal_identity_number for entry in logged) == sorted(set(pins))
    assert {entry.shown for entry in logged} == {"Åtkomstlogg: export"}


def test_an_export_past_its_cap_says_so_at_its_end(client, world, entries, monkeypatch):
    monkeypatch.setattr(access_log, "EXPORT_MAX_ROWS", 1)
    rows = _workbook_rows(_search(client, world.coordinator_vg, personal_identity_number=PIN, export="1"))
    header = rows.index(("Tidpunkt", "Användare", "Roll", "Klinik", "Personnummer", "Visat"))
    assert [row[5] for row in rows[header + 1 : header + 2]] == ["Intyg"]
    assert rows[-1][0].startswith("Urvalet har fler än 1 rader; de 1 senaste är med.")


# Who may see what ---------------------------------------------------------------------------------------


def test_a_biller_gets_404(client, world, entries):
    client.force_login(world.biller)
    assert client.get(URL).status_code == 404
    assert client.post(URL, {"personal_identity_number": PIN}).status_code == 404
    assert not AccessLogEntry.objects.filter(shown__startswith="Åtkomstlogg").exists()


def test_the_dalarna_coordinator_sees_none_of_vastra_gotalands_entries(client, world, entries):
    client.force_login(world.coordinator_dalarna)
    assert client.post(URL, {"personal_identity_number": PIN}).status_code == 404

    response = client.post("/region/dalarna/atkomstlogg/", {"personal_identity_number": PIN})
    assert [row[5] for row in _rows(response)] == ["Dalarnas uppslag"]
    body = response.content.decode()
    assert "Sök person" not in body and str(world.clinic31) not in body

    export = client.post("/region/dalarna/atkomstlogg/", {"personal_identity_number": PIN, "export": "1"})
    data = [row for row in _workbook_rows(export) if row and row[-1] in {"Intyg", "Sök person", "Dalarnas uppslag"}]
    assert [row[-1] for row in data] == ["Dalarnas uppslag"]
