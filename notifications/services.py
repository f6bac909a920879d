"""Making notifications from the clinics' event feeds, sending their e-mail once, and marking them read.

The fan-out follows the webhooks (portal.webhooks): per clinic a cursor in its feed (portal.events, events of
ended transactions only, in (xid, id) order), moved in the same transaction that makes the notifications, which
the database makes once per (recipient, event). Run twice, or at once, it makes nothing twice and misses nothing.

Who is told of what (`_recipients`), never the person who made the change:

- a question on a claim → the clinic's billers and local administrators;
- the clinic's answer → the coordinator who asked;
- a claim voided or credited by the region (a person of the region did it) → the clinic's billers;
- an FHB decided, or komplettering asked → the person who made the request, or the clinic's billers. Its e-mail
  is the FHB's own notice (eligibility.services, to the clinic's address and the requester): the inbox entry only;
- an invoice file checked → the person who uploaded it (the check is the portal's, so they are told);
- a payout made → the clinic's billers, local administrators and Ekonomi;
- a new version of the region's agreement (Avtal att signera) → the clinic's Avtalsansvariga and local
  administrators, who sign it;
- a new bankgiro/plusgiro waiting for a second person → the region's coordinators and administrators and the
  clinic's other local administrators, who may confirm it. Its e-mail is the money control's own notice
  (clinics.tasks.send_account_change_notice), which cannot be switched off: the inbox entry only here.

"The clinic's billers": its active billers, or its local administrators when it has none.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.template.loader import render_to_string
from django.utils import timezone, translation

from claims.models import Claim
from clinics.models import Clinic, ClinicMembership, ClinicRole, RegionMembership, User
from eligibility.models import PriorAssessment
from portal import validators
from portal.audit import audit_record
from portal.events import Cursor, clinic_events_after, clinic_events_waiting
from portal.models import ClinicEvent, ClinicEventKind
from review.models import ClaimQuestion

from .audit import NotificationsAudit
from .models import (
    EMAILABLE_KINDS,
    EMAILED_ELSEWHERE,
    Notification,
    NotificationCursor,
    NotificationKind,
    NotificationPreference,
)
from .selectors import notification_link, notification_text

# Events read per round; a longer backlog is taken in further rounds.
FAN_OUT_BATCH = 500
# A clinic's first fan-out passes over older events: a new installation does not mail its history.
FIRST_LOOK_BACK = datetime.timedelta(days=1)

_KINDS = {
    ClinicEventKind.CLAIM_QUESTION_ASKED: NotificationKind.QUESTION_ASKED,
    ClinicEventKind.CLAIM_QUESTION_ANSWERED: NotificationKind.QUESTION_ANSWERED,
    ClinicEventKind.CLAIM_VOIDED: NotificationKind.CLAIM_VOIDED,
    ClinicEventKind.CLAIM_CREDITED: NotificationKind.CLAIM_CREDITED,
    ClinicEventKind.PRIOR_ASSESSMENT_DECIDED: NotificationKind.PRIOR_ASSESSMENT_DECIDED,
    ClinicEventKind.PRIOR_ASSESSMENT_COMPLETION_REQUESTED: NotificationKind.PRIOR_ASSESSMENT_COMPLETION_REQUESTED,
    ClinicEventKind.INVOICE_FILE_CHECKED: NotificationKind.INVOICE_FILE_CHECKED,
    ClinicEventKind.PAYOUT_MADE: NotificationKind.PAYOUT_MADE,
    ClinicEventKind.ACCOUNT_CHANGE_REQUESTED: NotificationKind.ACCOUNT_CHANGE_REQUESTED,
    ClinicEventKind.AGREEMENT_PUBLISHED: NotificationKind.AGREEMENT_TO_SIGN,
}


@dataclass(frozen=True)
class FannedOut:
    email_ids: list[int]  # notifications whose e-mail is to be sent
    more: bool  # a full batch was read: read again
    waiting: bool  # events have committed but are held back by an older running transaction


def notifications_fan_out(*, clinic_id: int) -> FannedOut:
    """Turn the clinic's next events into notifications, moving its cursor; the e-mails to send."""
    with transaction.atomic():
        cursor_row = _cursor_locked(clinic_id)
        cursor = Cursor(cursor_row.xid, cursor_row.event_id)
        events = clinic_events_after(clinic=clinic_id, after=cursor, limit=FAN_OUT_BATCH)
        clinic = Clinic.objects.get(pk=clinic_id)
        rows = [
            row for event in events if event.occurred_at >= cursor_row.since for row in _notifications_of(event, clinic)
        ]
        Notification.objects.bulk_create(rows, ignore_conflicts=True)
        if events:
            end = Cursor.of(events[-1])
            cursor_row.xid, cursor_row.event_id = end.xid, end.event_id
            cursor_row.save(update_fields=["xid", "event_id"])
            cursor = end
        waiting = len(events) < FAN_OUT_BATCH and clinic_events_waiting(clinic=clinic_id, after=cursor)
    # Their ids, also of those a run before made and did not mail (bulk_create gives none back when it may skip).
    email_ids = notifications_to_email(event_ids=[event.pk for event in events]) if rows else []
    return FannedOut(email_ids, more=len(events) == FAN_OUT_BATCH, waiting=waiting)


def _cursor_locked(clinic_id: int) -> NotificationCursor:
    NotificationCursor.objects.get_or_create(clinic_id=clinic_id, defaults={"since": timezone.now() - FIRST_LOOK_BACK})
    return NotificationCursor.objects.select_for_update().get(clinic_id=clinic_id)


def notifications_to_email(*, event_ids: Iterable[int] | None = None, made_before=None, made_after=None) -> list[int]:
    """The notifications not yet mailed whose recipient wants e-mail of their kind: of these events, or (the sweep)
    made in a period."""
    switched_off = NotificationPreference.objects.filter(
        user_id=OuterRef("recipient_id"), kind=OuterRef("kind"), email=False
    )
    rows = Notification.objects.filter(emailed_at__isnull=True)
    if event_ids is not None:
        rows = rows.filter(event_id__in=list(event_ids))
    if made_before is not None:
        rows = rows.filter(created_at__lt=made_before, created_at__gte=made_after)
    return list(
        rows.exclude(kind__in=EMAILED_ELSEWHERE)
        .exclude(Exists(switched_off))
        .order_by("pk")
        .values_list("pk", flat=True)
    )


# Recipients ----------------------------------------------------------------------------------------------------


def _notifications_of(event: ClinicEvent, clinic: Clinic) -> list[Notification]:
    kind = _KINDS.get(event.kind)
    if kind is None:
        return []
    recipients, params = _recipients(event, kind, clinic)
    if kind != NotificationKind.INVOICE_FILE_CHECKED:
        recipients = [user_id for user_id in recipients if user_id != event.actor_id]
    return [
        Notification(
            recipient_id=user_id,
            event=event,
            kind=kind,
            clinic_id=event.clinic_id,
            object_type=event.object_type,
            object_id=event.object_id,
            params=params,
        )
        for user_id in dict.fromkeys(recipients)
    ]


def _recipients(event: ClinicEvent, kind: str, clinic: Clinic) -> tuple[list[int], dict]:
    data = event.data
    params: dict = {key: data[key] for key in ("state", "from_state") if key in data}
    if event.object_type == "claim":
        params["claim_reference"] = _claim_reference(event.object_id)
    if kind == NotificationKind.QUESTION_ASKED:
        return _members(event.clinic_id, ClinicRole.BILLER, ClinicRole.LOCAL_ADMIN), params
    if kind == NotificationKind.QUESTION_ANSWERED:
        asked_by = (
            ClaimQuestion.objects.filter(pk=data.get("question_id"), claim_id=event.object_id)
            .values_list("asked_by_id", flat=True)
            .first()
        )
        return _active([asked_by] if asked_by else []), params
    if kind in (NotificationKind.CLAIM_VOIDED, NotificationKind.CLAIM_CREDITED):
        if not _by_the_region(event, clinic):
            return [], params
        return _billers(event.clinic_id), params
    if kind in (NotificationKind.PRIOR_ASSESSMENT_DECIDED, NotificationKind.PRIOR_ASSESSMENT_COMPLETION_REQUESTED):
        assessment = PriorAssessment.objects.filter(pk=event.object_id).values("number", "created_by_id").first() or {}
        params["number"] = assessment.get("number", "")
        for key in ("valid_until", "information_deadline"):
            if key in data:
                params[key] = data[key]
        requester = assessment.get("created_by_id")
        if requester and requester in _members(event.clinic_id, ClinicRole.BILLER, ClinicRole.LOCAL_ADMIN):
            return [requester], params
        return _billers(event.clinic_id), params
    if kind == NotificationKind.INVOICE_FILE_CHECKED:
        params.update({key: data[key] for key in ("claim_count", "faulty_count", "correct_count") if key in data})
        return _active([event.actor_id] if event.actor_id else []), params
    if kind == NotificationKind.PAYOUT_MADE:
        params.update({key: data[key] for key in ("payout_date", "net", "gross", "set_off") if key in data})
        return _members(event.clinic_id, ClinicRole.BILLER, ClinicRole.LOCAL_ADMIN, ClinicRole.FINANCE), params
    if kind == NotificationKind.AGREEMENT_TO_SIGN:
        params.update({key: data[key] for key in ("number", "valid_from", "sign_by", "must_sign") if key in data})
        return _members(event.clinic_id, ClinicRole.AGREEMENT_OWNER, ClinicRole.LOCAL_ADMIN), params
    if kind == NotificationKind.ACCOUNT_CHANGE_REQUESTED:
        params["clinic_number"] = clinic.number
        region = list(
            RegionMembership.objects.filter(region_id=clinic.region_id, is_active=True, user__is_active=True)
            .order_by("user_id")
            .values_list("user_id", flat=True)
        )
        admins = _members(event.clinic_id, ClinicRole.LOCAL_ADMIN)
        params["clinic_admins"] = admins  # they open the clinic's page, the region's people the region's
        return region + admins, params
    return [], params


def _claim_reference(claim_id: int) -> str:
    reference = Claim.objects.filter(pk=claim_id).values_list("reference", flat=True).first() or ""
    # Typed by the clinic: a personnummer in it is not carried into a notification or an e-mail.
    return validators.mask_personal_identity_numbers_in(reference)


def _members(clinic_id: int, *roles: str) -> list[int]:
    return list(
        ClinicMembership.objects.filter(clinic_id=clinic_id, role__in=roles, is_active=True, user__is_active=True)
        .order_by("user_id")
        .values_list("user_id", flat=True)
    )


def _billers(clinic_id: int) -> list[int]:
    return _members(clinic_id, ClinicRole.BILLER) or _members(clinic_id, ClinicRole.LOCAL_ADMIN)


def _active(user_ids: list[int]) -> list[int]:
    return list(User.objects.filter(pk__in=user_ids, is_active=True).values_list("pk", flat=True))


def _by_the_region(event: ClinicEvent, clinic: Clinic) -> bool:
    """Whether a person of the clinic's region made the change (not the clinic itself, not the portal)."""
    if event.actor_id is None:
        return False
    return RegionMembership.objects.filter(user_id=event.actor_id, region_id=clinic.region_id, is_active=True).exists()


# E-mail, once --------------------------------------------------------------------------------------------------


@transaction.atomic
def notification_email_send(*, notification_id: int) -> bool:
    """E-mail the notification to its recipient, once: the row is locked and marked sent in the same transaction,
    so a second call (a retried or redelivered task) sends nothing. In the recipient's language."""
    notification = (
        Notification.objects.select_for_update(of=("self",))
        .select_related("recipient", "clinic__region")
        .filter(pk=notification_id)
        .first()
    )
    if notification is None or notification.emailed_at is not None:
        return False
    recipient = notification.recipient
    if notification.kind in EMAILED_ELSEWHERE:
        return False
    if not recipient.is_active or not notification_email_wanted(user=recipient, kind=notification.kind):
        return False
    notification_email(notification=notification).send()
    notification.emailed_at = timezone.now()
    notification.save(update_fields=["emailed_at"])
    return True


def notification_email_wanted(*, user: User, kind: str) -> bool:
    return not NotificationPreference.objects.filter(user=user, kind=kind, email=False).exists()


def notification_email(*, notification: Notification) -> EmailMessage:
    language = notification.recipient.language or settings.LANGUAGE_CODE
    with translation.override(language):
        text = notification_text(notification)
        link = notification_link(notification)
        context = {
            "notification": notification,
            "text": text,
            "link": settings.PORTAL_BASE_URL.rstrip("/") + link if link else "",
            "inbox": settings.PORTAL_BASE_URL.rstrip("/") + "/aviseringar/",
            "settings_link": settings.PORTAL_BASE_URL.rstrip("/") + "/konto/aviseringar/",
        }
        subject = render_to_string("notifications/email/subject.txt", context).strip()
        body = render_to_string("notifications/email/body.txt", context)
    message = EmailMessage(subject=subject, body=body, to=[notification.recipient.email])
    # The same for every attempt: a receiving server may drop a second copy of it.
    message.extra_headers["Message-ID"] = f"<notification-{notification.pk}@tandportal>"
    return message


# The person's own actions --------------------------------------------------------------------------------------


@transaction.atomic
def notification_mark_read(*, user: User, notification: Notification) -> Notification:
    """Markera som läst: the person's own notification (the caller looked it up through `of_recipient`)."""
    notification = Notification.objects.select_for_update().of_recipient(user).get(pk=notification.pk)
    if notification.read_at is not None:
        return notification
    notification.read_at = timezone.now()
    notification.save(update_fields=["read_at"])
    audit_record(actor=user, action=NotificationsAudit.NOTIFICATION_READ, obj=notification)
    return notification


@transaction.atomic
def notifications_mark_all_read(*, user: User) -> int:
    """Markera alla som lästa: every unread notification of the person, in one statement."""
    count = Notification.objects.of_recipient(user).unread().update(read_at=timezone.now())
    if count:
        audit_record(actor=user, action=NotificationsAudit.ALL_READ, obj=user, after={"count": count})
    return count


@transaction.atomic
def notification_preferences_save(*, user: User, email_kinds: Iterable[str]) -> None:
    """The kinds the person wants by e-mail; the others are switched off (the inbox still shows them)."""
    wanted = set(email_kinds)
    before = {
        kind: email for kind, email in NotificationPreference.objects.filter(user=user).values_list("kind", "email")
    }
    after = {}
    for kind in EMAILABLE_KINDS:
        email = kind in wanted
        if before.get(kind, True) != email:
            NotificationPreference.objects.update_or_create(user=user, kind=kind, defaults={"email": email})
            after[kind] = email
    if after:
        audit_record(
            actor=user,
            action=NotificationsAudit.PREFERENCES_CHANGED,
            obj=user,
            before={kind: before.get(kind, True) for kind in after},
            after=after,
        )
