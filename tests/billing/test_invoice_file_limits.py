"""What a hostile invoice file can cost: attributes per element, elements per claim and faults per claim are
bounded, and one clinic's files are checked one at a time while other clinics' files go on beside them."""

import datetime
import io
import time
from unittest import mock

import pytest
from django.core.files.base import ContentFile
from django.db import connections

from billing import invoice_file_services, tasks
from billing.invoice_file import (
    MAX_ATTRIBUTES,
    MAX_ELEMENTS_PER_CLAIM,
    MAX_FAULTS_PER_CLAIM,
    NAMESPACE,
    InvoiceFileRejected,
    parse_invoice_file,
)
from claims.models import InvoiceFileState, InvoiceFileUpload
from tests.billing.test_invoice_file_flow import _claim as _flow_claim
from tests.billing.test_invoice_file_flow import _ready_for_files, invoice_xml, mixed_file
from tests.clinics.factories import ClinicFactory
from tests.waiting import wait_until

MB = 1024 * 1024
HEADER = (
    "<Huvud><Kliniknummer>31</Kliniknummer><Fakturareferens>212962</Fakturareferens>"
    "<Skapad>2025-10-01T08:15:00</Skapad></Huvud>"
)


def _file(*claims: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Fakturafil xmlns="{NAMESPACE}" version="1">\n{HEADER}\n'
        + "\n".join(claims)
        + "\n</Fakturafil>"
    ).encode()


def _claim(body: str) -> str:
    return (
        "<Rakning><Rakningsreferens>1</Rakningsreferens><Personnummer>200001012384</Personnummer>"
        f"<Stodform>N</Stodform>{body}</Rakning>"
    )


def _visit(extra_attributes: int, first: int = 0) -> str:
    extra = "".join(f' a{i}="x"' for i in range(first, first + extra_attributes))
    return f'<Besok datum="2025-09-01"{extra}><Patientavgift belopp="200"/><Atgard kod="101"/></Besok>'


def _read(data: bytes):
    with parse_invoice_file(io.BytesIO(data)) as invoice_file:
        return list(invoice_file.claims)


def _refused(data: bytes) -> InvoiceFileRejected:
    with pytest.raises(InvoiceFileRejected) as caught:
        _read(data)
    return caught.value


def test_an_element_with_more_attributes_than_the_limit_refuses_the_file_with_its_line():
    refused = _refused(_file(_claim(_visit(MAX_ATTRIBUTES))))  # datum and ten more
    assert refused.code == "too_many_attributes"
    assert refused.message == "Elementet Besok har fler än 10 attribut (rad 4); formatet har högst fem."


def test_an_element_at_the_limit_is_read_and_its_unknown_attributes_are_the_claims_faults():
    (claim,) = _read(_file(_claim(_visit(MAX_ATTRIBUTES - 1))))
    assert claim.draft is None
    assert "Elementet Besok får inte ha attributet a0." in [fault.message for fault in claim.faults]


def test_a_5_mb_file_stuffed_with_attributes_is_refused_at_once():
    # The audit's file: one element with 5 MB of attributes held a worker 38 s (10 s here before the limit).
    attributes = "".join(f' a{i}="x"' for i in range(5 * MB // 10))
    data = _file(_claim(f'<Besok datum="2025-09-01"{attributes}><Atgard kod="101"/></Besok>'))
    assert len(data) > 5 * MB
    started = time.perf_counter()
    assert _refused(data).code == "too_many_attributes"
    assert time.perf_counter() - started < 3


def test_a_claim_with_more_elements_than_the_limit_refuses_the_file():
    visit = '<Besok datum="2025-09-01"><Atgard kod="101"/></Besok>'
    refused = _refused(_file(_claim(visit * (MAX_ELEMENTS_PER_CLAIM // 2 + 1))))
    assert refused.code == "too_many_elements"
    assert refused.message == "Räkningen på rad 4 har fler än 2000 element; formatet har inte plats för så många."


def test_a_claim_at_the_element_limit_is_read():
    visit = '<Besok datum="2025-09-01"><Atgard kod="101"/></Besok>'
    # Rakning's three children and the visits: within the limit.
    (claim,) = _read(_file(_claim(visit * ((MAX_ELEMENTS_PER_CLAIM - 3) // 2))))
    assert claim.faults == [] or all(fault.code != "too_many_elements" for fault in claim.faults)


def test_a_claim_shows_at_most_the_limit_of_faults():
    # Nine unknown attributes each, all named differently: 180 faults.
    visits = "".join(_visit(MAX_ATTRIBUTES - 1, first=9 * n) for n in range(20))
    (claim,) = _read(_file(_claim(visits)))
    assert len(claim.faults) == MAX_FAULTS_PER_CLAIM


def test_a_file_of_claims_stuffed_within_the_limits_is_read_at_the_pace_of_an_ordinary_file():
    # 1 MB of claims with as many unknown attributes as an element may have, and as many elements as a claim may:
    # before the faults were placed once per claim this took 3.8 s and grew with the square of the claim.
    claim = _claim("".join(_visit(MAX_ATTRIBUTES - 1, first=9 * n) for n in range((MAX_ELEMENTS_PER_CLAIM - 3) // 3)))
    data = _file(*[claim] * (MB // len(claim) + 1))
    started = time.perf_counter()
    claims = _read(data)
    assert all(len(claim.faults) == MAX_FAULTS_PER_CLAIM for claim in claims)
    assert time.perf_counter() - started < 3


# One file per clinic at a time ----------------------------------------------------------------------------------


def _queued(clinic, biller, content: bytes) -> InvoiceFileUpload:
    upload = InvoiceFileUpload(clinic=clinic, uploaded_by=biller, original_name="f.xml", sha256="3" * 64)
    upload.file.save("test.xml", ContentFile(content), save=False)
    upload.save()
    return upload


@pytest.fixture
def other_session():
    """A second database session: a worker checking another file at the same time."""
    other = connections.create_connection("default")
    try:
        yield other
    finally:
        other.close()


def test_a_clinics_second_file_waits_for_its_first_while_another_clinics_file_is_checked(small_world, other_session):
    world = _ready_for_files(small_world)
    neighbour = ClinicFactory(region=world.region, number="32")
    second = _queued(world.clinic, world.biller, mixed_file())
    others = _queued(neighbour, world.biller, invoice_xml([], clinic="32", reference="F-9"))

    # A worker is checking clinic 31's first (large) file: it holds the clinic's turn in its own session.
    with other_session.cursor() as cursor:
        cursor.execute(
            "SELECT pg_try_advisory_lock(%s, %s)", [invoice_file_services._CLINIC_CHECK_LOCK, world.clinic.pk]
        )
        assert cursor.fetchone()[0]

    with mock.patch.object(tasks.check_invoice_file, "apply_async") as again:
        tasks.check_invoice_file.apply(kwargs={"upload_id": second.pk})
        tasks.check_invoice_file.apply(kwargs={"upload_id": others.pk})

    second.refresh_from_db()
    others.refresh_from_db()
    assert second.state == InvoiceFileState.QUEUED  # waits, without holding the worker
    again.assert_called_once_with(kwargs={"upload_id": second.pk}, countdown=tasks.CLINIC_TURN_WAIT_SECONDS)
    assert others.state != InvoiceFileState.QUEUED  # the neighbour's file was checked beside the first

    # The first file is done: the second one's turn.
    with other_session.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [invoice_file_services._CLINIC_CHECK_LOCK, world.clinic.pk])
    tasks.check_invoice_file.apply(kwargs={"upload_id": second.pk})
    second.refresh_from_db()
    assert second.state == InvoiceFileState.CHECKED


def test_the_clinics_turn_is_given_back_when_the_check_fails(small_world, other_session):
    clinic = ClinicFactory(region=small_world.region)
    with pytest.raises(RuntimeError), invoice_file_services.clinic_check_slot(clinic.pk) as turn:
        assert turn
        with other_session.cursor() as cursor:  # held: another worker does not get it
            cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [invoice_file_services._CLINIC_CHECK_LOCK, clinic.pk])
            assert not cursor.fetchone()[0]
        raise RuntimeError("the check failed")
    with other_session.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [invoice_file_services._CLINIC_CHECK_LOCK, clinic.pk])
        assert cursor.fetchone()[0]


def test_a_file_with_visits_in_year_1_and_year_9999_is_checked_with_faults_not_a_crash(small_world):
    world = _ready_for_files(small_world)
    content = invoice_xml(
        [
            _flow_claim("A-1", day=datetime.date(1, 1, 1)),
            _flow_claim("A-2", day=datetime.date(9999, 12, 31)),
        ]
    )
    upload = _queued(world.clinic, world.biller, content)
    invoice_file_services.invoice_file_check(upload=upload)
    upload.refresh_from_db()
    assert (upload.state, upload.processed_count, upload.faulty_count) == (InvoiceFileState.CHECKED, 2, 2)


def test_the_format_page_states_the_limits_the_parser_applies(client, db):
    text = client.get("/dokumentation/fakturafil/").content.decode()
    assert (
        f"Högst {MAX_ATTRIBUTES} attribut på ett element och högst {MAX_ELEMENTS_PER_CLAIM} element i en Rakning"
        in text
    )
    assert f"Felrapporten visar högst {MAX_FAULTS_PER_CLAIM} fel per räkning." in text


def test_through_a_real_worker_the_neighbours_file_is_checked_while_the_clinics_second_file_waits(
    transactional_small_world, celery_worker, other_session, monkeypatch
):
    world = _ready_for_files(transactional_small_world)  # committed, for the worker thread
    neighbour = ClinicFactory(region=world.region, number="32")
    monkeypatch.setattr(tasks, "CLINIC_TURN_WAIT_SECONDS", 0.2)
    second = _queued(world.clinic, world.biller, mixed_file())
    others = _queued(neighbour, world.biller, invoice_xml([], clinic="32", reference="F-9"))
    lock = [invoice_file_services._CLINIC_CHECK_LOCK, world.clinic.pk]
    with other_session.cursor() as cursor:  # clinic 31's first file is being checked by another worker
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", lock)

    tasks.check_invoice_file.delay(second.pk)  # queued first
    tasks.check_invoice_file.delay(others.pk)

    done = InvoiceFileUpload.objects.exclude(state__in=[InvoiceFileState.QUEUED, InvoiceFileState.RUNNING])
    wait_until(done.filter(pk=others.pk).exists, timeout=30, what="the neighbour's file to be checked")
    assert InvoiceFileUpload.objects.get(pk=second.pk).state == InvoiceFileState.QUEUED

    with other_session.cursor() as cursor:  # the first file is done
        cursor.execute("SELECT pg_advisory_unlock(%s, %s)", lock)
    wait_until(done.filter(pk=second.pk).exists, timeout=30, what="the clinic's second file to be checked")
    assert InvoiceFileUpload.objects.get(pk=second.pk).state == InvoiceFileState.CHECKED
