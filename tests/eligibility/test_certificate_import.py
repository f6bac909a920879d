"""Certificates imported from the region's register: CSV and Excel files, a report of faulty rows, an import
that may run again without changing anything, the background task, and its pages."""

import datetime
import io
import zipfile
from unittest import mock

import lxml.html
import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import OperationalError
from django.urls import reverse

from eligibility import imports, tasks
from eligibility.models import Certificate, CertificateImport, CertificateImportState
from portal.celery import app
from portal.models import AuditEvent
from tests.eligibility.factories import TEST_PINS, CertificateFactory
from tests.test_accessibility_markup import assert_accessible_markup
from tests.waiting import wait_until

HEADER = ["Personnummer", "Stödform", "Intygsnummer", "Grupp", "Giltigt från", "Giltigt till"]
PIN_A, PIN_B, PIN_C = TEST_PINS[0], TEST_PINS[1], TEST_PINS[2]
# A test number with another check digit: invalid, so no one's.
BAD_PIN = PIN_A[:-1] + str((int(PIN_A[-1]) + 1) % 10)
WINDOWS_EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 48 + b"This program cannot run"
FAILED = "Filen kunde inte importeras, försök igen."

# The page's own scripts; every logged-in page also has the idle warning's (portal.sessions).
PAGE_SCRIPTS = "//script[not(contains(@src, 'session-timeout'))]"


def csv_bytes(rows, *, header=HEADER, delimiter=";", bom=True) -> bytes:
    lines = [delimiter.join(header), *(delimiter.join(row) for row in rows)]
    return ("\ufeff" if bom else "").encode() + ("\r\n".join(lines) + "\r\n").encode("utf-8")


def xlsx_bytes(rows, *, header=HEADER) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def masked(pin: str) -> str:
    return f"{pin[:8]}-****"


@pytest.fixture
def import_file(small_world, django_capture_on_commit_callbacks):
    """Upload a file as the region's coordinator; the task runs (eagerly) when the upload commits."""

    def run(content: bytes, name: str = "intyg.csv") -> CertificateImport:
        with django_capture_on_commit_callbacks(execute=True):
            certificate_import = imports.certificate_import_start(
                actor=small_world.coordinator, region=small_world.region, uploaded=SimpleUploadedFile(name, content)
            )
        certificate_import.refresh_from_db()
        return certificate_import

    return run


# Reading CSV and Excel -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("delimiter", "bom"), [(";", True), (",", False), (";", False), (",", True)])
def test_a_csv_file_creates_its_certificates(small_world, import_file, delimiter, bom):
    content = csv_bytes(
        [
            [PIN_A, "N", "IMP-1", "N1", "2025-01-01", ""],
            [PIN_B, "f", "IMP-2", "f3", "2025-02-01", "2026-01-31"],
        ],
        delimiter=delimiter,
        bom=bom,
    )

    certificate_import = import_file(content)

    assert certificate_import.state == CertificateImportState.DONE
    assert (certificate_import.total_rows, certificate_import.processed_rows) == (2, 2)
    assert (certificate_import.created_count, certificate_import.updated_count) == (2, 0)
    assert certificate_import.error_rows == [] and certificate_import.error_count == 0
    first = Certificate.objects.get(region=small_world.region, number="IMP-1")
    assert first.patient.personal_identity_number == PIN_A
    assert (first.support_form, first.group, first.valid_from, first.valid_to) == (
        "N",
        "N1",
        datetime.date(2025, 1, 1),
        None,
    )
    second = Certificate.objects.get(region=small_world.region, number="IMP-2")
    assert (second.support_form, second.group, second.valid_to) == ("F", "F3", datetime.date(2026, 1, 31))
    registered = AuditEvent.objects.filter(action="eligibility.certificate.registered", region_id=small_world.region.pk)
    assert sorted(registered.values_list("after__number", flat=True)) == ["IMP-1", "IMP-2"]
    assert {event.actor for event in registered} == {small_world.coordinator}


def test_an_excel_file_takes_date_cells_text_dates_and_numbers(small_world, import_file):
    content = xlsx_bytes(
        [
            [int(PIN_A), "N", "IMP-10", "N2", datetime.datetime(2025, 3, 1), None],
            [PIN_B, "F", 4711, "F1", "2025-04-01", "2025-12-31"],
        ]
    )

    certificate_import = import_file(content, name="Intygsregister.xlsx")

    assert certificate_import.state == CertificateImportState.DONE
    assert certificate_import.created_count == 2, certificate_import.error_rows
    first = Certificate.objects.get(region=small_world.region, number="IMP-10")
    assert (first.patient.personal_identity_number, first.valid_from, first.valid_to) == (
        PIN_A,
        datetime.date(2025, 3, 1),
        None,
    )
    second = Certificate.objects.get(region=small_world.region, number="4711")
    assert (second.valid_from, second.valid_to) == (datetime.date(2025, 4, 1), datetime.date(2025, 12, 31))


def test_headers_are_matched_without_regard_to_case_order_or_extra_columns(small_world, import_file):
    header = ["Intygsnummer", "GILTIGT TILL", "personnummer", "Kommentar", "grupp", "Stödform", "giltigt  från"]
    content = csv_bytes([["IMP-20", "", PIN_A, "fritext", "N3", "N", "2025-01-01"]], header=header)

    certificate_import = import_file(content)

    assert certificate_import.created_count == 1, certificate_import.error_rows
    assert Certificate.objects.get(region=small_world.region, number="IMP-20").group == "N3"


def test_a_revoked_certificate_is_imported_revoked(small_world, import_file):
    header = [*HEADER, "Återkallat från", "Skäl"]
    content = csv_bytes(
        [
            [PIN_A, "N", "IMP-30", "N1", "2025-01-01", "", "2025-06-01", "Flyttat från regionen"],
            [PIN_B, "N", "IMP-31", "N1", "2025-01-01", "", "", ""],
        ],
        header=header,
    )

    certificate_import = import_file(content)

    assert certificate_import.created_count == 2, certificate_import.error_rows
    revoked = Certificate.objects.get(region=small_world.region, number="IMP-30")
    assert (revoked.revoked_from, revoked.revocation_reason) == (datetime.date(2025, 6, 1), "Flyttat från regionen")
    assert revoked.revoked_by == small_world.coordinator
    assert Certificate.objects.get(region=small_world.region, number="IMP-31").revoked_from is None


# Faulty rows -----------------------------------------------------------------------------------------------


def test_faulty_rows_are_reported_with_their_row_numbers_while_good_rows_import(small_world, import_file):
    content = csv_bytes(
        [
            [PIN_A, "N", "GOOD-1", "N1", "2025-01-01", ""],  # row 2
            [BAD_PIN, "N", "BAD-PIN", "N1", "2025-01-01", ""],  # row 3
            [PIN_B, "N", "BAD-GROUP", "N9", "2025-01-01", ""],  # row 4
            [PIN_B, "F", "BAD-DATES", "F2", "2025-05-01", "2025-04-30"],  # row 5
            [PIN_C, "X", "BAD-FORM", "N1", "2025-01-01", ""],  # row 6
            [PIN_C, "F", "GOOD-2", "F8", "2025-01-01", "2025-01-01"],  # row 7
            [PIN_C, "N", "BAD-DATE", "N1", "2025-02-30", ""],  # row 8
            [PIN_B, "N", "GOOD-1", "N1", "2025-01-01", ""],  # row 9: the number of row 2 again
            [PIN_C, "", "", "", "", ""],  # row 10
        ]
    )

    certificate_import = import_file(content)

    assert certificate_import.state == CertificateImportState.DONE
    assert (certificate_import.total_rows, certificate_import.processed_rows) == (9, 9)
    assert certificate_import.created_count == 2
    assert certificate_import.error_count == 7
    assert set(
        Certificate.objects.filter(region=small_world.region, number__in=["GOOD-1", "GOOD-2"]).values_list(
            "number", flat=True
        )
    ) == {"GOOD-1", "GOOD-2"}
    assert not Certificate.objects.filter(number__startswith="BAD-").exists()
    errors = {error["row"]: error for error in certificate_import.error_rows}
    assert sorted(errors) == [3, 4, 5, 6, 8, 9, 10]
    assert errors[3] == {"row": 3, "personnummer": masked(BAD_PIN), "message": "Personnumret har fel kontrollsiffra."}
    assert errors[4]["personnummer"] == masked(PIN_B)
    assert errors[4]["message"].startswith("Gruppen N9 finns inte för N-tandvård i regionen. Välj en av: N1, N2")
    assert errors[5]["message"] == "Slutdatum kan inte ligga före startdatum."
    assert errors[6]["message"] == "Intyg utfärdas bara för N- och F-tandvård."
    assert errors[8]["message"] == "Giltigt från är inget giltigt datum: 2025-02-30. Skriv ÅÅÅÅ-MM-DD."
    assert errors[9]["message"] == "Intygsnummer GOOD-1 finns redan på rad 2 i filen."
    assert errors[10]["message"] == "Ange stödform (N eller F). Ange intygsnummer. Ange grupp. Ange giltigt från."
    # Personal data in the report is masked: never the whole personnummer.
    assert all(PIN_A not in str(error) and PIN_B not in str(error) for error in certificate_import.error_rows)


def test_a_certificate_number_of_another_person_is_not_taken_over(small_world, import_file):
    CertificateFactory(patient__personal_identity_number="200001012384", region=small_world.region, number="764153")
    content = csv_bytes([[PIN_A, "N", "764153", "N1", "2020-01-01", ""]])

    certificate_import = import_file(content)

    assert certificate_import.error_rows == [
        {
            "row": 2,
            "personnummer": masked(PIN_A),
            "message": "Intygsnummer 764153 finns redan i regionen för en annan person.",
        }
    ]
    assert (
        Certificate.objects.get(region=small_world.region, number="764153").patient.personal_identity_number
        == "200001012384"
    )


# Importing again -------------------------------------------------------------------------------------------

ROWS = [
    [PIN_A, "N", "IMP-40", "N1", "2025-01-01", ""],
    [PIN_B, "F", "IMP-41", "F2", "2025-01-01", "2025-12-31"],
    [PIN_C, "N", "IMP-42", "N4", "2025-01-01", "2026-06-30"],
]


@pytest.mark.parametrize("build", [csv_bytes, xlsx_bytes], ids=["csv", "xlsx"])
def test_importing_the_same_file_again_changes_nothing(small_world, import_file, build):
    content = build(ROWS)
    name = "intyg.csv" if build is csv_bytes else "intyg.xlsx"
    first = import_file(content, name=name)
    assert first.created_count == 3
    certificates = list(Certificate.objects.order_by("pk").values())
    audit_events = AuditEvent.objects.count()

    again = import_file(content, name=name)

    assert again.state == CertificateImportState.DONE
    assert (again.created_count, again.updated_count, again.unchanged_count) == (0, 0, 3)
    assert again.sha256 == first.sha256
    assert list(Certificate.objects.order_by("pk").values()) == certificates
    # Only the second upload itself is recorded.
    assert list(AuditEvent.objects.order_by("pk")[audit_events:].values_list("action", flat=True)) == [
        "eligibility.certificate_import.uploaded"
    ]


def test_a_changed_end_date_and_group_update_the_certificate_with_an_audit_record(small_world, import_file):
    import_file(csv_bytes(ROWS))
    changed = [list(row) for row in ROWS]
    changed[0][5] = "2025-09-30"  # was tills vidare
    changed[2][3] = "N2"  # was N4

    certificate_import = import_file(csv_bytes(changed))

    assert (certificate_import.created_count, certificate_import.updated_count) == (0, 2)
    assert certificate_import.unchanged_count == 1
    assert Certificate.objects.get(region=small_world.region, number="IMP-40").valid_to == datetime.date(2025, 9, 30)
    assert Certificate.objects.get(region=small_world.region, number="IMP-42").group == "N2"
    events = AuditEvent.objects.filter(action="eligibility.certificate.imported").order_by("pk")
    assert [(event.object_repr, event.before, event.after) for event in events] == [
        ("N-tandvård IMP-40", {"valid_to": None}, {"valid_to": "2025-09-30"}),
        ("N-tandvård IMP-42", {"group": "N4"}, {"group": "N2"}),
    ]
    assert {(event.actor, event.region_id) for event in events} == {(small_world.coordinator, small_world.region.pk)}


def test_a_start_date_that_differs_is_refused_rather_than_changed(small_world, import_file):
    import_file(csv_bytes(ROWS[:1]))

    certificate_import = import_file(csv_bytes([[PIN_A, "N", "IMP-40", "N1", "2025-02-01", ""]]))

    assert certificate_import.error_rows[0]["message"] == (
        "Intygsnummer IMP-40 finns redan med giltigt från 2025-01-01."
    )
    assert Certificate.objects.get(region=small_world.region, number="IMP-40").valid_from == datetime.date(2025, 1, 1)


# The background task ---------------------------------------------------------------------------------------


@pytest.fixture
def queued_import(small_world):
    """An import stored but not yet run: the upload's transaction has not committed in a `db` test."""
    return imports.certificate_import_start(
        actor=small_world.coordinator,
        region=small_world.region,
        uploaded=SimpleUploadedFile("intyg.csv", csv_bytes(ROWS)),
    )


def test_rerunning_the_task_after_a_crash_counts_from_zero_without_duplicates(small_world, queued_import, monkeypatch):
    monkeypatch.setattr(imports, "CHUNK_SIZE", 1)
    real_chunk = imports._import_chunk
    calls = []

    def crash_on_the_second_chunk(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("the worker died")
        return real_chunk(*args, **kwargs)

    with mock.patch.object(imports, "_import_chunk", crash_on_the_second_chunk), pytest.raises(RuntimeError):
        imports.certificate_import_run(certificate_import=queued_import)
    queued_import.refresh_from_db()
    # The first chunk, and its count, were saved before the crash.
    assert (queued_import.state, queued_import.processed_rows, queued_import.total_rows) == ("running", 1, 3)

    tasks.import_certificates.delay(queued_import.pk)  # as the broker delivers it again (acks_late)

    queued_import.refresh_from_db()
    assert queued_import.state == CertificateImportState.DONE
    assert (queued_import.processed_rows, queued_import.created_count, queued_import.unchanged_count) == (3, 2, 1)
    assert Certificate.objects.filter(region=small_world.region, number__startswith="IMP-4").count() == 3


def test_a_finished_import_is_not_run_again(small_world, queued_import):
    tasks.import_certificates.delay(queued_import.pk)
    queued_import.refresh_from_db()
    finished_at = queued_import.finished_at

    with mock.patch.object(imports, "_import_chunk") as chunk:
        tasks.import_certificates.delay(queued_import.pk)

    chunk.assert_not_called()
    queued_import.refresh_from_db()
    assert (queued_import.created_count, queued_import.finished_at) == (3, finished_at)


@pytest.fixture
def errors_handled_by_the_task():
    """Eager tasks that handle their own errors as under a worker (retry, on_failure), not raise them here."""
    previous = app.conf.task_eager_propagates
    app.conf.task_eager_propagates = False
    try:
        yield
    finally:
        app.conf.task_eager_propagates = previous


def test_the_task_retries_a_database_error_then_marks_the_import_failed(
    small_world, queued_import, errors_handled_by_the_task
):
    with mock.patch.object(imports, "certificate_import_run", side_effect=OperationalError("server closed")) as run:
        result = tasks.import_certificates.delay(queued_import.pk)

    assert result.failed()
    assert run.call_count == tasks.import_certificates.max_retries + 1 == 4
    queued_import.refresh_from_db()
    assert queued_import.state == CertificateImportState.FAILED
    assert queued_import.failure_message == FAILED
    assert queued_import.finished_at is not None


def test_any_other_error_marks_the_import_failed_at_once(small_world, queued_import, errors_handled_by_the_task):
    with mock.patch.object(imports, "certificate_import_run", side_effect=ValueError("bug")) as run:
        result = tasks.import_certificates.delay(queued_import.pk)

    assert result.failed()
    assert run.call_count == 1
    queued_import.refresh_from_db()
    assert (queued_import.state, queued_import.failure_message) == (CertificateImportState.FAILED, FAILED)


def test_a_failure_after_the_import_finished_leaves_it_done(small_world, queued_import):
    tasks.import_certificates.delay(queued_import.pk)

    imports.certificate_import_fail(import_id=queued_import.pk)

    queued_import.refresh_from_db()
    assert (queued_import.state, queued_import.failure_message) == (CertificateImportState.DONE, "")


def test_an_import_that_cannot_be_queued_is_failed_not_left_waiting(small_world, django_capture_on_commit_callbacks):
    from kombu.exceptions import OperationalError as BrokerUnavailable

    with (
        mock.patch.object(tasks.import_certificates, "delay", side_effect=BrokerUnavailable("no redis")),
        django_capture_on_commit_callbacks(execute=True),
    ):
        certificate_import = imports.certificate_import_start(
            actor=small_world.coordinator,
            region=small_world.region,
            uploaded=SimpleUploadedFile("intyg.csv", csv_bytes(ROWS)),
        )

    certificate_import.refresh_from_db()
    assert (certificate_import.state, certificate_import.failure_message) == (CertificateImportState.FAILED, FAILED)


# The pages -------------------------------------------------------------------------------------------------


def _upload_url(region) -> str:
    return reverse("certificate_import", kwargs={"region_code": region.code})


def _detail_url(certificate_import, region=None) -> str:
    """The page of the import, in its own region unless told."""
    region_code = (region or certificate_import.region).code
    return reverse("certificate_import_detail", kwargs={"region_code": region_code, "import_pk": certificate_import.pk})


def _status_url(certificate_import, region=None) -> str:
    region_code = (region or certificate_import.region).code
    return reverse("certificate_import_status", kwargs={"region_code": region_code, "import_pk": certificate_import.pk})


def test_upload_leads_to_the_progress_page_with_counts_and_errors(
    client, small_world, django_capture_on_commit_callbacks
):
    client.force_login(small_world.coordinator)
    content = csv_bytes([*ROWS, [BAD_PIN, "N", "IMP-49", "N1", "2025-01-01", ""]])
    assert_accessible_markup(
        lxml.html.document_fromstring(client.get(_upload_url(small_world.region)).content), "upload page"
    )

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            _upload_url(small_world.region), {"file": SimpleUploadedFile("Register 2025.csv", content)}
        )

    certificate_import = CertificateImport.objects.get()
    assert response.status_code == 302
    assert response["Location"] == _detail_url(certificate_import)
    assert certificate_import.original_name == "Register 2025.csv"
    assert certificate_import.uploaded_by == small_world.coordinator
    # Stored in private storage under a name of ours, not the uploader's.
    assert certificate_import.file.storage is CertificateImport._meta.get_field("file").storage
    assert certificate_import.file.name.startswith("certificate-imports/")
    assert "Register" not in certificate_import.file.name
    assert certificate_import.file.storage.exists(certificate_import.file.name)
    page = client.get(response["Location"])
    doc = lxml.html.document_fromstring(page.content)
    assert_accessible_markup(doc, "progress page")
    text = doc.text_content()
    assert "Klar" in text and "Register 2025.csv" in text
    assert doc.xpath("//progress[@max='4'][@value='4']")
    headers = [th.text_content() for th in doc.xpath("//table//th")]
    assert headers == ["Rad", "Personnummer", "Felmeddelande"]
    assert [td.text_content() for td in doc.xpath("//table/tbody/tr/td")] == [
        "5",
        masked(BAD_PIN),
        "Personnumret har fel kontrollsiffra.",
    ]
    # Finished: neither the refresh nor the script.
    assert not doc.xpath("//meta[@http-equiv='refresh']") and not doc.xpath(PAGE_SCRIPTS)
    assert client.get(_status_url(certificate_import)).json() == {
        "state": "done",
        "state_label": "Klar",
        "finished": True,
        "processed": 4,
        "total": 4,
        "created": 3,
        "unchanged": 0,
        "updated": 0,
        "errors": 1,
    }
    # The upload page lists it.
    listing = client.get(_upload_url(small_world.region)).content.decode()
    assert _detail_url(certificate_import) in listing


def test_uploading_the_same_file_again_says_so(client, small_world, django_capture_on_commit_callbacks):
    client.force_login(small_world.coordinator)
    content = csv_bytes(ROWS)
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                _upload_url(small_world.region), {"file": SimpleUploadedFile("intyg.csv", content)}, follow=True
            )
    assert "Samma fil importerades redan" in response.content.decode()
    assert CertificateImport.objects.count() == 2
    assert CertificateImport.objects.first().unchanged_count == 3


def test_a_running_import_refreshes_without_script_and_polls_with_it(client, small_world, queued_import):
    client.force_login(small_world.coordinator)
    CertificateImport.objects.filter(pk=queued_import.pk).update(
        state=CertificateImportState.RUNNING, total_rows=400, processed_rows=200, created_count=190
    )

    doc = lxml.html.document_fromstring(client.get(_detail_url(queued_import)).content)

    assert_accessible_markup(doc, "running import")
    # Without JavaScript the page reloads itself; `<noscript>` keeps it from reloading under the script.
    assert '<meta http-equiv="refresh" content="2">' in lxml.html.tostring(doc.head, encoding="unicode")
    assert doc.xpath("//head/noscript")
    (script,) = doc.xpath(PAGE_SCRIPTS)
    assert script.get("src").endswith("js/progress.js") and script.get("defer") is not None
    assert doc.xpath("//progress[@max='400'][@value='200']")
    container = doc.xpath("//*[@data-import-status]")[0]
    assert container.get("data-import-status") == _status_url(queued_import)
    status = client.get(_status_url(queued_import))
    assert status["Content-Type"] == "application/json"
    assert "no-cache" in status["Cache-Control"]
    assert status.json() == {
        "state": "running",
        "state_label": "Pågår",
        "finished": False,
        "processed": 200,
        "total": 400,
        "created": 190,
        "unchanged": 0,
        "updated": 0,
        "errors": 10,
    }


def test_the_progress_script_is_served_from_static(client):
    response = client.get("/static/js/progress.js")
    assert response.status_code == 200
    body = b"".join(response.streaming_content) if response.streaming else response.content
    assert b"data-import-status" in body


def test_a_failed_import_says_so_and_stops_waiting(client, small_world, queued_import):
    client.force_login(small_world.coordinator)
    imports.certificate_import_fail(import_id=queued_import.pk)

    doc = lxml.html.document_fromstring(client.get(_detail_url(queued_import)).content)

    assert FAILED in doc.text_content() and "Misslyckades" in doc.text_content()
    assert not doc.xpath(PAGE_SCRIPTS) and not doc.xpath("//meta[@http-equiv='refresh']")
    assert client.get(_status_url(queued_import)).json()["finished"] is True


def test_another_regions_coordinator_gets_404(client, small_world, queued_import):
    client.force_login(small_world.other_region_coordinator)
    for url in (_detail_url(queued_import), _status_url(queued_import)):
        assert client.get(url).status_code == 404
    # Nor through the coordinator's own region.
    for url in (
        _detail_url(queued_import, small_world.other_region),
        _status_url(queued_import, small_world.other_region),
    ):
        assert client.get(url).status_code == 404
    assert queued_import.original_name not in client.get(_upload_url(small_world.other_region)).content.decode()


def test_the_regions_coordinator_sees_the_progress_page_and_status(client, small_world, queued_import):
    client.force_login(small_world.coordinator)
    assert client.get(_detail_url(queued_import)).status_code == 200
    assert client.get(_status_url(queued_import)).json()["state"] == "queued"


def _plain_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("intyg.csv", ";".join(HEADER))
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("intyg.csv", WINDOWS_EXE, "Filen intyg.csv är ett program, ingen intygsfil."),
        ("intyg.xlsx", _plain_zip(), "Filen intyg.xlsx är inte en riktig Excel-fil (.xlsx)."),
        ("intyg.xlsx", csv_bytes(ROWS), "Filen intyg.xlsx är inte en riktig Excel-fil (.xlsx)."),
        ("intyg.csv", _plain_zip(), "Filen intyg.csv går inte att läsa som text i UTF-8. Spara den som CSV UTF-8"),
        ("intyg.csv", "Personnummer;Stödform\n".encode("cp1252"), "går inte att läsa som text i UTF-8"),
        ("intyg.txt", csv_bytes(ROWS), "Filen intyg.txt är varken en CSV-fil eller en Excel-fil (.xlsx)."),
        (
            "intyg.csv",
            csv_bytes([], header=["Personnummer", "Intygsnummer", "Grupp", "Giltigt från"]),
            "Filen intyg.csv saknar kolumnerna Stödform, Giltigt till på första raden.",
        ),
        (
            "intyg.csv",
            csv_bytes([], header=[*HEADER, "Återkallat från"]),
            "ska ha både Återkallat från och Skäl, eller ingen av dem.",
        ),
        ("intyg.csv", b"Personnummer;" + b"x" * (10 * 1024 * 1024), "Filen intyg.csv är större än 10 MB."),
    ],
    ids=[
        "exe-as-csv",
        "zip-as-xlsx",
        "csv-as-xlsx",
        "zip-as-csv",
        "windows-1252",
        "txt",
        "columns",
        "revocation",
        "large",
    ],
)
def test_the_upload_refuses_what_is_no_certificate_file_and_stores_nothing(client, small_world, name, content, message):
    client.force_login(small_world.coordinator)
    storage = CertificateImport._meta.get_field("file").storage

    with mock.patch.object(storage, "save", wraps=storage.save) as save:
        response = client.post(_upload_url(small_world.region), {"file": SimpleUploadedFile(name, content)})

    assert response.status_code == 200
    doc = lxml.html.document_fromstring(response.content)
    assert message in doc.xpath("//*[contains(@class, 'error-summary')]")[0].text_content()
    assert doc.xpath("//*[contains(@class, 'field--error')]//input[@type='file']")
    assert not CertificateImport.objects.exists()
    save.assert_not_called()
    assert not AuditEvent.objects.filter(action__startswith="eligibility.certificate_import.").exists()


# Through a real worker -------------------------------------------------------------------------------------


def test_an_upload_is_imported_by_the_worker_in_the_background(client, transactional_small_world, celery_worker):
    small_world = transactional_small_world
    client.force_login(small_world.coordinator)

    response = client.post(
        _upload_url(small_world.region), {"file": SimpleUploadedFile("intyg.xlsx", xlsx_bytes(ROWS))}
    )

    assert response.status_code == 302
    certificate_import = CertificateImport.objects.get()
    finished = CertificateImport.objects.filter(pk=certificate_import.pk, state__in=["done", "failed"])
    wait_until(finished.exists, timeout=30, what="the worker to finish the import")
    assert client.get(_status_url(certificate_import)).json()["finished"] is True
    certificate_import.refresh_from_db()
    assert certificate_import.state == CertificateImportState.DONE, certificate_import.failure_message
    assert (certificate_import.processed_rows, certificate_import.created_count) == (3, 3)
    assert Certificate.objects.filter(region=small_world.region, number__in=["IMP-40", "IMP-41", "IMP-42"]).count() == 3
