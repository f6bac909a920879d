"""Ladda upp fakturafil: upload, the check in the background, the result with its error list, sending the
correct claims as one invoice, review only, the same file again, whole-file faults, and a real worker."""

import datetime
import io
import re
from unittest import mock

import lxml.html
import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import OperationalError
from django.urls import reverse
from django.utils import timezone

from billing import invoice_file_services, tasks
from billing.services import claim_submit
from claims.drafts import ClaimDraft, LineDraft
from claims.models import Claim, Invoice, InvoiceFileFault, InvoiceFileState, InvoiceFileUpload, InvoiceSource
from portal.celery import app
from portal.models import AccessLogEntry
from tests.clinics.factories import ClinicFactory
from tests.eligibility.factories import CertificateFactory
from tests.test_accessibility_markup import assert_accessible_markup
from tests.waiting import wait_until

FAILED = "Filen kunde inte kontrolleras, försök igen."
GOOD_PIN = "200001012384"  # has an N certificate (764153) in the demo
BAD_PIN = "200001012385"  # wrong check digit
MAX_CLAIM_NUMBER = 60  # the highest number a claim's reference ends with in these tests (its visit's days back)


def _claim(reference: str, pin: str = GOOD_PIN, *, day: datetime.date | None = None) -> str:
    # Each claim a visit of its own, as many days further back as the number its reference ends with: the same
    # visit on two claims would be duplicate care.
    number = int(re.search(r"(\d*)$", reference).group(1) or 0)
    day = day or timezone.localdate() - datetime.timedelta(days=5 + number)
    return f"""
  <Rakning>
    <Rakningsreferens>{reference}</Rakningsreferens>
    <Personnummer>{pin}</Personnummer>
    <Stodform>N</Stodform>
    <Intygsnummer>764153</Intygsnummer>
    <Vardmodell>K1</Vardmodell>
    <Besok datum="{day.isoformat()}">
      <Patientavgift belopp="200"/>
      <Atgard kod="101"/>
    </Besok>
  </Rakning>"""


def invoice_xml(claims: list[str], *, clinic: str = "31", reference: str = "F-7001") -> bytes:
    return (
        f"""<?xml version="1.0" encoding="UTF-8"?>
<Fakturafil xmlns="urn:se:tandvardsstod:fakturafil:1" version="1">
  <Huvud>
    <Kliniknummer>{clinic}</Kliniknummer>
    <Fakturareferens>{reference}</Fakturareferens>
    <Skapad>2026-01-01T08:00:00</Skapad>
  </Huvud>{"".join(claims)}
</Fakturafil>
"""
    ).encode()


def mixed_file(reference: str = "F-7001") -> bytes:
    """Three claims: two correct, one with a personnummer whose check digit is wrong."""
    return invoice_xml([_claim("FIL-1"), _claim("FIL-2", BAD_PIN), _claim("FIL-3")], reference=reference)


def _upload_url(world) -> str:
    return reverse("invoice_file_upload", kwargs={"clinic_pk": world.clinic31.pk})


def _url(name: str, upload, clinic=None) -> str:
    return reverse(name, kwargs={"clinic_pk": (clinic or upload.clinic).pk, "upload_pk": upload.pk})


@pytest.fixture
def biller(client, world):
    client.force_login(world.biller)
    return client


@pytest.fixture
def upload_file(biller, world, django_capture_on_commit_callbacks):
    """Post a file on the upload page; the check runs (eagerly) when the upload commits."""

    def post(content: bytes, *, name: str = "faktura.xml", review_only: bool = False):
        data = {"file": SimpleUploadedFile(name, content, content_type="text/xml")}
        if review_only:
            data["review_only"] = "on"
        with django_capture_on_commit_callbacks(execute=True):
            return biller.post(_upload_url(world), data)

    return post


@pytest.fixture
def press_send(biller, django_capture_on_commit_callbacks):
    """Press Ladda upp; the sending task runs (eagerly) when the request commits."""

    def post(upload, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return biller.post(_url("invoice_file_send", upload), **kwargs)

    return post


def _doc(response):
    return lxml.html.document_fromstring(response.content)


def _fault_rows(doc) -> list[list[str]]:
    return [
        [cell.text_content().strip() for cell in row.xpath("td")]
        for row in doc.xpath("//table[contains(@class, 'file-faults')]/tbody/tr")
    ]


def test_upload_checks_the_file_and_shows_counts_and_the_error_list(biller, world, upload_file):
    assert_accessible_markup(_doc(biller.get(_upload_url(world))), "upload page")

    response = upload_file(mixed_file(), name="Journal oktober.xml")

    upload = InvoiceFileUpload.objects.get()
    assert response.status_code == 302
    assert response["Location"] == _url("invoice_file_detail", upload)
    assert (upload.state, upload.claim_count, upload.processed_count, upload.faulty_count) == ("checked", 3, 3, 1)
    assert upload.original_name == "Journal oktober.xml"
    assert upload.invoice_reference == "F-7001"
    assert len(upload.sha256) == 64
    # Stored privately under a name of ours, not the uploader's.
    assert upload.file.name.startswith("invoice-files/") and "Journal" not in upload.file.name
    page = biller.get(response["Location"])
    doc = _doc(page)
    assert_accessible_markup(doc, "result page")
    text = doc.text_content()
    assert "Kontrollerad" in text and "Journal oktober.xml" in text
    assert doc.xpath("//progress[@max='3'][@value='3']")
    facts = {
        dt.text_content().strip(): dt.getnext().text_content().strip() for dt in doc.xpath("//dl[@class='facts']/dt")
    }
    assert (facts["Räkningar i filen"], facts["Korrekta räkningar"], facts["Räkningar med fel"]) == ("3", "2", "1")
    headings = [th.text_content().strip() for th in doc.xpath("//table[contains(@class, 'file-faults')]//th")]
    assert headings == ["Kliniknummer", "Räkningsnummer", "Personnummer", "Felmeddelande"]
    assert _fault_rows(doc) == [["31", "FIL-2", BAD_PIN, "Personnumret är ogiltigt."]]
    assert doc.xpath("//button[normalize-space()='Ladda upp']")
    assert doc.xpath("//button[normalize-space()='Tillbaka till filuppladdningen']")
    # The personnummer shown is patient data: the view is logged.
    assert AccessLogEntry.objects.filter(user=world.biller, personal_identity_number=BAD_PIN[:12]).exists()
    # The list of the clinic's recent files shows it and its state.
    upload_page = _doc(biller.get(_upload_url(world)))
    assert "Journal oktober.xml" in upload_page.text_content()
    # The print layout has the same list.
    printable = _doc(biller.get(_url("invoice_file_detail", upload) + "?utskrift=1"))
    assert_accessible_markup(printable, "print page")
    assert _fault_rows(printable) == [["31", "FIL-2", BAD_PIN, "Personnumret är ogiltigt."]]


def test_ladda_upp_sends_the_correct_claims_as_one_invoice_once(press_send, biller, world, upload_file):
    upload_file(mixed_file())
    upload = InvoiceFileUpload.objects.get()

    response = press_send(upload)

    assert response.status_code == 302
    invoice = Invoice.objects.get(clinic=world.clinic31, reference="F-7001")
    assert invoice.source == InvoiceSource.FILE
    assert sorted(invoice.claims.values_list("reference", flat=True)) == ["FIL-1", "FIL-3"]
    upload.refresh_from_db()
    assert (upload.state, upload.invoice) == (InvoiceFileState.SENT, invoice)
    page = _doc(biller.get(response["Location"]))
    assert "F-7001" in page.text_content()
    assert not page.xpath("//button[normalize-space()='Ladda upp']")
    # A sent file reads "Skickad", here and in the list of files.
    assert page.xpath("//*[@data-import='state_label']")[0].text_content().strip() == "Skickad"

    # A second click does nothing.
    press_send(upload)
    assert Invoice.objects.filter(clinic=world.clinic31, reference="F-7001").count() == 1
    assert Claim.objects.filter(clinic=world.clinic31, reference__startswith="FIL-").count() == 2


def test_sending_is_all_or_none(press_send, biller, world, upload_file, monkeypatch):
    upload_file(mixed_file())
    upload = InvoiceFileUpload.objects.get()
    # One claim a chunk: the first chunk is stored before the second fails.
    monkeypatch.setattr(invoice_file_services, "CHUNK_SIZE", 1)
    real_submit = invoice_file_services.claims_submit
    calls = []

    def fail_on_the_second(**kwargs):
        if kwargs["drafts"]:
            calls.append(1)
        if len(calls) == 2:
            from claims.services import ClaimRejected
            from claims.validation import claim_reference_used_fault

            raise ClaimRejected([claim_reference_used_fault()], reference=kwargs["drafts"][0].reference)
        return real_submit(**kwargs)

    with mock.patch.object(invoice_file_services, "claims_submit", fail_on_the_second):
        press_send(upload)
    response = biller.get(_url("invoice_file_detail", upload))

    assert "Räkningen FIL-3 kan inte längre skickas" in response.content.decode()
    assert "Inget har skickats" in response.content.decode()
    assert len(calls) == 2
    assert not Invoice.objects.filter(clinic=world.clinic31, reference="F-7001").exists()
    assert not Claim.objects.filter(clinic=world.clinic31, reference__startswith="FIL-").exists()
    upload.refresh_from_db()
    assert upload.state == InvoiceFileState.CHECKED


def test_tillbaka_discards_the_result(press_send, biller, world, upload_file):
    upload_file(mixed_file())
    upload = InvoiceFileUpload.objects.get()

    response = biller.post(_url("invoice_file_discard", upload))

    assert response["Location"] == _upload_url(world)
    upload.refresh_from_db()
    assert upload.state == InvoiceFileState.DISCARDED
    assert not upload.faults.exists()
    press_send(upload)
    assert not Invoice.objects.filter(clinic=world.clinic31, reference="F-7001").exists()


def test_granska_endast_checks_without_the_option_to_send(press_send, biller, world, upload_file):
    upload_file(mixed_file(), review_only=True)
    upload = InvoiceFileUpload.objects.get()
    assert upload.review_only and upload.state == InvoiceFileState.CHECKED

    doc = _doc(biller.get(_url("invoice_file_detail", upload)))
    assert not doc.xpath("//button[normalize-space()='Ladda upp']")
    assert len(_fault_rows(doc)) == 1

    press_send(upload)
    assert not Invoice.objects.filter(clinic=world.clinic31, reference="F-7001").exists()


def test_the_same_file_again_is_recognised_and_not_sent_twice(press_send, biller, world, upload_file):
    upload_file(mixed_file())
    first = InvoiceFileUpload.objects.get()
    press_send(first)

    response = upload_file(mixed_file())

    assert InvoiceFileUpload.objects.count() == 1
    assert response["Location"] == _url("invoice_file_detail", first)
    page = biller.get(response["Location"]).content.decode()
    assert "Filen laddades redan upp den" in page
    assert Invoice.objects.filter(clinic=world.clinic31, reference="F-7001").count() == 1


@pytest.mark.parametrize(
    "content,message",
    [
        (invoice_xml([_claim("FIL-1")]).replace(b"</Rakning>", b"</Raknin>"), ""),
        (
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "x">]><Fakturafil/>',
            "Filen innehåller otillåtna XML-konstruktioner",
        ),
        (invoice_xml([_claim("FIL-1")], clinic="32"), "klinik 32"),
        (invoice_xml([_claim("FIL-1")]).replace(b"fakturafil:1", b"fakturafil:9"), ""),
    ],
    ids=["not-well-formed", "doctype", "other-clinic", "wrong-namespace"],
)
def test_a_whole_file_fault_stores_only_the_upload_with_one_message(biller, world, upload_file, content, message):
    upload_file(content)

    upload = InvoiceFileUpload.objects.get()
    assert upload.state == InvoiceFileState.REJECTED
    assert message in upload.failure_message and upload.failure_message
    assert not InvoiceFileFault.objects.exists()
    doc = _doc(biller.get(_url("invoice_file_detail", upload)))
    assert upload.failure_message in " ".join(doc.xpath("//*[@role='alert']//text()"))
    assert not doc.xpath("//button[normalize-space()='Ladda upp']")


def test_an_invoice_reference_used_before_rejects_the_file(press_send, biller, world, upload_file):
    upload_file(mixed_file())
    press_send(InvoiceFileUpload.objects.get())

    upload_file(invoice_xml([_claim("FIL-9")]))  # another file, the same Fakturareferens

    upload = InvoiceFileUpload.objects.latest("pk")
    assert (upload.state, upload.failure_message) == ("rejected", "OCR/Fakturanumret har redan använts.")


def test_an_invoice_number_the_web_form_took_after_the_check_is_refused_when_the_file_is_sent(
    press_send, biller, world, upload_file
):
    # The web form may add claims to today's still-open invoice; a file's invoice number must be new, at the
    # check and at the send alike (claims.validation.invoice_reference_fault with may_join_open=False). Sending
    # used to join such an invoice while the check refused it.
    upload_file(mixed_file())
    upload = InvoiceFileUpload.objects.get()
    assert upload.state == InvoiceFileState.CHECKED
    day = timezone.localdate() - datetime.timedelta(days=5)
    draft = ClaimDraft(
        personal_identity_number=GOOD_PIN,
        support_form="N",
        reference="WEB-1",
        lines=[LineDraft(day, "101")],
        patient_fees={day: 20000},
        care_model="K1",
    )
    web_claim = claim_submit(actor=world.biller, clinic=world.clinic31, invoice_reference="F-7001", draft=draft)

    press_send(upload)

    upload.refresh_from_db()
    assert upload.state == InvoiceFileState.CHECKED
    assert "OCR/Fakturanumret har redan använts." in upload.failure_message
    assert list(Invoice.objects.get(clinic=world.clinic31, reference="F-7001").claims.all()) == [web_claim]
    assert not Claim.objects.filter(clinic=world.clinic31, reference__startswith="FIL-").exists()


@pytest.mark.parametrize(
    "name,content,message",
    [
        ("faktura.xml", b"MZ\x90\x00\x03\x00\x00\x00binary", "Filen är inte en XML-fil."),
        ("faktura.xml", b"Kliniknummer;Personnummer\r\n31;200001012384\r\n", "Filen är inte en XML-fil."),
    ],
)
def test_the_upload_refuses_what_is_no_xml_and_stores_nothing(biller, world, upload_file, name, content, message):
    response = upload_file(content, name=name)

    assert response.status_code == 200
    assert message in response.content.decode()
    assert not InvoiceFileUpload.objects.exists()


def test_a_file_over_the_size_limit_is_refused_before_it_is_stored(biller, world, upload_file, monkeypatch):
    monkeypatch.setattr(invoice_file_services, "MAX_FILE_SIZE", 100)

    response = upload_file(mixed_file())

    assert "Filen är större än" in response.content.decode()
    assert not InvoiceFileUpload.objects.exists()


def test_another_clinics_upload_is_404(client, world, upload_file):
    upload_file(mixed_file())
    upload = InvoiceFileUpload.objects.get()
    client.force_login(world.dalarna_biller)
    for name in ("invoice_file_detail", "invoice_file_status", "invoice_file_errors_excel"):
        assert client.get(_url(name, upload, clinic=world.clinic2001)).status_code == 404
    assert client.post(_url("invoice_file_send", upload, clinic=world.clinic2001)).status_code == 404
    # Clinic 32 is the biller's too, but the upload is clinic 31's.
    client.force_login(world.biller)
    assert client.get(_url("invoice_file_detail", upload, clinic=world.clinic32)).status_code == 404


def test_the_error_list_is_saved_to_excel(biller, world, upload_file):
    upload_file(mixed_file())
    upload = InvoiceFileUpload.objects.get()

    response = biller.get(_url("invoice_file_errors_excel", upload))

    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    assert BAD_PIN not in response["Content-Disposition"]
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    rows = [[cell for cell in row] for row in sheet.iter_rows(values_only=True)]
    assert ["Kliniknummer", "Räkningsnummer", "Personnummer", "Felmeddelande"] in rows
    assert ["31", "FIL-2", BAD_PIN, "Personnumret är ogiltigt."] in rows


def test_a_running_check_refreshes_without_script_and_polls_with_it(biller, world):
    upload = InvoiceFileUpload.objects.create(
        clinic=world.clinic31, uploaded_by=world.biller, original_name="f.xml", sha256="1" * 64
    )
    doc = _doc(biller.get(_url("invoice_file_detail", upload)))
    assert doc.xpath("//noscript/meta[@http-equiv='refresh']")
    assert doc.xpath(f"//*[@data-import-status='{_url('invoice_file_status', upload)}']")
    assert doc.xpath("//script[contains(@src, 'js/progress.js')]")
    status = biller.get(_url("invoice_file_status", upload)).json()
    assert (status["finished"], status["processed"], status["total"]) == (False, 0, 0)


# Running again and failing ---------------------------------------------------------------------------------


def _ready_for_files(world):
    """The small world with what mixed_file's claims name: clinic 31, GOOD_PIN's N certificate 764153 (care
    model K1 comes with the region), the tariff of the visit; the biller made here for the threads to share."""
    world.clinic = ClinicFactory(region=world.region, number="31")
    CertificateFactory(patient__personal_identity_number=GOOD_PIN, region=world.region, number="764153")
    world.tariff(*(timezone.localdate() - datetime.timedelta(days=days) for days in (5, 5 + MAX_CLAIM_NUMBER)))
    world.biller
    return world


@pytest.fixture
def file_world(small_world):
    return _ready_for_files(small_world)


def _queued(clinic, biller) -> InvoiceFileUpload:
    from django.core.files.base import ContentFile

    upload = InvoiceFileUpload(clinic=clinic, uploaded_by=biller, original_name="f.xml", sha256="2" * 64)
    upload.file.save("test.xml", ContentFile(mixed_file()), save=False)
    upload.save()
    return upload


@pytest.fixture
def queued_upload(world):
    """Waiting for its check, on the demo: for the pages that show it."""
    return _queued(world.clinic31, world.biller)


@pytest.fixture
def small_queued_upload(file_world):
    return _queued(file_world.clinic, file_world.biller)


def _checked(world, content: bytes) -> InvoiceFileUpload:
    """Store the file through the upload service and run the check as its task does."""
    upload = invoice_file_services.invoice_file_start(
        actor=world.biller, clinic=world.clinic, uploaded=SimpleUploadedFile("faktura.xml", content)
    ).upload
    invoice_file_services.invoice_file_check(upload=upload)
    upload.refresh_from_db()
    return upload


def test_a_whole_file_fault_at_the_end_of_a_file_read_in_chunks_stores_no_faults(file_world, monkeypatch):
    monkeypatch.setattr(invoice_file_services, "CHUNK_SIZE", 1)
    claims = [_claim(f"FIL-{n}", BAD_PIN if n % 2 else GOOD_PIN) for n in range(1, 6)]
    upload = _checked(file_world, invoice_xml(claims).replace(b"</Fakturafil>", b"<Okand/></Fakturafil>"))

    assert upload.state == InvoiceFileState.REJECTED
    assert "Okand" in upload.failure_message
    assert (upload.processed_count, upload.faulty_count) == (0, 0)
    assert not InvoiceFileFault.objects.filter(upload=upload).exists()


def test_a_reference_given_twice_is_a_fault_of_both_claims_in_different_chunks(file_world, monkeypatch):
    monkeypatch.setattr(invoice_file_services, "CHUNK_SIZE", 1)
    upload = _checked(file_world, invoice_xml([_claim("FIL-1"), _claim("FIL-2"), _claim("FIL-1")]))

    faults = upload.faults.order_by("claim_index")
    assert [(f.claim_index, f.claim_reference, f.code) for f in faults] == [
        (1, "FIL-1", "reference_used"),
        (3, "FIL-1", "reference_used"),
    ]
    assert (upload.claim_count, upload.correct_count) == (3, 1)


def test_repeated_references_are_found_among_all_of_a_files_references():
    repeated = invoice_file_services.RepeatedReferences(["R-1", "R-2", "R-1", "R-3", "R-3", "R-3", "r-2"])
    assert repeated.count == 7
    assert [reference in repeated for reference in ("R-1", "R-2", "R-3", "r-2", "R-4")] == [
        True,
        False,
        True,
        False,
        False,
    ]


def test_the_check_reads_in_batches_not_claim_by_claim(file_world, django_capture_on_commit_callbacks):
    """The queries of a check do not grow with the number of claims (all within one chunk)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries_for(count: int, reference: str) -> int:
        pins = [GOOD_PIN, BAD_PIN, "200001022391", "200001011493"]
        content = invoice_xml([_claim(f"{reference}-{n}", pins[n % 4]) for n in range(count)], reference=reference)
        upload = invoice_file_services.invoice_file_start(
            actor=file_world.biller,
            clinic=file_world.clinic,
            uploaded=SimpleUploadedFile("faktura.xml", content, content_type="text/xml"),
        ).upload
        with CaptureQueriesContext(connection) as queries:
            invoice_file_services.invoice_file_check(upload=upload)
        upload.refresh_from_db()
        assert upload.processed_count == count
        return len(queries)

    assert queries_for(40, "Q40") == queries_for(4, "Q4")


def test_a_crashed_check_runs_again_from_the_start_without_duplicate_rows(small_queued_upload, monkeypatch):
    monkeypatch.setattr(invoice_file_services, "CHUNK_SIZE", 2)
    real_chunk = invoice_file_services._save_chunk
    calls = []

    def crash_on_the_second_chunk(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("the worker died")
        return real_chunk(*args, **kwargs)

    with (
        mock.patch.object(invoice_file_services, "_save_chunk", crash_on_the_second_chunk),
        pytest.raises(RuntimeError),
    ):
        invoice_file_services.invoice_file_check(upload=small_queued_upload)
    small_queued_upload.refresh_from_db()
    assert (small_queued_upload.state, small_queued_upload.processed_count, small_queued_upload.faulty_count) == (
        "running",
        2,
        1,
    )
    assert InvoiceFileFault.objects.filter(upload=small_queued_upload).count() == 1

    tasks.check_invoice_file.delay(small_queued_upload.pk)  # as the broker delivers it again (acks_late)

    small_queued_upload.refresh_from_db()
    assert (small_queued_upload.state, small_queued_upload.processed_count, small_queued_upload.faulty_count) == (
        "checked",
        3,
        1,
    )
    assert InvoiceFileFault.objects.filter(upload=small_queued_upload).count() == 1


@pytest.fixture
def errors_handled_by_the_task():
    """Eager tasks that handle their own errors as under a worker (retry, on_failure), not raise them here."""
    previous = app.conf.task_eager_propagates
    app.conf.task_eager_propagates = False
    try:
        yield
    finally:
        app.conf.task_eager_propagates = previous


def test_after_the_retry_limit_the_page_says_the_file_could_not_be_checked(
    biller, world, queued_upload, errors_handled_by_the_task, monkeypatch
):
    monkeypatch.setattr(tasks, "RETRY_BASE_SECONDS", 0)
    with mock.patch.object(
        invoice_file_services, "invoice_file_check", side_effect=OperationalError("server closed")
    ) as check:
        result = tasks.check_invoice_file.delay(queued_upload.pk)

    assert result.failed()
    assert check.call_count == tasks.check_invoice_file.max_retries + 1 == 4
    queued_upload.refresh_from_db()
    assert (queued_upload.state, queued_upload.failure_message) == (InvoiceFileState.FAILED, FAILED)
    doc = _doc(biller.get(_url("invoice_file_detail", queued_upload)))
    assert FAILED in " ".join(doc.xpath("//*[@role='alert']//text()"))
    assert not doc.xpath("//noscript/meta[@http-equiv='refresh']")
    assert biller.get(_url("invoice_file_status", queued_upload)).json()["finished"] is True


QUEUE_WAITS_WORDS = "Kontrollen startar när kön för bakgrundsarbete fungerar igen."
PAGE_WAITS_WORDS = "den startar av sig själv när kön för bakgrundsarbete fungerar igen"


def test_an_upload_that_cannot_be_queued_is_kept_and_queued_when_the_queue_is_back(
    file_world, client, django_capture_on_commit_callbacks
):
    """Redis away (docs/fault-drills.md): the file is stored and waits, its page says so, and beat's
    invoice_files_queue_waiting queues it once the queue answers; while it does not, the file keeps waiting."""
    from kombu.exceptions import OperationalError as BrokerUnavailable

    with (
        mock.patch.object(tasks.check_invoice_file, "delay", side_effect=BrokerUnavailable("no redis")),
        django_capture_on_commit_callbacks(execute=True),
    ):
        started = invoice_file_services.invoice_file_start(
            actor=file_world.biller, clinic=file_world.clinic, uploaded=SimpleUploadedFile("f.xml", mixed_file())
        )

    upload = InvoiceFileUpload.objects.get(pk=started.upload.pk)
    client.force_login(file_world.biller)
    assert upload.state == InvoiceFileState.QUEUED
    assert upload.failure_message == invoice_file_services.QUEUE_WAITS
    doc = _doc(client.get(_url("invoice_file_detail", upload)))
    assert PAGE_WAITS_WORDS in " ".join(doc.xpath("//*[@role='status']//text()"))
    assert client.get(_url("invoice_file_status", upload)).json()["finished"] is False

    with mock.patch.object(tasks.check_invoice_file, "delay", side_effect=BrokerUnavailable("still no redis")):
        assert tasks.invoice_files_queue_waiting() == 0
    upload.refresh_from_db()
    assert upload.failure_message == invoice_file_services.QUEUE_WAITS

    with mock.patch.object(tasks.check_invoice_file, "delay") as delay:
        assert tasks.invoice_files_queue_waiting() == 1
        assert tasks.invoice_files_queue_waiting() == 0  # queued once, not every minute
    delay.assert_called_once_with(upload.pk)
    upload.refresh_from_db()
    assert (upload.state, upload.failure_message) == (InvoiceFileState.QUEUED, "")
    doc = _doc(client.get(_url("invoice_file_detail", upload)))
    assert PAGE_WAITS_WORDS not in doc.text_content()


def test_the_upload_page_says_the_check_waits_for_the_queue(client, transactional_small_world):
    world = _ready_for_files(transactional_small_world)  # committed: the upload's on_commit runs in the request
    from kombu.exceptions import OperationalError as BrokerUnavailable

    client.force_login(world.biller)
    with mock.patch.object(tasks.check_invoice_file, "delay", side_effect=BrokerUnavailable("no redis")):
        response = client.post(
            reverse("invoice_file_upload", kwargs={"clinic_pk": world.clinic.pk}),
            {"file": SimpleUploadedFile("f.xml", mixed_file(), content_type="text/xml")},
            follow=True,
        )
    assert response.status_code == 200
    assert QUEUE_WAITS_WORDS in _doc(response).text_content()
    assert InvoiceFileUpload.objects.get().state == InvoiceFileState.QUEUED


# Through a real worker -------------------------------------------------------------------------------------


def test_the_worker_retries_a_check_that_died_midway_without_duplicate_rows(
    client, transactional_small_world, celery_worker, monkeypatch
):
    world = _ready_for_files(transactional_small_world)  # committed, for the worker thread
    monkeypatch.setattr(invoice_file_services, "CHUNK_SIZE", 2)
    monkeypatch.setattr(tasks, "RETRY_BASE_SECONDS", 0)
    real_chunk = invoice_file_services._save_chunk
    calls = []

    def lose_the_database_on_the_second_chunk_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise OperationalError("server closed the connection unexpectedly")
        return real_chunk(*args, **kwargs)

    monkeypatch.setattr(invoice_file_services, "_save_chunk", lose_the_database_on_the_second_chunk_once)
    client.force_login(world.biller)

    response = client.post(
        reverse("invoice_file_upload", kwargs={"clinic_pk": world.clinic.pk}),
        {"file": SimpleUploadedFile("faktura.xml", mixed_file())},
    )

    assert response.status_code == 302
    upload = InvoiceFileUpload.objects.get()
    finished = InvoiceFileUpload.objects.filter(pk=upload.pk, state__in=["checked", "failed", "rejected"])
    wait_until(finished.exists, timeout=30, what="the worker to finish the check")
    upload.refresh_from_db()
    assert upload.state == InvoiceFileState.CHECKED, upload.failure_message
    assert len(calls) >= 3  # the first run died on its second chunk; the retry saved both again
    assert (upload.claim_count, upload.processed_count, upload.faulty_count) == (3, 3, 1)
    assert InvoiceFileFault.objects.filter(upload=upload).count() == 1
    assert client.get(_url("invoice_file_status", upload)).json()["finished"] is True


def test_a_file_checked_for_review_only_can_then_be_uploaded_to_be_sent(press_send, biller, world, upload_file):
    upload_file(mixed_file(), review_only=True)

    upload_file(mixed_file())

    assert InvoiceFileUpload.objects.count() == 2
    to_send = InvoiceFileUpload.objects.get(review_only=False)
    press_send(to_send)
    assert Invoice.objects.filter(clinic=world.clinic31, reference="F-7001").count() == 1


# Sending in the background ---------------------------------------------------------------------------------

SEND_FAILED = "Räkningarna kunde inte skickas. Inget har skickats, försök igen."


def test_ladda_upp_queues_the_sending_once_and_the_page_waits_for_it(
    biller, world, upload_file, django_capture_on_commit_callbacks
):
    upload_file(mixed_file())
    upload = InvoiceFileUpload.objects.get()

    with django_capture_on_commit_callbacks() as first:
        biller.post(_url("invoice_file_send", upload))
    with django_capture_on_commit_callbacks() as second:
        biller.post(_url("invoice_file_send", upload))

    assert (len(first), len(second)) == (1, 0)  # a second click queues nothing
    upload.refresh_from_db()
    assert upload.state == InvoiceFileState.SENDING and upload.sent_by == world.biller
    doc = _doc(biller.get(_url("invoice_file_detail", upload)))
    assert "skickas som faktura F-7001" in " ".join(doc.xpath("//*[@role='status']//text()"))
    assert doc.xpath("//noscript/meta[@http-equiv='refresh']")
    assert not doc.xpath("//button[normalize-space()='Ladda upp']")
    assert biller.get(_url("invoice_file_status", upload)).json()["finished"] is False
    assert not Invoice.objects.filter(clinic=world.clinic31, reference="F-7001").exists()

    first[0]()  # the worker runs the task

    upload.refresh_from_db()
    assert upload.state == InvoiceFileState.SENT
    assert upload.invoice.claims.count() == 2
    assert biller.get(_url("invoice_file_status", upload)).json()["finished"] is True


def test_a_sending_that_fails_after_the_retries_sends_nothing_and_says_so(
    biller, world, upload_file, errors_handled_by_the_task, monkeypatch, django_capture_on_commit_callbacks
):
    upload_file(mixed_file())
    upload = InvoiceFileUpload.objects.get()
    monkeypatch.setattr(tasks, "RETRY_BASE_SECONDS", 0)

    with (
        mock.patch.object(
            invoice_file_services, "claims_submit", side_effect=OperationalError("server closed")
        ) as submit,
        django_capture_on_commit_callbacks(execute=True),
    ):
        biller.post(_url("invoice_file_send", upload))

    assert submit.call_count == tasks.send_invoice_file.max_retries + 1
    upload.refresh_from_db()
    assert (upload.state, upload.failure_message) == (InvoiceFileState.CHECKED, SEND_FAILED)
    assert not Invoice.objects.filter(clinic=world.clinic31, reference="F-7001").exists()
    doc = _doc(biller.get(_url("invoice_file_detail", upload)))
    assert SEND_FAILED in " ".join(doc.xpath("//*[@role='alert']//text()"))
    assert doc.xpath("//button[normalize-space()='Ladda upp']")  # it may be sent again


@pytest.mark.parametrize(
    ("state", "message"),
    [(InvoiceFileState.RUNNING, FAILED), (InvoiceFileState.SENDING, SEND_FAILED)],
    ids=["check", "send"],
)
def test_a_page_stops_waiting_once_its_worker_is_surely_gone(biller, world, queued_upload, settings, state, message):
    """After twice the broker's visibility timeout without a sign of life no worker is coming: the page says so."""
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 600}
    InvoiceFileUpload.objects.filter(pk=queued_upload.pk).update(
        state=state, updated_at=timezone.now() - datetime.timedelta(seconds=1150)
    )
    assert biller.get(_url("invoice_file_status", queued_upload)).json()["finished"] is False

    InvoiceFileUpload.objects.filter(pk=queued_upload.pk).update(
        updated_at=timezone.now() - datetime.timedelta(seconds=1250)
    )

    assert biller.get(_url("invoice_file_status", queued_upload)).json()["finished"] is True
    doc = _doc(biller.get(_url("invoice_file_detail", queued_upload)))
    assert message in " ".join(doc.xpath("//*[@role='alert']//text()"))
    assert not doc.xpath("//noscript/meta[@http-equiv='refresh']")
