"""The clinic's event stream (portal.events): each kind written by its service in the change's transaction, bulk
moves in one statement, and a feed that never skips an event committed late."""

import datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from billing import invoice_file_services
from claims import services as claims_services
from claims.models import ClaimState
from eligibility import services as eligibility_services
from payouts import services as payouts_services
from payouts.models import PayoutPayment
from portal.audit import AuditOutsideTransaction
from portal.events import (
    Cursor,
    NewClinicEvent,
    PersonalDataInEvent,
    clinic_event_record,
    clinic_events_after,
    clinic_events_record,
)
from portal.models import ClinicEvent, ClinicEventKind
from review import services as review_services
from tests.billing.test_invoice_file_flow import BAD_PIN, _claim, _ready_for_files, invoice_xml
from tests.claims.factories import ClaimFactory, standard_tariff
from tests.claims.test_lifecycle import PIN, _draft, _paid_claim, _ready_to_submit
from tests.eligibility.test_prior_assessments import _all, _request
from tests.payouts.factories import claim, future_bank_day, invoice, payout_world
from tests.waiting import wait_until

pytestmark = pytest.mark.django_db


class Boom(Exception):
    pass


def _events(clinic, **filters) -> list[ClinicEvent]:
    return list(ClinicEvent.objects.filter(clinic=clinic, **filters).order_by("xid", "pk"))


def _kinds(clinic) -> list[str]:
    return [event.kind for event in _events(clinic)]


def _no_personal_data(events) -> None:
    for event in events:
        text = str(event.data)
        assert PIN not in text and PIN[2:] not in text


# Each kind, by its service -------------------------------------------------------------------------------


def test_a_submitted_claim_is_told_as_received_with_its_ids_and_total(small_world):
    world = _ready_to_submit(small_world)
    claim = claims_services.claim_submit(
        actor=world.biller, clinic=world.clinic, invoice_reference="123455", draft=_draft()
    )
    [event] = _events(world.clinic)
    assert (event.kind, event.object_type, event.object_id, event.actor) == (
        ClinicEventKind.CLAIM_STATE_CHANGED,
        "claim",
        claim.pk,
        world.biller,
    )
    assert event.data == {
        "invoice_id": claim.invoice_id,
        "from_state": "",
        "state": ClaimState.RECEIVED,
        "change": "received",
        "total": claim.total,
    }
    _no_personal_data([event])


def test_a_void_is_told_as_claim_voided_without_the_reason(small_world):
    claim = ClaimFactory(invoice__clinic=small_world.clinic)
    claims_services.claim_void(actor=small_world.coordinator, claim=claim, reason="Fel patient 200001012384.")
    [event] = _events(small_world.clinic)
    assert event.kind == ClinicEventKind.CLAIM_VOIDED
    assert event.data["from_state"] == ClaimState.RECEIVED and event.data["state"] == ClaimState.VOIDED
    assert "Fel patient" not in str(event.data)
    _no_personal_data([event])


def test_approval_and_payment_are_state_changes_with_their_dates(small_world):
    claim = ClaimFactory(invoice__clinic=small_world.clinic)
    claims_services.claim_approve(actor=None, claim=claim, payout_date=datetime.date(2026, 12, 1))
    claims_services.claim_mark_paid(actor=None, claim=claim, paid_on=datetime.date(2026, 12, 1), our_reference="518148")
    approved, paid = _events(small_world.clinic)
    assert (approved.kind, approved.data["state"], approved.data["approved_on"]) == (
        ClinicEventKind.CLAIM_STATE_CHANGED,
        ClaimState.APPROVED,
        "2026-12-01",
    )
    assert (paid.data["from_state"], paid.data["state"], paid.data["paid_on"]) == (
        ClaimState.APPROVED,
        ClaimState.PAID,
        "2026-12-01",
    )


@pytest.mark.parametrize("whole", [True, False])
def test_a_credit_is_told_with_the_credit_invoice_whole_or_in_part(small_world, whole):
    standard_tariff(small_world.clinic.region, 2026)
    claim = _paid_claim(small_world.clinic)
    first = claim.lines.order_by("position").first()
    credit = claims_services.claim_credit(actor=small_world.biller, claim=claim, line_ids=None if whole else [first.pk])
    [event] = _events(small_world.clinic)
    assert event.kind == ClinicEventKind.CLAIM_CREDITED
    assert event.data["credit_invoice_id"] == credit.pk
    assert event.data["credit_total"] == credit.total
    assert event.data["complete"] is whole
    assert event.data["state"] == (ClaimState.CREDITED if whole else ClaimState.PAID)


def test_a_question_and_its_answer_are_told_with_the_questions_id_not_its_words(small_world):
    claim = ClaimFactory(invoice__clinic=small_world.clinic)
    question = review_services.claim_question_ask(
        actor=small_world.coordinator, claim=claim, question="Varför två röntgen på 200001012384?"
    )
    review_services.claim_question_answer(actor=small_world.biller, question=question, answer="Tandvärk.")
    review, asked, answered = _events(small_world.clinic)
    assert (review.kind, review.data["state"]) == (ClinicEventKind.CLAIM_STATE_CHANGED, ClaimState.UNDER_REVIEW)
    assert (asked.kind, asked.data["question_id"], asked.actor) == (
        ClinicEventKind.CLAIM_QUESTION_ASKED,
        question.pk,
        small_world.coordinator,
    )
    assert (answered.kind, answered.data["question_id"]) == (ClinicEventKind.CLAIM_QUESTION_ANSWERED, question.pk)
    assert "röntgen" not in str(asked.data) and "Tandvärk" not in str(answered.data)
    _no_personal_data([review, asked, answered])


def test_prior_assessments_are_told_as_requested_completion_requested_and_decided(small_world):
    assessment = _request(small_world)
    deadline = timezone.localdate() + datetime.timedelta(days=10)
    eligibility_services.prior_assessment_request_information(
        actor=small_world.coordinator, assessment=assessment, question="Röntgen?", deadline=deadline
    )
    eligibility_services.prior_assessment_supply_information(
        actor=small_world.biller, assessment=assessment, text="Bifogad.", attachments=[]
    )
    eligibility_services.prior_assessment_decide(
        actor=small_world.coordinator, assessment=assessment, approved_amounts=_all(assessment), reason="Ok."
    )
    events = _events(small_world.clinic)
    assert [(e.kind, e.data["state"]) for e in events] == [
        (ClinicEventKind.PRIOR_ASSESSMENT_STATE_CHANGED, "submitted"),
        (ClinicEventKind.PRIOR_ASSESSMENT_COMPLETION_REQUESTED, "awaiting_information"),
        (ClinicEventKind.PRIOR_ASSESSMENT_STATE_CHANGED, "information_received"),
        (ClinicEventKind.PRIOR_ASSESSMENT_DECIDED, "approved"),
    ]
    assert events[1].data["information_deadline"] == deadline.isoformat()
    assessment.refresh_from_db()
    assert events[3].data["valid_until"] == assessment.valid_until.isoformat()
    assert {e.object_type for e in events} == {"prior_assessment"} and {e.object_id for e in events} == {assessment.pk}
    _no_personal_data(events)


def test_a_written_off_prior_assessment_is_told_by_the_nightly_job(small_world):
    assessment = _request(small_world)
    eligibility_services.prior_assessment_request_information(
        actor=small_world.coordinator, assessment=assessment, question="Röntgen?", deadline=timezone.localdate()
    )
    eligibility_services.prior_assessments_write_off_overdue(today=timezone.localdate() + datetime.timedelta(days=1))
    assert _kinds(small_world.clinic)[-1] == ClinicEventKind.PRIOR_ASSESSMENT_WRITTEN_OFF


def test_the_end_of_an_invoice_files_check_is_told_with_its_counts(small_world):
    world = _ready_for_files(small_world)
    upload = invoice_file_services.invoice_file_start(
        actor=world.biller,
        clinic=world.clinic,
        uploaded=SimpleUploadedFile("f.xml", invoice_xml([_claim("A-1"), _claim("A-2", BAD_PIN)])),
    ).upload
    invoice_file_services.invoice_file_check(upload=upload)
    [event] = _events(world.clinic)
    assert (event.kind, event.object_type, event.object_id) == (
        ClinicEventKind.INVOICE_FILE_CHECKED,
        "invoice_file",
        upload.pk,
    )
    assert event.data == {"state": "checked", "claim_count": 2, "faulty_count": 1, "correct_count": 1}


def test_a_payout_run_paid_tells_each_clinic_its_payment_and_each_claim_paid(db):
    pw = payout_world()
    day = future_bank_day()
    paid = [claim(invoice(pw.bankgiro, received_on=day - datetime.timedelta(days=10)), 10_000) for _ in range(3)]
    run = payouts_services.payout_run_create(actor=pw.coordinator, region=pw.region, payout_date=day).run
    payouts_services.payout_run_file_download(actor=pw.coordinator, run=run)
    ClinicEvent.objects.all().delete()
    payouts_services.payout_run_mark_paid(run=run)
    events = _events(pw.bankgiro)
    payment = PayoutPayment.objects.get(run=run, clinic=pw.bankgiro)
    assert sorted((e.object_id, e.data["state"]) for e in events if e.object_type == "claim") == sorted(
        (c.pk, ClaimState.PAID) for c in paid
    )
    [made] = [e for e in events if e.kind == ClinicEventKind.PAYOUT_MADE]
    assert (made.object_type, made.object_id) == ("payout_payment", payment.pk)
    assert made.data == {
        "payout_run_id": run.pk,
        "payout_date": day.isoformat(),
        "gross": payment.gross,
        "set_off": payment.set_off,
        "net": payment.net,
    }


# Same transaction ----------------------------------------------------------------------------------------


def test_a_change_rolled_back_leaves_no_event(small_world):
    claim = ClaimFactory(invoice__clinic=small_world.clinic)
    with pytest.raises(Boom), transaction.atomic():
        claims_services.claim_void(actor=small_world.coordinator, claim=claim, reason="Fel.")
        assert _kinds(small_world.clinic) == [ClinicEventKind.CLAIM_VOIDED]  # written with the change …
        raise Boom
    claim.refresh_from_db()
    assert claim.state == ClaimState.RECEIVED and _events(small_world.clinic) == []  # … and gone with it


@pytest.mark.django_db(transaction=True)
def test_an_event_is_refused_outside_a_transaction(transactional_small_world):
    with pytest.raises(AuditOutsideTransaction):
        clinic_event_record(
            clinic=transactional_small_world.clinic, kind=ClinicEventKind.CLAIM_VOIDED, obj=("claim", 1)
        )
    with pytest.raises(AuditOutsideTransaction):
        clinic_events_record([NewClinicEvent(transactional_small_world.clinic.pk, "claim.voided", "claim", 1)])


def test_an_event_is_refused_with_an_unknown_kind_or_a_personnummer(small_world):
    with transaction.atomic():
        with pytest.raises(ValueError):
            clinic_event_record(clinic=small_world.clinic, kind="claim.exploded", obj=("claim", 1))
        with pytest.raises(PersonalDataInEvent):
            clinic_event_record(
                clinic=small_world.clinic, kind=ClinicEventKind.CLAIM_VOIDED, obj=("claim", 1), data={"x": PIN}
            )
    assert _events(small_world.clinic) == []


def test_each_event_carries_its_transactions_id(small_world):
    with transaction.atomic():
        clinic_event_record(clinic=small_world.clinic, kind=ClinicEventKind.CLAIM_VOIDED, obj=("claim", 1))
        clinic_events_record(
            [NewClinicEvent(small_world.clinic.pk, ClinicEventKind.CLAIM_VOIDED, "claim", n) for n in (2, 3)]
        )
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_current_xact_id()::text::bigint")
            [(xid,)] = cursor.fetchall()
    assert {event.xid for event in _events(small_world.clinic)} == {xid}


def test_a_bulk_move_writes_its_events_in_as_many_statements_for_3_claims_as_for_60(small_world):
    def paid_queries(count: int) -> int:
        claims = [ClaimFactory(invoice__clinic=small_world.clinic, state=ClaimState.APPROVED) for _ in range(count)]
        with transaction.atomic(), CaptureQueriesContext(connection) as queries:
            claims_services.claims_mark_paid(actor=None, claims=claims, paid_on=datetime.date(2026, 12, 1))
        assert ClinicEvent.objects.filter(object_id__in=[c.pk for c in claims]).count() == count
        return len(queries)

    assert paid_queries(3) == paid_queries(60)


# The feed ------------------------------------------------------------------------------------------------


def _record(clinic, *object_ids) -> None:
    with transaction.atomic():
        clinic_events_record(NewClinicEvent(clinic.pk, ClinicEventKind.CLAIM_VOIDED, "claim", n) for n in object_ids)


def _settled(clinic, count: int, after: Cursor | None = None) -> list[ClinicEvent]:
    """The feed once `count` events are in it. The feed waits for every writing transaction of the database server
    that began before an event's (other test runs on the server among them): only its timing depends on them."""
    found: list[ClinicEvent] = []

    def enough() -> bool:
        found[:] = clinic_events_after(clinic=clinic, after=after or Cursor(), limit=500)
        return len(found) >= count

    wait_until(enough, timeout=60, what=f"{count} events in the feed")
    return found


@pytest.mark.django_db(transaction=True)
def test_the_feed_pages_in_order_with_its_cursor_and_shows_one_clinic_only(transactional_small_world):
    world = transactional_small_world
    _record(world.clinic, 1, 2)
    _record(world.other_clinic, 99)
    _record(world.clinic, 3)
    _settled(world.clinic, 3)
    first = clinic_events_after(clinic=world.clinic, after=Cursor(), limit=2)
    rest = clinic_events_after(clinic=world.clinic, after=Cursor.of(first[-1]), limit=2)
    assert [e.object_id for e in first] == [1, 2] and [e.object_id for e in rest] == [3]
    assert clinic_events_after(clinic=world.clinic, after=Cursor.of(rest[-1])) == []
    assert Cursor.parse(str(Cursor.of(rest[-1]))) == Cursor.of(rest[-1])
    assert [e.object_id for e in _settled(world.other_clinic, 1)] == [99]


def _raw_connection():
    other = connections.create_connection("default")
    other.set_autocommit(False)
    return other


def _raw_event(conn, clinic_id: int, object_id: int) -> tuple[int, int]:
    with conn.cursor() as cursor:
        cursor.execute(
            "INSERT INTO portal_clinicevent (clinic_id, kind, object_type, object_id, data, occurred_at) "
            "VALUES (%s, 'claim.voided', 'claim', %s, '{}', now()) RETURNING id, xid",
            [clinic_id, object_id],
        )
        return cursor.fetchone()


@pytest.mark.django_db(transaction=True)
def test_an_event_committed_late_with_a_smaller_id_is_never_skipped(transactional_small_world):
    """Two real transactions: the first writes an event and stays open; the second writes one (a larger id) and
    commits. The feed shows neither until the first ends, then both, the first's first: a reader who had moved
    past the second's id would otherwise never see the first's."""
    clinic = transactional_small_world.clinic
    early, late = _raw_connection(), _raw_connection()
    try:
        early_id, early_xid = _raw_event(early, clinic.pk, 1)
        late_id, late_xid = _raw_event(late, clinic.pk, 2)
        assert early_id < late_id and early_xid < late_xid
        late.commit()

        assert clinic_events_after(clinic=clinic, after=Cursor()) == []  # held back while the first is running

        early.commit()
        events = _settled(clinic, 2)
        assert [(e.pk, e.xid) for e in events] == [(early_id, early_xid), (late_id, late_xid)]
    finally:
        early.close()
        late.close()


@pytest.mark.django_db(transaction=True)
def test_an_event_of_a_transaction_that_began_writing_first_but_inserted_last_is_not_skipped(
    transactional_small_world,
):
    """The other order: the first transaction takes its id (it writes something) first, the second inserts an
    event and commits, then the first inserts its event (a larger id) and commits. Read in between, the second's
    event is held back, so no cursor can pass the first's; after both, the first's comes first."""
    clinic = transactional_small_world.clinic
    first, second = _raw_connection(), _raw_connection()
    try:
        with first.cursor() as cursor:
            cursor.execute("SELECT pg_current_xact_id()")  # the first transaction has its id now
        second_id, _ = _raw_event(second, clinic.pk, 2)
        second.commit()
        assert clinic_events_after(clinic=clinic, after=Cursor()) == []
        first_id, _ = _raw_event(first, clinic.pk, 1)
        first.commit()
        assert first_id > second_id
        assert [e.pk for e in _settled(clinic, 2)] == [first_id, second_id]
    finally:
        first.close()
        second.close()


def test_a_listener_that_fails_neither_fails_the_commit_nor_silences_the_others(
    small_world, django_capture_on_commit_callbacks, caplog
):
    from portal import events

    told = []

    def broker_away(clinic_ids):
        raise ConnectionError("broker away")

    def recorder(clinic_ids):
        told.append(set(clinic_ids))

    before = list(events._LISTENERS)
    events._LISTENERS[:] = [broker_away, recorder]
    try:
        with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
            clinic_event_record(clinic=small_world.clinic, kind=ClinicEventKind.CLAIM_VOIDED, obj=("claim", 1))
    finally:
        events._LISTENERS[:] = before
    assert told == [{small_world.clinic.pk}]
    assert "broker_away not told of clinics" in caplog.text
    assert len(_events(small_world.clinic)) == 1
