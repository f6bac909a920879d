"""Prior assessments (FHB): numbering, the transition table, decisions, information requests, write-off."""

import datetime
import hashlib
import re
import threading

import pytest
from dateutil.relativedelta import relativedelta
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connections
from django.utils import timezone

from clinics.models import RegionRole, SupportForm
from eligibility import services
from eligibility.models import (
    APPROVED_STATES,
    PRIOR_ASSESSMENT_TRANSITIONS,
    PriorAssessment,
    PriorAssessmentCounter,
    PriorAssessmentEvent,
    PriorAssessmentEventKind,
    PriorAssessmentState,
)
from eligibility.tasks import write_off_overdue_prior_assessments
from portal.models import AuditEvent
from tests.clinics.factories import RegionMembershipFactory

from .factories import PNG, PriorAssessmentFactory

PIN = "200001042399"  # Skatteverket test number
State = PriorAssessmentState


def _today() -> datetime.date:
    return timezone.localdate()


@pytest.fixture
def private_files(tmp_path):
    """Attachments go to a fresh folder for the test (see tests/eligibility/test_views.py)."""
    from django.core.files.storage import FileSystemStorage

    from eligibility.models import PriorAssessmentAttachment

    field = PriorAssessmentAttachment._meta.get_field("file")
    original = field.storage
    field.storage = FileSystemStorage(location=tmp_path)
    yield tmp_path
    field.storage = original


def _request(small_world, *, clinic=None, pin=PIN, lines=None, attachments=(), actor=None) -> PriorAssessment:
    return services.prior_assessment_request(
        actor=actor or small_world.biller,
        clinic=clinic or small_world.clinic,
        personal_identity_number=pin,
        support_form=SupportForm.S,
        justification="  Extraktion inför strålbehandling.  ",
        lines=lines
        or [
            {"code": "401", "tooth": "36", "estimated_price": 145000},
            {"code": "101", "estimated_price": 98000},
        ],
        attachments=list(attachments),
    )


def _all(assessment) -> dict[int, int]:
    return {line.pk: line.estimated_price for line in assessment.lines.all()}


def _decide(small_world, assessment, amounts=None, *, reason="Enligt underlaget.", actor=None, **kwargs):
    return services.prior_assessment_decide(
        actor=actor or small_world.coordinator,
        assessment=assessment,
        approved_amounts=_all(assessment) if amounts is None else amounts,
        reason=reason,
        **kwargs,
    )


def _ask(small_world, assessment, *, question="Bifoga röntgenbild av 36.", deadline=None):
    return services.prior_assessment_request_information(
        actor=small_world.coordinator, assessment=assessment, question=question, deadline=deadline
    )


def _refusal(call, *args, **kwargs) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        call(*args, **kwargs)
    return caught.value


# Requesting and numbering -------------------------------------------------------------------------------


def test_request_stores_lines_event_and_audit(small_world):
    assessment = _request(small_world)
    assert assessment.state == State.SUBMITTED and assessment.version == 1
    assert assessment.region == small_world.region and assessment.clinic == small_world.clinic
    assert assessment.patient.personal_identity_number == PIN
    assert assessment.justification == "Extraktion inför strålbehandling."
    lines = list(assessment.lines.values_list("position", "code", "tooth", "jaw", "estimated_price"))
    assert lines == [(1, "401", "36", "", 145000), (2, "101", "", "", 98000)]
    assert assessment.estimated_total == 243000
    assert list(assessment.events.values_list("kind", flat=True)) == [PriorAssessmentEventKind.SUBMITTED]
    event = AuditEvent.objects.get(action="eligibility.prior_assessment.submitted", object_id=str(assessment.pk))
    assert event.clinic_id == small_world.clinic.pk and event.after["lines"] == 2


def test_request_needs_at_least_one_line(small_world):
    error = _refusal(
        services.prior_assessment_request,
        actor=small_world.biller,
        clinic=small_world.clinic,
        personal_identity_number=PIN,
        support_form=SupportForm.S,
        justification="x",
        lines=[],
        attachments=[],
    )
    assert error.messages == ["Ange minst en planerad åtgärd."]


def test_numbers_are_fhb_year_and_sequential(small_world):
    year = _today().year
    last = PriorAssessmentCounter.objects.filter(year=year).values_list("last", flat=True).first() or 0
    numbers = [_request(small_world).number for _ in range(3)]
    assert numbers == [f"FHB-{year}-{last + n:06d}" for n in (1, 2, 3)]
    assert all(re.fullmatch(r"FHB-\d{4}-\d{6}", number) for number in numbers)
    assert PriorAssessment.objects.filter(number__in=numbers).count() == 3


def test_each_year_counts_from_one(small_world):
    later = _today().year + 5
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(services.timezone, "localdate", lambda: datetime.date(later, 1, 1))
        assert _request(small_world).number == f"FHB-{later}-000001"
        assert _request(small_world).number == f"FHB-{later}-000002"
    assert _request(small_world).number.startswith(f"FHB-{_today().year}-")


@pytest.mark.django_db(transaction=True)
def test_two_requests_at_the_same_moment_get_different_numbers(transactional_small_world):
    small_world = transactional_small_world
    barrier = threading.Barrier(2)
    numbers: list[str] = []
    errors: list[BaseException] = []

    def request(clinic):
        try:
            barrier.wait(timeout=10)
            numbers.append(_request(small_world, clinic=clinic).number)
        except BaseException as error:  # reported by the assertion below
            errors.append(error)
        finally:
            connections.close_all()

    small_world.biller  # made here, not by the first thread to need it: the threads share one biller
    threads = [threading.Thread(target=request, args=(c,)) for c in (small_world.clinic, small_world.other_clinic)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert len(numbers) == 2 and len(set(numbers)) == 2
    sequence = sorted(int(number.rsplit("-", 1)[1]) for number in numbers)
    assert sequence[1] == sequence[0] + 1


# The transition table ------------------------------------------------------------------------------------

# Each service and the state it moves a request to.
ACTIONS = {
    "start_review": State.IN_REVIEW,
    "request_information": State.AWAITING_INFORMATION,
    "supply_information": State.INFORMATION_RECEIVED,
    "approve": State.APPROVED,
    "approve_some": State.APPROVED_WITH_LIMITATIONS,
    "deny": State.DENIED,
}


def _in_state(small_world, state) -> PriorAssessment:
    extra = {}
    if state in APPROVED_STATES:
        extra["valid_until"] = _today() + datetime.timedelta(days=100)
    if state == State.AWAITING_INFORMATION:
        extra["information_deadline"] = _today() + datetime.timedelta(days=10)
    return PriorAssessmentFactory(
        clinic=small_world.clinic,
        created_by=small_world.biller,
        patient__personal_identity_number=PIN,
        state=state,
        **extra,
    )


def _act(small_world, action, assessment):
    lines = list(assessment.lines.all())
    if action == "start_review":
        return services.prior_assessment_start_review(actor=small_world.coordinator, assessment=assessment)
    if action == "request_information":
        return _ask(small_world, assessment)
    if action == "supply_information":
        return services.prior_assessment_supply_information(
            actor=small_world.biller, assessment=assessment, text="Här är bilden.", attachments=[]
        )
    amounts = {
        "approve": {line.pk: line.estimated_price for line in lines},
        "approve_some": {line.pk: (line.estimated_price if i == 0 else None) for i, line in enumerate(lines)},
        "deny": {line.pk: None for line in lines},
    }[action]
    return _decide(small_world, assessment, amounts)


@pytest.mark.parametrize("action", list(ACTIONS))
@pytest.mark.parametrize("state", list(State.values))
def test_each_service_moves_only_as_the_table_allows(small_world, state, action):
    assessment = _in_state(small_world, state)
    target = ACTIONS[action]
    events_before = assessment.events.count()
    if target in PRIOR_ASSESSMENT_TRANSITIONS[state]:
        _act(small_world, action, assessment)
        assessment.refresh_from_db()
        assert assessment.state == target
        assert assessment.events.count() == events_before + 1
    elif state == target == State.IN_REVIEW:
        _act(small_world, action, assessment)  # starting a review already started is a no-op
        assessment.refresh_from_db()
        assert assessment.state == state and assessment.events.count() == events_before
    else:
        error = _refusal(_act, small_world, action, assessment)
        assert error.code == "state"
        label = State(state).label
        assert error.messages == [f"Förhandsbedömningen {assessment.number} har redan status {label}."]
        assessment.refresh_from_db()
        assert assessment.state == state
        assert assessment.events.count() == events_before
        assert not AuditEvent.objects.filter(
            object_type="eligibility.priorassessment", object_id=str(assessment.pk)
        ).exists()


def test_the_table_keeps_decisions_final_and_lets_awaiting_only_answer_or_lapse():
    for final in (State.APPROVED, State.APPROVED_WITH_LIMITATIONS, State.DENIED, State.WRITTEN_OFF):
        assert PRIOR_ASSESSMENT_TRANSITIONS[final] == frozenset()
    assert set(PRIOR_ASSESSMENT_TRANSITIONS[State.AWAITING_INFORMATION]) == {
        State.INFORMATION_RECEIVED,
        State.WRITTEN_OFF,
    }
    assert set(PRIOR_ASSESSMENT_TRANSITIONS) == set(State.values)


def test_deciding_a_denied_request_is_refused_naming_state_and_decider(small_world):
    assessment = _request(small_world)
    _decide(small_world, assessment, {pk: None for pk in _all(assessment)}, reason="Nej.")
    error = _refusal(_decide, small_world, assessment)
    assert error.messages == [
        f"Förhandsbedömningen {assessment.number} har redan status Avslagen, "
        f"beslutad av {small_world.coordinator.name}."
    ]
    assessment.refresh_from_db()
    assert assessment.state == State.DENIED and assessment.decision_reason == "Nej."


# Decisions ----------------------------------------------------------------------------------------------


def test_approve_every_line(small_world):
    assessment = _request(small_world)
    _decide(small_world, assessment, reason="  Enligt underlaget.  ")
    assessment.refresh_from_db()
    assert assessment.state == State.APPROVED
    assert assessment.valid_until == _today() + relativedelta(months=12)
    assert assessment.decision_reason == "Enligt underlaget."
    assert assessment.decided_by == small_world.coordinator and assessment.decided_at is not None
    assert [(line.approved, line.approved_amount) for line in assessment.lines.all()] == [
        (True, 145000),
        (True, 98000),
    ]
    assert assessment.approved_total == 243000
    event = assessment.events.get(kind=PriorAssessmentEventKind.DECIDED)
    assert event.text == "Enligt underlaget." and event.author == small_world.coordinator
    audit = AuditEvent.objects.get(action="eligibility.prior_assessment.decided", object_id=str(assessment.pk))
    assert audit.before == {"state": "submitted"} and audit.after["state"] == "approved"


def test_approve_some_lines_is_approved_with_limitations(small_world):
    assessment = _request(small_world)
    first, second = assessment.lines.all()
    _decide(small_world, assessment, {first.pk: 120000, second.pk: None})
    assessment.refresh_from_db()
    assert assessment.state == State.APPROVED_WITH_LIMITATIONS
    assert assessment.get_state_display() == "Godkänd med begränsningar"
    assert assessment.valid_until == _today() + relativedelta(months=12)
    assert [(line.approved, line.approved_amount) for line in assessment.lines.all()] == [
        (True, 120000),
        (False, None),
    ]
    assert assessment.approved_total == 120000


def test_approve_no_line_is_denied_without_validity(small_world):
    assessment = _request(small_world)
    _decide(small_world, assessment, {pk: None for pk in _all(assessment)})
    assessment.refresh_from_db()
    assert assessment.state == State.DENIED and assessment.get_state_display() == "Avslagen"
    assert assessment.valid_until is None
    assert not assessment.is_approved_on(_today())


def test_validity_follows_the_region_setting_or_the_given_date(small_world):
    small_world.region.prior_assessment_validity_months = 6
    small_world.region.save()
    assessment = _request(small_world)
    _decide(small_world, assessment)
    assessment.refresh_from_db()
    assert assessment.valid_until == _today() + relativedelta(months=6)

    other = _request(small_world)
    chosen = _today() + datetime.timedelta(days=45)
    _decide(small_world, other, valid_until=chosen)
    other.refresh_from_db()
    assert other.valid_until == chosen


@pytest.mark.parametrize("reason", ["", "  \n "])
def test_a_decision_needs_a_reason(small_world, reason):
    assessment = _request(small_world)
    error = _refusal(_decide, small_world, assessment, reason=reason)
    assert error.message_dict == {"reason": ["Skriv en motivering som kliniken kan läsa."]}
    assessment.refresh_from_db()
    assert assessment.state == State.SUBMITTED and assessment.decided_by is None


def test_a_decision_must_cover_each_line_and_no_other(small_world):
    assessment = _request(small_world)
    amounts = _all(assessment)
    first = next(iter(amounts))
    missing = {first: amounts[first]}
    foreign = {**amounts, 999999: 100}
    for wrong in (missing, foreign):
        error = _refusal(_decide, small_world, assessment, wrong)
        assert error.messages == ["Beslutet måste gälla varje planerad åtgärd."]
    assessment.refresh_from_db()
    assert assessment.state == State.SUBMITTED


def test_approved_on_excludes_expired_and_undecided(small_world):
    assessment = _request(small_world)
    undecided = _request(small_world)
    _decide(small_world, assessment, valid_until=_today() + datetime.timedelta(days=3))
    assessment.refresh_from_db()
    last_day = _today() + datetime.timedelta(days=3)
    assert assessment.is_approved_on(last_day)
    assert not assessment.is_approved_on(last_day + datetime.timedelta(days=1))
    assert not undecided.is_approved_on(_today())


# Information requests and answers ------------------------------------------------------------------------


def test_request_information_sets_the_default_deadline_and_mails_the_clinic(
    small_world, mailoutbox, django_capture_on_commit_callbacks
):
    assessment = _request(small_world)
    with django_capture_on_commit_callbacks(execute=True):
        _ask(small_world, assessment)
    assessment.refresh_from_db()
    deadline = _today() + datetime.timedelta(days=30)
    assert small_world.region.information_deadline_days == 30
    assert assessment.state == State.AWAITING_INFORMATION
    assert assessment.information_deadline == deadline
    event = assessment.events.get(kind=PriorAssessmentEventKind.INFORMATION_REQUESTED)
    assert event.text == "Bifoga röntgenbild av 36."

    (message,) = mailoutbox
    assert message.to == sorted([small_world.clinic.email, small_world.biller.email])
    assert message.subject == f"Förhandsbedömning {assessment.number}: Avvaktar komplettering"
    assert "Bifoga röntgenbild av 36." in message.body
    assert f"Komplettera senast {deadline.isoformat()}" in message.body
    assert f"/klinik/{small_world.clinic.pk}/forhandsbedomningar/{assessment.pk}/" in message.body
    # No personal data in an e-mail.
    for text in (message.subject, message.body):
        assert PIN not in text and PIN[2:8] not in text


def test_the_notice_is_sent_only_when_the_transaction_commits(
    small_world, mailoutbox, django_capture_on_commit_callbacks
):
    assessment = _request(small_world)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        _ask(small_world, assessment)
    assert callbacks and mailoutbox == []
    # The commit's callbacks (the notice, and the clinic events' listeners) send it.
    for callback in callbacks:
        callback()
    assert len(mailoutbox) == 1


def test_the_deadline_follows_the_region_setting_or_the_given_date(small_world):
    small_world.region.information_deadline_days = 14
    small_world.region.save()
    assessment = _ask(small_world, _request(small_world))
    assert assessment.information_deadline == _today() + datetime.timedelta(days=14)
    chosen = _today() + datetime.timedelta(days=5)
    assert _ask(small_world, _request(small_world), deadline=chosen).information_deadline == chosen


def test_the_deadline_may_be_today_but_not_in_the_past(small_world):
    assert _ask(small_world, _request(small_world), deadline=_today()).information_deadline == _today()
    assessment = _request(small_world)
    error = _refusal(_ask, small_world, assessment, deadline=_today() - datetime.timedelta(days=1))
    assert error.message_dict == {"deadline": ["Sista dag för komplettering kan inte ligga före i dag."]}
    assessment.refresh_from_db()
    assert assessment.state == State.SUBMITTED and assessment.information_deadline is None


def test_request_information_needs_a_question(small_world):
    assessment = _request(small_world)
    error = _refusal(_ask, small_world, assessment, question="   ")
    assert error.message_dict == {"question": ["Skriv vad kliniken behöver komplettera med."]}


def test_supply_information_keeps_the_previous_version_and_bumps_it(small_world, private_files):
    assessment = _request(small_world, attachments=[SimpleUploadedFile("röntgen.png", PNG)])
    _ask(small_world, assessment)
    services.prior_assessment_supply_information(
        actor=small_world.biller,
        assessment=assessment,
        text="  Ny bild bifogad.  ",
        attachments=[SimpleUploadedFile("ny-röntgen.png", PNG + b"2")],
    )
    assessment.refresh_from_db()
    assert assessment.state == State.INFORMATION_RECEIVED
    assert assessment.version == 2
    assert assessment.information_deadline is None
    event = assessment.events.get(kind=PriorAssessmentEventKind.INFORMATION_SUPPLIED)
    assert event.text == "Ny bild bifogad." and event.version == 2 and event.author == small_world.biller
    first = assessment.attachments.get(original_name="röntgen.png")
    assert event.snapshot == {
        "version": 1,
        "justification": "Extraktion inför strålbehandling.",
        "lines": [
            {"code": "401", "tooth": "36", "jaw": "", "estimated_price": 145000},
            {"code": "101", "tooth": "", "jaw": "", "estimated_price": 98000},
        ],
        "attachments": [{"id": first.pk, "name": "röntgen.png", "version": 1}],
    }
    new = assessment.attachments.get(original_name="ny-röntgen.png")
    assert new.version == 2
    assert new.sha256 == hashlib.sha256(PNG + b"2").hexdigest()
    with new.file.open("rb") as stored:
        assert stored.read() == PNG + b"2"


def test_supply_information_needs_text_or_a_file(small_world):
    assessment = _ask(small_world, _request(small_world))
    error = _refusal(
        services.prior_assessment_supply_information,
        actor=small_world.biller,
        assessment=assessment,
        text=" ",
        attachments=[],
    )
    assert error.message_dict == {"text": ["Skriv ett svar eller bifoga en fil."]}
    assessment.refresh_from_db()
    assert assessment.state == State.AWAITING_INFORMATION and assessment.version == 1


def test_a_second_round_keeps_both_earlier_versions(small_world):
    assessment = _request(small_world)
    for answer in ("Första svaret.", "Andra svaret."):
        _ask(small_world, assessment)
        services.prior_assessment_supply_information(
            actor=small_world.biller, assessment=assessment, text=answer, attachments=[]
        )
    assessment.refresh_from_db()
    assert assessment.version == 3
    snapshots = assessment.events.filter(kind=PriorAssessmentEventKind.INFORMATION_SUPPLIED).order_by("id")
    assert [event.snapshot["version"] for event in snapshots] == [1, 2]


# Writing off requests past their deadline --------------------------------------------------------------


def test_write_off_takes_only_those_past_their_deadline_and_is_idempotent(
    small_world, mailoutbox, django_capture_on_commit_callbacks
):
    today = _today()
    overdue = _ask(small_world, _request(small_world), deadline=today + datetime.timedelta(days=5))
    last_day = _ask(small_world, _request(small_world), deadline=today + datetime.timedelta(days=10))
    later = _ask(small_world, _request(small_world), deadline=today + datetime.timedelta(days=15))
    submitted = _request(small_world)
    mailoutbox.clear()
    run_on = today + datetime.timedelta(days=10)

    with django_capture_on_commit_callbacks(execute=True):
        assert services.prior_assessments_write_off_overdue(today=run_on) == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert services.prior_assessments_write_off_overdue(today=run_on) == 0

    states = {a.pk: a.state for a in PriorAssessment.objects.filter(pk__in=[overdue.pk, last_day.pk, later.pk])}
    assert states == {
        overdue.pk: State.WRITTEN_OFF,
        last_day.pk: State.AWAITING_INFORMATION,  # the deadline day itself is still in time
        later.pk: State.AWAITING_INFORMATION,
    }
    submitted.refresh_from_db()
    assert submitted.state == State.SUBMITTED
    event = PriorAssessmentEvent.objects.get(kind=PriorAssessmentEventKind.WRITTEN_OFF)
    assert event.assessment_id == overdue.pk and event.author is None
    assert event.text == f"Ingen komplettering kom in senast {overdue.information_deadline.isoformat()}."
    assert AuditEvent.objects.filter(action="eligibility.prior_assessment.written_off").count() == 1

    (message,) = mailoutbox
    assert message.subject == f"Förhandsbedömning {overdue.number}: Avskriven"
    assert small_world.clinic.email in message.to


def test_the_nightly_task_writes_off_overdue_requests(small_world, mailoutbox, django_capture_on_commit_callbacks):
    overdue = _in_state(small_world, State.AWAITING_INFORMATION)
    overdue.information_deadline = _today() - datetime.timedelta(days=1)
    overdue.save()
    in_time = _in_state(small_world, State.AWAITING_INFORMATION)
    with django_capture_on_commit_callbacks(execute=True):
        result = write_off_overdue_prior_assessments.delay()
    assert result.get() == 1
    overdue.refresh_from_db()
    in_time.refresh_from_db()
    assert overdue.state == State.WRITTEN_OFF
    assert in_time.state == State.AWAITING_INFORMATION
    assert [m.subject for m in mailoutbox] == [f"Förhandsbedömning {overdue.number}: Avskriven"]


def test_an_answer_in_time_is_not_written_off(small_world):
    assessment = _ask(small_world, _request(small_world), deadline=_today() + datetime.timedelta(days=1))
    services.prior_assessment_supply_information(
        actor=small_world.biller, assessment=assessment, text="Svar.", attachments=[]
    )
    assert services.prior_assessments_write_off_overdue(today=_today() + datetime.timedelta(days=30)) == 0
    assessment.refresh_from_db()
    assert assessment.state == State.INFORMATION_RECEIVED


# Two coordinators at once --------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_coordinators_deciding_at_once_one_wins_the_other_is_told(transactional_small_world):
    small_world = transactional_small_world
    assessment = _request(small_world)
    second = RegionMembershipFactory(
        region=small_world.region, role=RegionRole.COORDINATOR, user__name="Sven Samordnare"
    ).user
    approve = _all(assessment)
    deny = {pk: None for pk in approve}
    barrier = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def decide(name, actor, amounts):
        try:
            barrier.wait(timeout=10)
            services.prior_assessment_decide(actor=actor, assessment=assessment, approved_amounts=amounts, reason=name)
            outcomes[name] = "decided"
        except ValidationError as error:
            outcomes[name] = " ".join(error.messages)
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=decide, args=("approve", small_world.coordinator, approve)),
        threading.Thread(target=decide, args=("deny", second, deny)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(outcomes) == ["approve", "deny"]
    winners = [name for name, outcome in outcomes.items() if outcome == "decided"]
    assert len(winners) == 1, outcomes
    (winner,) = winners
    loser = "deny" if winner == "approve" else "approve"
    assessment.refresh_from_db()
    expected = {"approve": State.APPROVED, "deny": State.DENIED}[winner]
    assert assessment.state == expected and assessment.decision_reason == winner
    winner_name = {"approve": small_world.coordinator.name, "deny": "Sven Samordnare"}[winner]
    assert outcomes[loser] == (
        f"Förhandsbedömningen {assessment.number} har redan status {expected.label}, beslutad av {winner_name}."
    )
    assert "har redan status" in outcomes[loser]
    assert assessment.events.filter(kind=PriorAssessmentEventKind.DECIDED).count() == 1
