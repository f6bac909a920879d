"""The coordinator's start page and its Excel exports, as a coordinator of a region of their own sees them."""

import datetime
import io
from decimal import Decimal

import lxml.html
import openpyxl
import pytest
from django.utils import timezone

from claims.models import ClaimState
from clinics.models import Region, RegionRole, SupportForm, User
from eligibility.models import PriorAssessmentState
from tests.clinics.factories import ClinicFactory, RegionFactory, RegionMembershipFactory, UserFactory
from tests.eligibility.factories import PriorAssessmentFactory
from tests.kept import kept

from .factories import STOCKHOLM, received_claim

N, F, S = SupportForm.N, SupportForm.F, SupportForm.S
TILE_COUNT = "contains(concat(' ', @class, ' '), ' tile__count ')"  # a tile's headline figure


def _month_start(months_ago: int) -> datetime.date:
    today = timezone.localdate()
    index = today.year * 12 + today.month - 1 - months_ago
    return datetime.date(index // 12, index % 12 + 1, 1)


def _moment(months_ago: int, day: int = 1, hour: int = 10) -> datetime.datetime:
    return datetime.datetime.combine(_month_start(months_ago).replace(day=day), datetime.time(hour), tzinfo=STOCKHOLM)


def _setting() -> tuple[Region, User]:
    """A region with two clinics, claims this month and two months ago, and one in another region."""
    region = RegionFactory(code="testregion", name="Testregionen")
    big = ClinicFactory(region=region, number="501", name="Stora <Tandkliniken>")
    small = ClinicFactory(region=region, number="77", name="Lilla Tandkliniken")
    received_claim(big, _moment(0, hour=0), 123_456, N)
    received_claim(big, _moment(0), 10_001, F, state=ClaimState.UNDER_REVIEW)
    received_claim(small, _moment(2, day=15), 98_099, S, state=ClaimState.PAID)
    received_claim(small, _moment(2, day=16), 50_000, S, state=ClaimState.VOIDED)
    received_claim(big, _moment(2, day=16), 70_000, N, state=ClaimState.DELETED)
    received_claim(ClinicFactory(region=RegionFactory()), _moment(0), 555_555, N)
    PriorAssessmentFactory(clinic=small, state=PriorAssessmentState.SUBMITTED)
    coordinator = UserFactory(email="samordnare@testregion.test")
    RegionMembershipFactory(user=coordinator, region=region, role=RegionRole.COORDINATOR)
    return region, coordinator


# The same rows for each test of the start page and exports: made once per module (tests/kept.py).
setting_made = kept(_setting, "setting_made")


@pytest.fixture
def setting(setting_made, db) -> tuple[Region, User]:
    return setting_made.fresh()


@pytest.fixture
def coordinator(client, setting):
    client.force_login(setting[1])
    return client


def _doc(response):
    assert response.status_code == 200
    return lxml.html.document_fromstring(response.content)


def _table(doc, caption: str) -> dict[str, list[str]]:
    (table,) = doc.xpath("//table[caption[normalize-space()=$caption]]", caption=caption)
    rows = {}
    for row in table.xpath(".//tr[th[@scope='row']]"):
        cells = [cell.text_content().strip() for cell in row.xpath("./th|./td")]
        rows[cells[0]] = cells[1:]
    return rows


def _month_name(months_ago: int) -> str:
    from django.utils.formats import date_format

    return date_format(_month_start(months_ago), "F Y")


def test_tiles_show_what_waits_and_lead_to_the_fhb_queue(coordinator):
    doc = _doc(coordinator.get("/region/testregion/"))
    tiles = {
        tile.xpath("./h3")[0].text_content().strip(): tile.text_content() for tile in doc.xpath("//li[@class='tile']")
    }
    assert list(tiles) == [
        "Räkningar under behandling",
        "Räkningar under granskning",
        "Besvarade frågor att granska",
        "Försenade återbetalningar",
        "Förhandsbedömningar att bedöma",
        "Nästa utbetalningskörning",
    ]
    assert "1234,56kr" in tiles["Räkningar under behandling"].replace("\xa0", "")
    assert "100,01\xa0kr" in tiles["Räkningar under granskning"]
    # Came in at midnight Swedish time on the 1st: the day before in UTC, the 1st on screen.
    assert f"Äldsta inkom: {_month_start(0).isoformat()}" in tiles["Räkningar under behandling"]
    assert "Äldsta inskickad" in tiles["Förhandsbedömningar att bedöma"]
    counts = [p.text_content() for p in doc.xpath(f"//li[@class='tile']/p[{TILE_COUNT}]")]
    assert counts == ["1", "1", "0", "0", "1", "Ingen planerad"]
    links = [link.get("href") for link in doc.xpath("//li[@class='tile']//a")]
    assert links == [
        "/region/testregion/rakningar/?state=received",
        "/region/testregion/rakningar/?state=under_review",
        "/region/testregion/rakningar/?queue=&question=answered",
        "/region/testregion/aterbetalningar/?forsenade=1",
        "/region/testregion/forhandsbedomningar/",
        "/region/testregion/utbetalningar/ny/",
    ]


def test_the_next_payout_run_tile_shows_the_earliest_planned_run(coordinator, setting):
    from payouts.models import PayoutRun

    region, user = setting
    today = timezone.localdate()
    later = PayoutRun.objects.create(
        region=region, payout_date=today + datetime.timedelta(days=20), created_by=user, claim_count=1
    )
    PayoutRun.objects.create(region=region, payout_date=today - datetime.timedelta(days=3), created_by=user)
    soon = PayoutRun.objects.create(
        region=region,
        payout_date=today + datetime.timedelta(days=6),
        created_by=user,
        claim_count=3,
        gross_total=150_000,
        set_off_total=25_000,
        net_total=125_000,
    )

    doc = _doc(coordinator.get("/region/testregion/"))

    (tile,) = doc.xpath("//li[@class='tile'][h3[normalize-space()='Nästa utbetalningskörning']]")
    assert tile.xpath(f"./p[{TILE_COUNT}]")[0].text_content().strip() == soon.payout_date.isoformat()
    text = " ".join(tile.text_content().split()).replace("\xa0", " ")
    assert "3 räkningar" in text and "Att betala ut: 1 250 kr" in text
    assert tile.xpath(".//a")[0].get("href") == f"/region/testregion/utbetalningar/{soon.pk}/"
    assert later.payout_date > soon.payout_date


def test_the_month_table_has_every_month_to_the_ore(coordinator):
    doc = _doc(coordinator.get("/region/testregion/"))
    rows = _table(doc, "Belopp per månad och stödform")
    assert len(rows) == 13  # twelve months and the total
    assert rows[_month_name(0)] == ["1\xa0234,56\xa0kr", "100,01\xa0kr", "0\xa0kr", "1\xa0334,57\xa0kr", "2"]
    assert rows[_month_name(1)] == ["0\xa0kr", "0\xa0kr", "0\xa0kr", "0\xa0kr", "0"]
    assert rows[_month_name(2)] == ["0\xa0kr", "0\xa0kr", "980,99\xa0kr", "980,99\xa0kr", "1"]
    assert rows["Summa"] == ["1\xa0234,56\xa0kr", "100,01\xa0kr", "980,99\xa0kr", "2\xa0315,56\xa0kr", "3"]
    assert next(iter(rows)) == _month_name(11)


def test_the_clinic_table_lists_the_clinics_largest_first(coordinator):
    doc = _doc(coordinator.get("/region/testregion/"))
    rows = _table(doc, "Belopp per klinik och stödform")
    assert list(rows) == ["501 Stora <Tandkliniken>", "77 Lilla Tandkliniken", "Summa"]
    assert rows["501 Stora <Tandkliniken>"] == [
        "1\xa0234,56\xa0kr",
        "100,01\xa0kr",
        "0\xa0kr",
        "1\xa0334,57\xa0kr",
        "2",
    ]
    assert rows["Summa"][3] == "2\xa0315,56\xa0kr"


def test_the_clinic_table_shows_the_largest_clinics_and_the_others_in_one_row(coordinator, monkeypatch):
    """A region of hundreds of clinics: the table holds TABLE_CLINICS of them and one row for the rest (the page
    stays small); the total is every clinic's, and the Excel file lists them all."""
    monkeypatch.setattr("reports.views.TABLE_CLINICS", 1)
    doc = _doc(coordinator.get("/region/testregion/"))
    rows = _table(doc, "Belopp per klinik och stödform")
    assert list(rows) == ["501 Stora <Tandkliniken>", "Övriga 1 kliniker", "Summa"]
    assert rows["Övriga 1 kliniker"][3] == "980,99\xa0kr"
    assert rows["Summa"][3] == "2\xa0315,56\xa0kr"
    assert "tabellen de 1 största och övriga tillsammans" in " ".join(doc.text_content().split())


def test_each_chart_is_an_accessible_image_with_its_table_beside_it(coordinator):
    response = coordinator.get("/region/testregion/")
    doc = _doc(response)
    charts = doc.xpath("//svg[contains(@class, 'chart') and @role='img']")
    assert len(charts) == 2
    for chart in charts:
        (title,) = chart.xpath("./title")
        (description,) = chart.xpath("./desc")
        assert chart.get("aria-labelledby") == title.get("id")
        assert chart.get("aria-describedby") == description.get("id")
        assert "tabellen" in description.text_content()
        # The figures are in a real table right after the chart's figure (in its scroll region on a narrow screen).
        figure = chart.getparent()
        assert figure.tag == "figure"
        beside = figure.getnext()
        assert beside.get("class") == "table-scroll" and beside.xpath("./table")
        assert figure.xpath(".//ul[@class='chart-legend']/li")
        # Each bar part is told apart by its pattern too: solid N, striped F, dotted S.
        fills = {rect.get("fill") for rect in chart.xpath(".//rect")}
        assert fills <= {"#005a8c", "url(#chart-pattern-F)", "url(#chart-pattern-S)"}
    assert doc.xpath("//pattern[@id='chart-pattern-F']") and doc.xpath("//pattern[@id='chart-pattern-S']")
    # A clinic's name is text in the chart, never markup.
    assert b"Stora &lt;Tandkliniken&gt;" in response.content
    assert b"<Tandkliniken>" not in response.content


def test_the_month_chart_describes_the_highest_month(coordinator):
    doc = _doc(coordinator.get("/region/testregion/"))
    (description,) = doc.xpath("//desc[@id='chart-months-desc']")
    assert "1\xa0334,57\xa0kr" in description.text_content()


def test_the_page_keeps_a_link_to_the_regions_rules_and_clinics(coordinator):
    doc = _doc(coordinator.get("/region/testregion/"))
    assert doc.xpath("//main//a[@href='/region/testregion/kliniker/']")
    (current,) = doc.xpath("//nav[contains(@class, 'main-nav')]//a[@aria-current='page']")
    assert current.text_content() == "Startsida"
    clinics = _doc(coordinator.get("/region/testregion/kliniker/"))
    (current,) = clinics.xpath("//nav[contains(@class, 'main-nav')]//a[@aria-current='page']")
    assert (current.text_content(), current.get("href")) == ("Kliniker", "/region/testregion/kliniker/")
    assert {"501", "77"} <= {cell.text_content() for cell in clinics.xpath("//table//td[1]")}
    assert "Faktureringsfrist" in clinics.text_content()


def test_the_start_page_runs_the_same_queries_for_few_and_many_claims(client, setting, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    region, coordinator = setting
    client.force_login(coordinator)
    counts = []
    for extra in (0, 40):
        for index in range(extra):
            received_claim(ClinicFactory(region=region), _moment(index % 12, day=3), 1_00 + index, [N, F, S][index % 3])
        # Session, user, region membership, service window, the person's places (for "Byt klinik"), the bell's
        # unread count; claims waiting (their figures, the first of each state, the oldest of their days), FHBs
        # waiting, next payout run, months, clinics; the answered questions and the overdue repayments.
        with django_assert_max_num_queries(15), CaptureQueriesContext(connection) as queries:
            assert client.get("/region/testregion/").status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]


def _workbook_rows(response, sheet: str) -> list[tuple]:
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert "attachment" in response["Content-Disposition"]
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    return list(book[sheet].iter_rows(values_only=True))


def _ore(value) -> int:
    return int(Decimal(str(value)) * 100)


def _after_heading(rows: list[tuple], first_heading: str) -> list[tuple]:
    index = next(index for index, row in enumerate(rows) if row and row[0] == first_heading)
    return rows[index:]


def test_excel_per_month_has_the_tables_figures(coordinator):
    response = coordinator.get("/region/testregion/rapporter/belopp-per-manad.xlsx")
    rows = _workbook_rows(response, "Per månad")
    assert rows[0][0] == "Belopp per månad och stödform, Testregionen"
    first, last = _month_start(11), _month_start(0)
    assert f"Period {first.isoformat()}–" in rows[1][0]
    assert "makulerade" in rows[2][0]
    table = _after_heading(rows, "Månad")
    assert table[0] == (
        "Månad",
        "N-tandvård (kr)",
        "F-tandvård (kr)",
        "S-tandvård (kr)",
        "Totalt (kr)",
        "Antal räkningar",
    )
    body = {row[0]: (*(_ore(value) for value in row[1:5]), row[5]) for row in table[1:]}
    assert list(body)[:12] == [f"{_month_start(ago):%Y-%m}" for ago in range(11, -1, -1)]
    assert body[f"{last:%Y-%m}"] == (123_456, 10_001, 0, 133_457, 2)
    assert body[f"{_month_start(2):%Y-%m}"] == (0, 0, 98_099, 98_099, 1)
    assert body[f"{_month_start(1):%Y-%m}"] == (0, 0, 0, 0, 0)
    assert body["Summa"] == (123_456, 10_001, 98_099, 231_556, 3)
    assert f"belopp-per-manad-testregion-{first:%Y%m}-{last:%Y%m}.xlsx" in response["Content-Disposition"]


def test_excel_per_clinic_has_every_clinic_and_the_sum(coordinator):
    rows = _workbook_rows(coordinator.get("/region/testregion/rapporter/belopp-per-klinik.xlsx"), "Per klinik")
    assert rows[0][0] == "Belopp per klinik och stödform, Testregionen"
    table = _after_heading(rows, "Kliniknummer")
    assert table[0][:3] == ("Kliniknummer", "Klinik", "N-tandvård (kr)")
    body = [(row[0], row[1], *(_ore(value) for value in row[2:6]), row[6]) for row in table[1:]]
    assert body == [
        ("501", "Stora <Tandkliniken>", 123_456, 10_001, 0, 133_457, 2),
        ("77", "Lilla Tandkliniken", 0, 0, 98_099, 98_099, 1),
        ("Summa", None, 123_456, 10_001, 98_099, 231_556, 3),
    ]


def test_the_exports_are_the_coordinators_region_only(client, setting, world):
    client.force_login(world.coordinator_vg)
    assert client.get("/region/testregion/rapporter/belopp-per-klinik.xlsx").status_code == 404
    rows = _workbook_rows(client.get("/region/vg/rapporter/belopp-per-klinik.xlsx"), "Per klinik")
    numbers = {row[0] for row in _after_heading(rows, "Kliniknummer")[1:]}
    assert numbers <= {"31", "32", "Summa"}
