"""The fan-out from the clinics' event feeds (notifications.services): who is told of what (never the person who
made the change), once per person and event however often it runs, and the e-mail once, in the reader's language,
unless the reader switched that kind off (the inbox keeps it).

The events are committed (transactional world): the feed shows only events of ended transactions, and the
listener runs after the commit, with Celery eager in the tests."""

import pytest
from django.core import mail
from django.db import transaction
from django.db.models import Max
from django.urls import reverse

from claims.services import claim_void
from clinics.models import ClinicRole
from clinics.services import account_change_request
from notifications import services
from notifications.models import Notification, NotificationCursor, NotificationKind, NotificationPreference
from notifications.selectors import notification_link, notification_text
from portal.events import clinic_event_record
from portal.models import ClinicEventKind
from review.services import claim_question_answer, claim_question_ask
from tests.claims.factories import ClaimFactory
from tests.clinics.factories import ClinicMembershipFactory, RegionMembershipFactory
from tests.eligibility.factories import PriorAssessmentFactory


def told(kind: str) -> set[int]:
    """Who was told of this kind by the test's own events (the session's demo, if loaded, has its own)."""
    mine = Notification.objects.filter(kind=kind, pk__gt=BEFORE["id"])
    return set(mine.values_list("recipient_id", flat=True))


BEFORE = {"id": 0}


def mine():
    return Notification.objects.filter(pk__gt=BEFORE["id"])


def record(world, kind, obj, data=None, actor=None, clinic=None):
    with transaction.atomic():
        return clinic_event_record(clinic=clinic or world.clinic, kind=kind, obj=obj, data=data or {}, actor=actor)


@pytest.fixture
def world(transactional_small_world):
    w = transactional_small_world
    _made_before_any_event = (w.biller, w.admin, w.coordinator, w.region_admin)
    BEFORE["id"] = Notification.objects.aggregate(last=Max("id"))["last"] or 0
    return w


# Who is told --------------------------------------------------------------------------------------------------


def test_a_question_tells_the_clinics_billers_and_local_administrators_not_the_coordinator(world):
    outsider = world.other_region_biller
    claim = ClaimFactory(invoice__clinic=world.clinic, invoice__created_by=world.biller, reference="R-1")

    claim_question_ask(actor=world.coordinator, claim=claim, question="Vilken tand?")

    assert told(NotificationKind.QUESTION_ASKED) == {world.biller.pk, world.admin.pk}
    assert outsider.pk not in told(NotificationKind.QUESTION_ASKED)
    notification = mine().get(recipient=world.biller)
    assert (notification.object_type, notification.object_id) == ("claim", claim.pk)
    assert notification.params["claim_reference"] == "R-1"
    assert "Vilken tand" not in str(notification.params)  # the words stay on the question, behind its access


def test_the_answer_tells_the_coordinator_who_asked_and_nobody_else(world):
    other_coordinator = RegionMembershipFactory(region=world.region, role="coordinator").user
    claim = ClaimFactory(invoice__clinic=world.clinic, invoice__created_by=world.biller)
    question = claim_question_ask(actor=world.coordinator, claim=claim, question="Vilken tand?")

    claim_question_answer(actor=world.biller, question=question, answer="Tand 36.")

    assert told(NotificationKind.QUESTION_ANSWERED) == {world.coordinator.pk}
    assert other_coordinator.pk not in told(NotificationKind.QUESTION_ANSWERED)


def test_a_claim_voided_by_the_region_tells_the_billers(world):
    claim = ClaimFactory(invoice__clinic=world.clinic, invoice__created_by=world.biller)

    claim_void(actor=world.coordinator, claim=claim, reason="Dubblett.")

    assert told(NotificationKind.CLAIM_VOIDED) == {world.biller.pk}


@pytest.mark.parametrize("kind", [ClinicEventKind.CLAIM_VOIDED, ClinicEventKind.CLAIM_CREDITED])
def test_a_claim_voided_or_credited_by_the_clinic_itself_tells_nobody(world, kind):
    claim = ClaimFactory(invoice__clinic=world.clinic, invoice__created_by=world.biller)

    record(world, kind, ("claim", claim.pk), actor=world.admin)

    assert not mine().exists()


def test_a_credit_by_the_region_tells_the_local_administrator_of_a_clinic_without_billers(world):
    clinic = world.other_clinic  # the biller bills here too: take the role away
    world.biller.clinic_memberships.filter(clinic=clinic).update(is_active=False)
    admin = ClinicMembershipFactory(clinic=clinic, role=ClinicRole.LOCAL_ADMIN).user
    claim = ClaimFactory(invoice__clinic=clinic, invoice__created_by=admin)

    record(world, ClinicEventKind.CLAIM_CREDITED, ("claim", claim.pk), actor=world.coordinator, clinic=clinic)

    assert told(NotificationKind.CLAIM_CREDITED) == {admin.pk}


@pytest.mark.parametrize(
    ("kind", "notification_kind", "data"),
    [
        (ClinicEventKind.PRIOR_ASSESSMENT_DECIDED, NotificationKind.PRIOR_ASSESSMENT_DECIDED, {"state": "approved"}),
        (
            ClinicEventKind.PRIOR_ASSESSMENT_COMPLETION_REQUESTED,
            NotificationKind.PRIOR_ASSESSMENT_COMPLETION_REQUESTED,
            {"state": "awaiting_information", "information_deadline": "2026-12-24"},
        ),
    ],
)
def test_an_fhb_decision_or_komplettering_tells_the_person_who_requested_it(world, kind, notification_kind, data):
    assessment = PriorAssessmentFactory(clinic=world.clinic, created_by=world.admin, number="FHB-2026-000007")

    record(world, kind, ("prior_assessment", assessment.pk), data=data, actor=world.coordinator)

    assert told(notification_kind) == {world.admin.pk}
    assert mine().get().params["number"] == "FHB-2026-000007"
    # Its e-mail is the FHB's own notice (to the clinic and the requester): none from the notifications.
    assert not [m for m in mail.outbox if m.subject.startswith("Tandportalen:")]


def test_an_fhb_whose_requester_left_the_clinic_tells_the_billers(world):
    gone = ClinicMembershipFactory(clinic=world.clinic, role=ClinicRole.BILLER, is_active=False).user
    assessment = PriorAssessmentFactory(clinic=world.clinic, created_by=gone)

    record(world, ClinicEventKind.PRIOR_ASSESSMENT_DECIDED, ("prior_assessment", assessment.pk), actor=None)

    assert told(NotificationKind.PRIOR_ASSESSMENT_DECIDED) == {world.biller.pk}


def test_a_checked_file_tells_the_person_who_uploaded_it_with_its_counts(world):
    data = {"state": "checked", "claim_count": 12, "faulty_count": 2, "correct_count": 10}

    record(world, ClinicEventKind.INVOICE_FILE_CHECKED, ("invoice_file", 5), data=data, actor=world.admin)

    [notification] = mine()
    assert notification.recipient == world.admin
    assert (notification.params["claim_count"], notification.params["faulty_count"]) == (12, 2)


def test_a_payout_tells_the_billers_and_local_administrators(world):
    data = {"payout_date": "2026-12-10", "gross": 100_00, "set_off": 0, "net": 100_00}

    record(world, ClinicEventKind.PAYOUT_MADE, ("payout_payment", 9), data=data)

    assert told(NotificationKind.PAYOUT_MADE) == {world.biller.pk, world.admin.pk}
    # With its utbetalningsbesked: the entry leads to the payment's notice, and says the amount and the day.
    entry = mine().get(kind=NotificationKind.PAYOUT_MADE, recipient=world.biller)
    notice = reverse("clinic_payout_notice_pdf", kwargs={"clinic_pk": world.clinic.pk, "payment_pk": 9})
    assert notification_link(entry) == notice
    assert "2026-12-10" in notification_text(entry) and "Utbetalningsbeskedet" in notification_text(entry)


def test_a_new_bankgiro_tells_those_who_may_confirm_it_not_the_one_who_asked(world):
    second_admin = ClinicMembershipFactory(clinic=world.clinic, role=ClinicRole.LOCAL_ADMIN).user
    other_region_coordinator = world.other_region_coordinator
    mail.outbox.clear()

    account_change_request(actor=world.admin, clinic=world.clinic, payment_method="bankgiro", account_number="5559877")

    assert told(NotificationKind.ACCOUNT_CHANGE_REQUESTED) == {
        world.coordinator.pk,
        world.region_admin.pk,
        second_admin.pk,
    }
    assert other_region_coordinator.pk not in told(NotificationKind.ACCOUNT_CHANGE_REQUESTED)
    # The money control's own notice is its e-mail; the inbox entry sends no second one.
    assert not [m for m in mail.outbox if "Tandportalen:" in m.subject]


def test_an_event_of_another_kind_tells_nobody(world):
    claim = ClaimFactory(invoice__clinic=world.clinic, invoice__created_by=world.biller)

    record(world, ClinicEventKind.CLAIM_STATE_CHANGED, ("claim", claim.pk), actor=world.coordinator)

    assert not mine().exists()


# Once ---------------------------------------------------------------------------------------------------------


def test_the_fan_out_run_again_from_the_start_makes_nothing_twice_and_mails_nothing_twice(world):
    claim = ClaimFactory(invoice__clinic=world.clinic, invoice__created_by=world.biller)
    claim_question_ask(actor=world.coordinator, claim=claim, question="Vilken tand?")
    before = list(mine().order_by("pk").values_list("pk", "recipient_id", "event_id"))
    assert len(mail.outbox) == 2

    NotificationCursor.objects.filter(clinic=world.clinic).update(xid=0, event_id=0)
    again = services.notifications_fan_out(clinic_id=world.clinic.pk)
    for notification_id in again.email_ids:
        services.notification_email_send(notification_id=notification_id)

    assert list(mine().order_by("pk").values_list("pk", "recipient_id", "event_id")) == before
    assert again.email_ids == []
    assert len(mail.outbox) == 2


def test_the_email_task_run_twice_sends_one_email(world):
    claim = ClaimFactory(invoice__clinic=world.clinic, invoice__created_by=world.biller)
    with transaction.atomic():
        # Made here without the listener's e-mail: the test sends it itself, twice.
        claim_question_ask(actor=world.coordinator, claim=claim, question="Vilken tand?")
        transaction.on_commit(lambda: None)
    mail.outbox.clear()
    notification = mine().get(recipient=world.biller)
    Notification.objects.filter(pk=notification.pk).update(emailed_at=None)

    assert services.notification_email_send(notification_id=notification.pk) is True
    assert services.notification_email_send(notification_id=notification.pk) is False

    assert [m.to for m in mail.outbox] == [[world.biller.email]]
    notification.refresh_from_db()
    assert notification.emailed_at is not None


def test_email_switched_off_for_a_kind_sends_none_but_the_inbox_keeps_it(world):
    NotificationPreference.objects.create(user=world.biller, kind=NotificationKind.QUESTION_ASKED, email=False)
    claim = ClaimFactory(invoice__clinic=world.clinic, invoice__created_by=world.biller)

    claim_question_ask(actor=world.coordinator, claim=claim, question="Vilken tand?")

    assert [m.to for m in mail.outbox] == [[world.admin.email]]
    assert mine().filter(recipient=world.biller, emailed_at__isnull=True).exists()


def test_the_email_is_in_the_recipients_language_with_a_link_to_the_claim(world):
    world.biller.language = "en"
    world.biller.save(update_fields=["language"])
    claim = ClaimFactory(invoice__clinic=world.clinic, invoice__created_by=world.biller, reference="R-77")

    claim_question_ask(actor=world.coordinator, claim=claim, question="Vilken tand?")

    english = next(m for m in mail.outbox if m.to == [world.biller.email])
    swedish = next(m for m in mail.outbox if m.to == [world.admin.email])
    assert "question" in english.body and "R-77" in english.body and "fråga" not in english.body
    assert "fråga om räkning R-77" in swedish.body
    assert f"/klinik/{world.clinic.pk}/fakturor/rakningar/{claim.pk}/" in english.body
    assert english.subject != swedish.subject
