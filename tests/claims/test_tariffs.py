"""Ersättningslistor: importing a version from CSV or Excel all or nothing, comparing it with the previous one,
the clinic's searchable list, tenancy, and the demo's four versions.

Importing and comparing run in a small world of the test's own. The pages are walked as the demo's people on
the demo's lists: the demo reads in each region's list for last year and for this year, by the year of the day
it loads (see portal/demo/): the years here are relative to today, and a new version is uploaded for next year."""

import datetime
import io
from collections import Counter

import lxml.html
import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.template import Context, Template
from django.urls import reverse
from django.utils import timezone, translation

from claims import tariffs
from claims.models import PATIENT_FEE_CODE, TariffRow, TariffVersion
from portal.demo import DEMO_TARIFFS, _load_tariffs, demo_load
from portal.models import AuditEvent
from tests.claims.factories import standard_tariff

HEADER = ["Åtgärd", "Benämning", "Pris", "Kräver", "Stödformer", "Förhandsbedömning"]
ROWS = [
    ["patAvg", "Patientavgift (ange pris)", "", "", "N,F,S", "nej"],
    ["101", "Basundersökning och diagnostik, utförd av tandläkare", "980", "", "N,F,S", "nej"],
    ["401", "Tanduttagning, en tand", "1 260", "tand", "N, F, S", "nej"],
    ["825", "Komplicerad partiell protes med metallskelett", "12705", "käke", "N,F,S", "nej"],
    ["825S", "Komplicerad partiell protes med metallskelett, S-tandvård", "15195,50", "Käke", "S", "ja"],
    ["901", "Tandtekniska kostnader, faktisk kostnad", "", "", "N,F", ""],
]
THIS_YEAR = timezone.localdate().year
LAST_YEAR, NEXT_YEAR = THIS_YEAR - 1, THIS_YEAR + 1
# The year an upload adds a version for: after this year's list (the demo's, or standard_tariff's).
JAN_NEXT, DEC_NEXT = datetime.date(NEXT_YEAR, 1, 1), datetime.date(NEXT_YEAR, 12, 31)


def csv_bytes(rows, *, header=HEADER, delimiter=";") -> bytes:
    lines = [delimiter.join(header), *(delimiter.join(row) for row in rows)]
    return ("\ufeff" + "\r\n".join(lines) + "\r\n").encode("utf-8")


def xlsx_bytes(rows, *, header=HEADER) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


@pytest.fixture
def upload(small_world):
    """Import a file into a region (the small world's unless told) as its coordinator."""

    def run(content: bytes, *, name="taxa.csv", valid_from=JAN_NEXT, valid_to=DEC_NEXT, region=None, title="Taxa"):
        region = region or small_world.region
        actor = small_world.coordinator if region == small_world.region else small_world.other_region_coordinator
        return tariffs.tariff_import(
            actor=actor,
            region=region,
            uploaded=SimpleUploadedFile(name, content),
            name=title,
            valid_from=valid_from,
            valid_to=valid_to,
        )

    return run


def _version(region, year: int) -> TariffVersion:
    return TariffVersion.objects.get(region=region, valid_from=datetime.date(year, 1, 1))


def _state():
    return sorted(TariffVersion.objects.values_list("pk", "region_id", "valid_from", "valid_to", "source_sha256")), (
        TariffRow.objects.count()
    )


# Importing -------------------------------------------------------------------------------------------------


def test_a_csv_file_creates_a_version_with_every_row(small_world, upload):
    result = upload(csv_bytes(ROWS), title=f"Taxa {NEXT_YEAR}")

    version = result.version
    assert result.created and result.ended is None
    assert (version.region, version.name, version.valid_from, version.valid_to) == (
        small_world.region,
        f"Taxa {NEXT_YEAR}",
        JAN_NEXT,
        DEC_NEXT,
    )
    assert version.imported_by == small_world.coordinator and len(version.source_sha256) == 64
    rows = {row.code: row for row in version.rows.all()}
    assert sorted(rows) == sorted(["101", "401", "825", "825S", "901", PATIENT_FEE_CODE])
    assert (rows["101"].price, rows["101"].requires, rows["101"].support_forms) == (98000, "", ["N", "F", "S"])
    assert (rows["401"].price, rows["401"].requires) == (126000, "tooth")
    assert (rows["825"].price, rows["825"].requires, rows["825"].requires_prior_assessment) == (1270500, "jaw", False)
    assert (rows["825S"].price, rows["825S"].support_forms, rows["825S"].requires_prior_assessment) == (
        1519550,
        ["S"],
        True,
    )
    assert rows["901"].price is None and rows["901"].support_forms == ["N", "F"]
    assert rows[PATIENT_FEE_CODE].price is None
    event = AuditEvent.objects.get(action="claims.tariff.imported", object_id=str(version.pk))
    assert (event.actor, event.region_id) == (small_world.coordinator, small_world.region.pk)
    assert event.after["rows"] == 6 and event.after["original_name"] == "taxa.csv"


def test_an_excel_file_takes_typed_numbers_and_true_false(small_world, upload):
    rows = [
        ["patAvg", "Patientavgift", None, None, "N,F,S", None],
        [101, "Basundersökning och diagnostik, utförd av tandläkare", 980, None, "N,F,S", "nej"],
        ["825S", "Komplicerad partiell protes med metallskelett", 15195.5, "käke", "S", True],
        [703, "Fyllning av en yta på molar eller premolar", 970.0, "tand", "N,F", False],
    ]

    version = upload(xlsx_bytes(rows), name=f"Taxa {NEXT_YEAR}.xlsx").version

    prices = dict(version.rows.values_list("code", "price"))
    assert prices == {PATIENT_FEE_CODE: None, "101": 98000, "825S": 1519550, "703": 97000}
    assert version.rows.get(code="825S").requires_prior_assessment is True
    assert version.rows.get(code="703").requires_prior_assessment is False


def test_every_faulty_row_is_reported_with_its_number_and_nothing_is_stored(small_world, upload):
    before, events = _state(), AuditEvent.objects.count()
    rows = [
        ROWS[0],  # row 2
        ["8-25", "Kod med bindestreck", "100", "", "N", "nej"],  # row 3
        ["101", "Basundersökning", "980", "", "N,F,S", "nej"],  # row 4
        ["101", "Samma kod igen", "980", "", "N,F,S", "nej"],  # row 5
        ["102", "Pris med två kommatecken", "9,8,0", "", "N,F,S", "nej"],  # row 6
        ["103", "Okänt krav", "530", "mun", "N,F,S", "nej"],  # row 7
        ["104", "Okänd stödform", "530", "", "N,X", "nej"],  # row 8
        ["105", "Oklart om förhandsbedömning", "530", "", "N", "kanske"],  # row 9
        ["106", "", "530", "", "", "nej"],  # row 10: two faults
        ["patavg", "Patientavgift en gång till, med pris", "200", "", "N", "nej"],  # row 11
        ["12345678901", "För lång kod", "-5", "", "N", "nej"],  # row 12: two faults
    ]

    with pytest.raises(tariffs.TariffImportRefused) as refused:
        upload(csv_bytes(rows))

    errors = {error.row: " ".join(error.messages) for error in refused.value.row_errors}
    assert sorted(errors) == [3, 5, 6, 7, 8, 9, 10, 11, 12]
    assert "8-25 är ingen giltig kod" in errors[3]
    assert "Åtgärd 101 finns redan på rad 4 i filen." in errors[5]
    assert "Pris 9,8,0 går inte att läsa" in errors[6]
    assert "Kräver ska vara tand, käke eller tomt, inte mun." in errors[7]
    assert "Stödformer får bara vara N, F och S, inte X." in errors[8]
    assert "Förhandsbedömning ska vara ja eller nej, inte kanske." in errors[9]
    assert "Ange benämning." in errors[10] and "Ange stödformer" in errors[10]
    assert "patAvg finns redan på rad 2" in errors[11] and "patAvg ska ha tomt pris" in errors[11]
    assert "ingen giltig kod" in errors[12] and "Pris -5 går inte att läsa" in errors[12]
    assert refused.value.row_errors[0].code == "8-25"
    assert "Filen taxa.csv har fel på 9 rader. Inget har sparats" in refused.value.message_dict["file"][0]
    assert _state() == before and AuditEvent.objects.count() == events


def test_a_file_without_the_patient_fee_row_is_refused(small_world, upload):
    before = _state()

    with pytest.raises(tariffs.TariffImportRefused) as refused:
        upload(csv_bytes(ROWS[1:]))

    assert refused.value.message_dict["file"] == [
        "Filen taxa.csv saknar raden patAvg (patientavgift). Lägg till den med tomt pris."
    ]
    assert refused.value.row_errors == []
    assert _state() == before


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("taxa.csv", csv_bytes(ROWS, header=HEADER[:4]), "saknar kolumnerna Stödformer, Förhandsbedömning"),
        ("taxa.csv", csv_bytes([]), "Filen taxa.csv har inga åtgärder."),
        ("taxa.txt", csv_bytes(ROWS), "Filen taxa.txt är varken en CSV-fil eller en Excel-fil (.xlsx)."),
        ("taxa.xlsx", csv_bytes(ROWS), "Filen taxa.xlsx är inte en riktig Excel-fil (.xlsx)."),
        ("taxa.csv", b"MZ\x90\x00" + b"\x00" * 60, "Filen taxa.csv är ett program, ingen ersättningslista."),
    ],
    ids=["columns", "no-rows", "txt", "csv-as-xlsx", "program"],
)
def test_a_file_that_is_no_tariff_is_refused(small_world, upload, name, content, message):
    before = _state()

    with pytest.raises(tariffs.TariffImportRefused) as refused:
        upload(content, name=name)

    assert message in " ".join(refused.value.message_dict["file"])
    assert _state() == before


def test_importing_the_same_file_again_changes_nothing(small_world, upload):
    first = upload(csv_bytes(ROWS))
    before = _state()
    events = AuditEvent.objects.count()

    again = upload(csv_bytes(ROWS), name="taxa-kopia.csv", title="Ett annat namn")

    assert not again.created and again.version == first.version
    assert _state() == before and AuditEvent.objects.count() == events
    assert TariffVersion.objects.get(pk=first.version.pk).name == "Taxa"


def test_another_file_for_the_same_start_is_refused(small_world, upload):
    upload(csv_bytes(ROWS))
    before = _state()

    with pytest.raises(tariffs.TariffImportRefused) as refused:
        upload(csv_bytes([*ROWS, ["902", "Ny kod", "100", "", "N", "nej"]]))

    assert f"gäller redan från {JAN_NEXT.isoformat()}" in refused.value.message_dict["valid_from"][0]
    assert _state() == before


def test_the_previous_open_ended_version_ends_the_day_before_the_new_one(small_world, upload):
    this_year = standard_tariff(small_world.region, THIS_YEAR)
    previous = upload(csv_bytes(ROWS), valid_to=None).version

    march = datetime.date(NEXT_YEAR + 1, 3, 1)
    last_of_february = march - datetime.timedelta(days=1)  # the 28th or, in a leap year, the 29th

    result = upload(csv_bytes(ROWS[:3]), valid_from=march, valid_to=None)

    previous.refresh_from_db()
    assert previous.valid_to == last_of_february
    assert result.ended == previous and result.version.valid_to is None
    event = AuditEvent.objects.get(action="claims.tariff.ended", object_id=str(previous.pk))
    assert (event.before, event.after) == ({"valid_to": None}, {"valid_to": last_of_february.isoformat()})
    # This year's version ended before next year already: left as it was.
    this_year.refresh_from_db()
    assert this_year.valid_to == datetime.date(THIS_YEAR, 12, 31)


def test_a_version_before_a_later_one_must_end_before_it_starts(small_world, upload):
    standard_tariff(small_world.region, LAST_YEAR)
    earlier = datetime.date(LAST_YEAR - 1, 1, 1)  # the year before it

    with pytest.raises(tariffs.TariffImportRefused) as refused:
        upload(csv_bytes(ROWS), valid_from=earlier, valid_to=None)

    assert f"Ange gäller till senast {LAST_YEAR - 1}-12-31." in refused.value.message_dict["valid_to"][0]
    assert not TariffVersion.objects.filter(region=small_world.region, valid_from=earlier).exists()


def test_an_end_before_the_start_and_an_empty_name_are_refused_with_the_file_checked_too(small_world, upload):
    with pytest.raises(tariffs.TariffImportRefused) as refused:
        upload(csv_bytes(ROWS[1:]), valid_to=datetime.date(THIS_YEAR, 6, 30), title=" ")

    assert set(refused.value.message_dict) == {"name", "valid_to", "file"}


# Comparing -------------------------------------------------------------------------------------------------


# Last year's list and this year's: 101, 825 and 825S repriced, 113 removed, 114 new, 121 renamed, 103 as it was.
PREVIOUS_ROWS = [
    ROWS[0],
    ["101", "Basundersökning och diagnostik, utförd av tandläkare", "950", "", "N,F,S", "nej"],
    ["103", "Akut eller annan undersökning, utförd av tandläkare", "520", "", "N,F,S", "nej"],
    ["113", "Kompletterande undersökning", "300", "", "N,F,S", "nej"],
    ["121", "Röntgen", "410", "", "N,F,S", "nej"],
    ["825", "Komplicerad partiell protes med metallskelett", "12500", "käke", "N,F,S", "nej"],
    ["825S", "Komplicerad partiell protes med metallskelett, S-tandvård", "15000", "käke", "S", "ja"],
]
CURRENT_ROWS = [
    ROWS[0],
    ["101", "Basundersökning och diagnostik, utförd av tandläkare", "980", "", "N,F,S", "nej"],
    ["103", "Akut eller annan undersökning, utförd av tandläkare", "520", "", "N,F,S", "nej"],
    ["114", "Sjukdomsbehandling, utförd av tandhygienist", "400", "", "N,F,S", "nej"],
    ["121", "Röntgenundersökning", "410", "", "N,F,S", "nej"],
    ["825", "Komplicerad partiell protes med metallskelett", "12705", "käke", "N,F,S", "nej"],
    ["825S", "Komplicerad partiell protes med metallskelett, S-tandvård", "15195", "käke", "S", "ja"],
]


def test_the_comparison_finds_new_removed_and_changed_codes(upload):
    previous = upload(csv_bytes(PREVIOUS_ROWS), valid_from=datetime.date(LAST_YEAR, 1, 1), valid_to=None).version
    version = upload(csv_bytes(CURRENT_ROWS), valid_from=datetime.date(THIS_YEAR, 1, 1), valid_to=None).version
    comparison = tariffs.tariff_compare(version=version, previous=tariffs.tariff_previous(version=version))

    assert comparison.previous == previous
    by_code = {row.code: row for row in comparison.rows}
    assert {row.code for row in comparison.rows if row.is_new} == {"114"}
    assert {row.code for row in comparison.rows if row.is_removed} == {"113"}
    assert {row.code for row in comparison.rows if row.price_changed} == {"101", "825", "825S"}
    assert {row.code for row in comparison.rows if row.description_changed} == {"121"}
    assert (by_code["101"].old.price, by_code["101"].new.price) == (95000, 98000)
    assert not by_code["103"].is_changed
    assert [row.code for row in comparison.rows][:3] == [PATIENT_FEE_CODE, "101", "103"]
    assert (comparison.new_count, comparison.removed_count, comparison.price_changed_count) == (1, 1, 3)
    assert comparison.other_changed_count == 1


def _row(doc, code: str):
    matches = doc.xpath("//table[contains(@class, 'tariff-table')]//tr[td[1][normalize-space()=$code]]", code=code)
    assert len(matches) == 1, f"row {code}"
    return matches[0]


def _text(element) -> str:
    return " ".join(element.text_content().split())


def test_the_coordinator_sees_every_change_marked_in_red_and_in_words(client, world):
    client.force_login(world.coordinator_vg)
    version = _version(world.vg, THIS_YEAR)

    response = client.get(reverse("tariff_detail", kwargs={"region_code": "vg", "version_pk": version.pk}))

    assert response.status_code == 200
    doc = lxml.html.document_fromstring(response.content)
    new, removed, repriced = _row(doc, "114"), _row(doc, "113"), _row(doc, "101")
    assert "Ny" in _text(new) and "diff--changed" in new.get("class")
    assert "Borttagen" in _text(removed) and "diff--changed" in removed.get("class")
    assert "Ändrat pris" in _text(repriced)
    price = repriced.xpath("./td[contains(@class, 'diff--changed')]")[0]
    assert price.xpath("string(.//del)") == "950\xa0kr" and price.xpath("string(.//ins)") == "980\xa0kr"
    assert "Ändrad benämning" in _text(_row(doc, "121"))
    assert not _row(doc, "103").xpath(".//*[contains(@class, 'diff--changed')]")
    assert "1 ny åtgärd" in _text(doc) and "5 ändrade priser" in _text(doc)

    only = lxml.html.document_fromstring(client.get(f"{response.wsgi_request.path}?visa=andringar").content)
    codes = [_text(td) for td in only.xpath("//table[contains(@class, 'tariff-table')]//tbody/tr/td[1]")]
    assert codes == ["101", "107", "113", "114", "121", "302", "825", "825S"]


def test_dalarna_shows_a_changed_prior_assessment_requirement(client, world):
    client.force_login(world.coordinator_dalarna)
    version = _version(world.dalarna, THIS_YEAR)

    response = client.get(reverse("tariff_detail", kwargs={"region_code": "dalarna", "version_pk": version.pk}))

    row = _row(lxml.html.document_fromstring(response.content), "800")
    assert "Ändrad förhandsbedömning" in _text(row)
    changed = row.xpath("./td[contains(@class, 'diff--changed')]")
    assert [(cell.xpath("string(.//del)"), cell.xpath("string(.//ins)")) for cell in changed] == [("Nej", "Ja")]
    assert "Tidigare: Nej, nu: → Ja" in _text(changed[0])


def test_the_region_lists_its_versions(client, world):
    client.force_login(world.coordinator_vg)

    doc = lxml.html.document_fromstring(client.get(reverse("tariff_list", kwargs={"region_code": "vg"})).content)

    names = [_text(a) for a in doc.xpath("//main//table//a")]
    assert names == [f"Ersättningslista {THIS_YEAR}", f"Ersättningslista {LAST_YEAR}"]
    assert "Dalarna" not in _text(doc.xpath("//main")[0])


# Uploading through the page ------------------------------------------------------------------------------


def _import_url(region_code="vg"):
    return reverse("tariff_import", kwargs={"region_code": region_code})


def _post(client, content: bytes, name="taxa.csv", **fields):
    data = {
        "name": f"Taxa {NEXT_YEAR}",
        "valid_from": JAN_NEXT.isoformat(),
        "valid_to": DEC_NEXT.isoformat(),
        **fields,
    }
    return client.post(_import_url(), {**data, "file": SimpleUploadedFile(name, content)})


@pytest.mark.parametrize("build", [csv_bytes, xlsx_bytes], ids=["csv", "xlsx"])
def test_the_coordinator_uploads_a_file_and_sees_the_new_version(client, world, build):
    client.force_login(world.coordinator_vg)
    name = "taxa.csv" if build is csv_bytes else "taxa.xlsx"

    response = _post(client, build(ROWS), name=name)

    version = TariffVersion.objects.get(region=world.vg, valid_from=JAN_NEXT)
    assert response.status_code == 302
    assert response["Location"] == reverse("tariff_detail", kwargs={"region_code": "vg", "version_pk": version.pk})
    page = client.get(response["Location"])
    assert f"Taxa {NEXT_YEAR} är inläst med 6 åtgärder." in page.content.decode()
    # Compared with this year's list: 825S is cheaper at 15 195,50 kr, 401 has another price.
    assert "Ändrat pris" in _text(_row(lxml.html.document_fromstring(page.content), "825S"))


def test_a_faulty_file_shows_each_row_and_its_error_beside_the_form(client, world):
    client.force_login(world.coordinator_vg)
    rows = [
        ROWS[0],
        ["101", "Basundersökning", "nio hundra", "", "N,F,S", "nej"],
        ["103", "Akut", "530", "x", "N", "nej"],
    ]

    response = _post(client, csv_bytes(rows))

    assert response.status_code == 200
    doc = lxml.html.document_fromstring(response.content)
    summary = _text(doc.xpath("//*[contains(@class, 'error-summary')]")[0])
    assert "Filen taxa.csv har fel på 2 rader. Inget har sparats" in summary
    assert doc.xpath("//*[contains(@class, 'field--error')]//input[@type='file']")
    table = doc.xpath("//section[@aria-labelledby='row-errors-title']//tbody/tr")
    assert [(_text(tr.xpath("td[1]")[0]), _text(tr.xpath("td[2]")[0])) for tr in table] == [("3", "101"), ("4", "103")]
    assert "Pris nio hundra går inte att läsa" in _text(table[0])
    assert not TariffVersion.objects.filter(valid_from=JAN_NEXT).exists()


def test_uploading_the_same_file_again_says_nothing_changed(client, world):
    client.force_login(world.coordinator_vg)
    _post(client, csv_bytes(ROWS))

    response = _post(client, csv_bytes(ROWS))

    assert response.status_code == 302
    assert "Inget har ändrats." in client.get(response["Location"]).content.decode()
    assert TariffVersion.objects.filter(valid_from=JAN_NEXT).count() == 1


# The clinic's list ---------------------------------------------------------------------------------------


def _clinic_url(world, **params):
    url = reverse("clinic_tariff", kwargs={"clinic_pk": world.clinic31.pk})
    return url + ("?" + "&".join(f"{key}={value}" for key, value in params.items()) if params else "")


def _codes(doc) -> list[str]:
    return [_text(td) for td in doc.xpath("//table[contains(@class, 'tariff-table')]//tbody/tr/td[1]")]


def test_the_clinic_sees_101_at_980_kr_this_year_and_950_kr_last_year(client, world):
    client.force_login(world.biller)
    version = _version(world.vg, THIS_YEAR)

    response = client.get(_clinic_url(world, version=version.pk))

    doc = lxml.html.document_fromstring(response.content)
    assert response.status_code == 200
    assert "980 kr" in _text(_row(doc, "101"))
    assert "Basundersökning och diagnostik, utförd av tandläkare" in _text(_row(doc, "101"))
    assert "Anges av kliniken" in _text(_row(doc, "901"))
    assert _codes(doc)[0] == PATIENT_FEE_CODE and len(_codes(doc)) == 25
    changes = reverse("clinic_tariff_changes", kwargs={"clinic_pk": world.clinic31.pk, "version_pk": version.pk})
    assert doc.xpath("//main//a[starts-with(@href, $url)]", url=changes)
    previous = lxml.html.document_fromstring(
        client.get(_clinic_url(world, version=_version(world.vg, LAST_YEAR).pk)).content
    )
    assert "950 kr" in _text(_row(previous, "101"))


def test_the_clinic_is_shown_the_version_in_force(small_world):
    region = small_world.region
    last_year, this_year = standard_tariff(region, LAST_YEAR), standard_tariff(region, THIS_YEAR)
    assert tariffs.tariff_current(region=region, day=datetime.date(THIS_YEAR, 6, 1)) == this_year
    assert tariffs.tariff_current(region=region, day=datetime.date(LAST_YEAR, 12, 31)) == last_year
    # After the last one ends, the latest; before the first, the first.
    assert tariffs.tariff_current(region=region, day=datetime.date(THIS_YEAR + 4, 1, 1)) == this_year
    assert tariffs.tariff_current(region=region, day=datetime.date(LAST_YEAR - 5, 1, 1)) == last_year


def test_the_tariff_book_answers_the_version_and_the_code_on_a_day(world, django_assert_num_queries):
    this_year, last_year = _version(world.vg, THIS_YEAR), _version(world.vg, LAST_YEAR)
    june, new_year_eve = datetime.date(THIS_YEAR, 6, 1), datetime.date(LAST_YEAR, 12, 31)
    # The versions of the whole period in one query, each version's rows in one more when first read.
    with django_assert_num_queries(3):
        book = tariffs.TariffBook(world.vg, new_year_eve, june)
        assert (book.version(june), book.version(new_year_eve)) == (this_year, last_year)
        assert book.row(june, "101").price == 98000
        assert book.row(new_year_eve, "101").price == 95000
        assert book.row(june, "nosuchcode") is None
        assert book.rows(june)["901"].price is None
    # A day outside what was loaded is read when asked for.
    assert book.version(datetime.date(LAST_YEAR - 5, 1, 1)) is None
    assert book.rows(datetime.date(LAST_YEAR - 5, 1, 1)) is None
    assert tariffs.tariff_version_on(region=world.vg, day=june) == this_year


def test_the_books_first_period_is_read_as_the_orm_reads_it(world):
    """The first period's versions come from a query compiled once (portal.db.PreparedQuery): the same instances,
    field for field, as the ORM's; a later period is read by the ORM, leaving out what was read."""
    this_year, last_year = _version(world.vg, THIS_YEAR), _version(world.vg, LAST_YEAR)
    book = tariffs.TariffBook(world.vg, datetime.date(THIS_YEAR, 6, 1), datetime.date(THIS_YEAR, 6, 30))
    book.load(datetime.date(LAST_YEAR, 1, 1), datetime.date(THIS_YEAR, 12, 31))
    read = {version.pk: version for version in book._versions.values()}
    assert set(read) == {this_year.pk, last_year.pk}
    for version in (this_year, last_year):
        expected = TariffVersion.objects.get(pk=version.pk)
        assert {k: v for k, v in vars(read[version.pk]).items() if k != "_state"} == {
            k: v for k, v in vars(expected).items() if k != "_state"
        }


def test_of_two_overlapping_versions_the_book_takes_the_later_start(world):
    this_year = _version(world.vg, THIS_YEAR)
    autumn = TariffVersion.objects.create(
        region=world.vg, name="Höst", valid_from=datetime.date(THIS_YEAR, 9, 1), valid_to=None
    )
    book = tariffs.TariffBook(world.vg, datetime.date(THIS_YEAR, 1, 1), datetime.date(THIS_YEAR, 12, 31))
    assert book.version(datetime.date(THIS_YEAR, 8, 31)) == this_year
    assert book.version(datetime.date(THIS_YEAR, 9, 1)) == autumn
    assert book.rows(datetime.date(THIS_YEAR, 9, 1)) == {}


@pytest.mark.parametrize(
    ("query", "codes"),
    [
        ("825", ["825", "825S"]),
        ("825s", ["825S"]),
        ("protes metallskelett", ["825", "825S"]),
        ("Rotbehandling tre", ["503"]),
        ("tandhygienist", ["111", "114"]),
        ("implantat", []),
    ],
)
def test_the_clinic_searches_by_code_and_by_words(client, world, query, codes):
    client.force_login(world.biller)

    response = client.get(_clinic_url(world, version=_version(world.vg, THIS_YEAR).pk, q=query))

    doc = lxml.html.document_fromstring(response.content)
    assert _codes(doc) == codes
    assert doc.xpath("//input[@name='q']/@value") == [query]


def test_the_clinic_sees_the_changes_from_the_previous_version(client, world):
    client.force_login(world.biller)
    version = _version(world.vg, THIS_YEAR)
    url = reverse("clinic_tariff_changes", kwargs={"clinic_pk": world.clinic31.pk, "version_pk": version.pk})

    doc = lxml.html.document_fromstring(client.get(url + "?visa=andringar").content)

    assert "Ny" in _text(_row(doc, "114")) and "Borttagen" in _text(_row(doc, "113"))
    assert "Inläst" not in _text(doc.xpath("//main")[0])  # who imported it is the region's business


# Tenancy ---------------------------------------------------------------------------------------------------


def test_a_dalarna_coordinator_gets_404_on_vg_tariff_pages(client, world):
    client.force_login(world.coordinator_dalarna)
    vg_version = _version(world.vg, THIS_YEAR)

    for url in (
        reverse("tariff_list", kwargs={"region_code": "vg"}),
        _import_url("vg"),
        reverse("tariff_detail", kwargs={"region_code": "vg", "version_pk": vg_version.pk}),
        # Nor through the coordinator's own region.
        reverse("tariff_detail", kwargs={"region_code": "dalarna", "version_pk": vg_version.pk}),
    ):
        assert client.get(url).status_code == 404, url
    assert client.post(_import_url("vg")).status_code == 404


def test_a_clinic_cannot_see_another_regions_version(client, world):
    client.force_login(world.dalarna_biller)
    vg_version = _version(world.vg, THIS_YEAR)
    url = reverse("clinic_tariff_changes", kwargs={"clinic_pk": world.clinic2001.pk, "version_pk": vg_version.pk})

    assert client.get(url).status_code == 404
    # Asked for by number in the search form, VG's version is no choice: one of Dalarna's is shown.
    response = client.get(
        reverse("clinic_tariff", kwargs={"clinic_pk": world.clinic2001.pk}) + f"?version={vg_version.pk}"
    )
    doc = lxml.html.document_fromstring(response.content)
    assert response.status_code == 200
    assert str(vg_version.pk) not in doc.xpath("//select[@name='version']/option/@value")
    assert "N, F, S" in _text(_row(doc, "825S"))  # Dalarna's 825S is for every support form, VG's for S only


# The demo --------------------------------------------------------------------------------------------------


def test_the_demo_has_last_years_and_this_years_list_and_a_second_load_changes_nothing(world):
    versions = TariffVersion.objects.order_by("region__code", "valid_from")
    last, this = (
        (f"Ersättningslista {year}", datetime.date(year, 1, 1), datetime.date(year, 12, 31))
        for year in (LAST_YEAR, THIS_YEAR)
    )
    assert [(v.region.code, v.name, v.valid_from, v.valid_to) for v in versions] == [
        ("dalarna", *last),
        ("dalarna", *this),
        ("vg", *last),
        ("vg", *this),
    ]
    assert all(version.imported_by.email.startswith("samordnare.") for version in versions)
    assert {version.rows.count() for version in versions} == {25}
    this_year = _version(world.vg, THIS_YEAR).rows
    assert this_year.get(code="101").price == 98000
    assert _version(world.vg, LAST_YEAR).rows.get(code="101").price < 98000
    assert (this_year.get(code="825").price, this_year.get(code="825").requires) == (1270500, "jaw")
    assert (this_year.get(code="825S").price, this_year.get(code="825S").requires_prior_assessment) == (1519500, True)
    assert this_year.get(code="901").price is None and this_year.get(code=PATIENT_FEE_CODE).price is None
    before = _state()

    counts: Counter = demo_load()

    assert (counts["created"], counts["changed"]) == (0, 0)
    assert _state() == before


def test_a_load_in_a_later_year_adds_that_years_list_and_keeps_the_ones_there(world):
    """A database loaded this year and loaded again next year: next year's list is added from this year's file;
    this year's list, now last year's, stays as it was read in (claims point at its rows), and is not refused
    for being another file than last year's."""
    regions = {region.code: region for region in (world.vg, world.dalarna)}
    before = {version.pk: (version.source_sha256, version.valid_to) for version in TariffVersion.objects.all()}
    events = AuditEvent.objects.count()
    next_january = datetime.date(NEXT_YEAR, 1, 2)

    counts: Counter = Counter()
    _load_tariffs(regions, counts, today=next_january)

    assert (counts["created"], counts["unchanged"]) == (2, 2)
    for region in regions.values():
        added = _version(region, NEXT_YEAR)
        assert (added.name, added.valid_to) == (f"Ersättningslista {NEXT_YEAR}", DEC_NEXT)
        this_year = _version(region, THIS_YEAR)
        assert added.source_sha256 == this_year.source_sha256  # this year's file, dated a year later
        assert tariffs.tariff_current(region=region, day=next_january) == added
    assert {pk: (v.source_sha256, v.valid_to) for pk, v in TariffVersion.objects.in_bulk(before).items()} == before
    assert AuditEvent.objects.count() == events + 2  # the two imports, nothing ended
    assert _version(world.vg, NEXT_YEAR).rows.get(code="101").price == 98000
    state = _state()

    again: Counter = Counter()
    _load_tariffs(regions, again, today=next_january)

    assert (again["created"], again["unchanged"]) == (0, 4)
    assert _state() == state


# Repeatable codes (the column "Får upprepas") ----------------------------------------------------------------


def test_the_column_far_upprepas_marks_the_codes_that_may_be_billed_twice_a_day(small_world, upload):
    rows = [[*row, "ja" if row[0] == "901" else ("" if row[0] == "101" else "nej")] for row in ROWS]
    version = upload(csv_bytes(rows, header=[*HEADER, "Får upprepas"])).version
    repeatable = dict(version.rows.values_list("code", "repeatable"))
    assert repeatable == {code: code == "901" for code in repeatable}


def test_without_the_column_no_code_is_repeatable(small_world, upload):
    version = upload(csv_bytes(ROWS)).version
    assert not version.rows.filter(repeatable=True).exists()


def test_an_excel_true_in_far_upprepas_is_yes(small_world, upload):
    rows = [[*row, row[0] == "901"] for row in ROWS]
    version = upload(xlsx_bytes(rows, header=[*HEADER, "Får upprepas"]), name="taxa.xlsx").version
    assert list(version.rows.filter(repeatable=True).values_list("code", flat=True)) == ["901"]


def test_far_upprepas_other_than_ja_or_nej_is_the_rows_fault(small_world, upload):
    rows = [[*row, "kanske" if row[0] == "101" else "nej"] for row in ROWS]
    with pytest.raises(tariffs.TariffImportRefused) as refused:
        upload(csv_bytes(rows, header=[*HEADER, "Får upprepas"]))
    assert [(error.row, error.messages) for error in refused.value.row_errors] == [
        (3, ("Får upprepas ska vara ja eller nej, inte kanske.",))
    ]


def test_the_demo_lists_mark_901_repeatable_and_the_comparison_shows_the_change(small_world, upload):
    for path in sorted(DEMO_TARIFFS.glob("*.csv")):
        header, *lines = (line.split(";") for line in path.read_text(encoding="utf-8-sig").splitlines())
        assert header[-1] == "Får upprepas", path.name
        assert {line[0] for line in lines if line[-1] == "ja"} == {"901"}, path.name
    previous = upload(csv_bytes(ROWS)).version
    rows = [[*row, "ja" if row[0] == "901" else "nej"] for row in ROWS]
    version = upload(
        csv_bytes(rows, header=[*HEADER, "Får upprepas"]),
        valid_from=DEC_NEXT + datetime.timedelta(days=1),
        valid_to=None,
    ).version
    comparison = tariffs.tariff_compare(version=version, previous=previous)
    assert [change.code for change in comparison.changes if change.repeatable_changed] == ["901"]


# What Ersättningslista and the comparison showed from a template included per cell; now the tag
# `{% tariff_value row field %}` (claims_tags) draws the same text.
TARIFF_VALUE_TEMPLATE = (
    '{% load i18n portal_tags %}{% if field == "price" %}{% if row.price is None %}{% translate "Anges av kliniken" %}'
    '{% else %}{{ row.price|kronor }}{% endif %}{% elif field == "description" %}<span lang="sv">{{ row.description }}'
    '</span>{% elif field == "requires" %}{% if row.requires %}{{ row.get_requires_display }}{% else %}–{% endif %}'
    '{% elif field == "support_forms" %}{{ row.support_forms|join:", " }}'
    '{% elif field == "requires_prior_assessment" %}'
    '{% if row.requires_prior_assessment %}{% translate "Ja" %}{% else %}{% translate "Nej" %}{% endif %}'
    '{% elif field == "repeatable" %}{% if row.repeatable %}{% translate "Ja" %}{% else %}{% translate "Nej" %}'
    "{% endif %}{% endif %}"
)


@pytest.mark.parametrize("language", ["sv", "en"])
def test_a_tariff_rows_values_are_drawn_as_the_cell_template_drew_them(language):
    rows = [
        TariffRow(
            code="101",
            description="Undersökning <b> & röntgen",
            price=98_000,
            requires="tooth",
            support_forms=["N", "F"],
            requires_prior_assessment=True,
            repeatable=True,
        ),
        TariffRow(code="302", description="Akut", price=None, requires="", support_forms=[]),
        TariffRow(code="701", description='"citat"', price=5, requires="jaw", support_forms=["S"]),
    ]
    old = Template(TARIFF_VALUE_TEMPLATE)
    new = Template("{% load claims_tags %}{% tariff_value row field %}")
    with translation.override(language):
        for row in rows:
            for field in (*tariffs.ROW_FIELDS, "unknown"):
                context = {"row": row, "field": field}
                assert new.render(Context(context)) == old.render(Context(context)), (row.code, field)
