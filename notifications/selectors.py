"""Reading notifications: the bell's count, the inbox's page, and each one's words and link in the reader's language."""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _

from portal import money
from portal.db import PreparedQuery

from .models import EMAILABLE_KINDS, Notification, NotificationKind, NotificationPreference

INBOX_PAGE_SIZE = 25


# The bell is on every page: its count compiled once (portal.db.PreparedQuery).
_UNREAD = PreparedQuery(
    lambda user_id: Notification.objects.of_recipient(user_id).unread().values_list("pk"), user_id=int
)


def notifications_unread_count(*, user) -> int:
    """The bell's number: one count on the partial index of the person's unread rows."""
    return _UNREAD.count(user_id=user.pk)


@dataclass(frozen=True)
class InboxPage:
    notifications: list[Notification]
    older_than: int | None  # the id to page on from ("Äldre"), or None on the last page


def notifications_inbox(*, user, before: int | None = None, size: int = INBOX_PAGE_SIZE) -> InboxPage:
    """The person's notifications, newest first, `size` at a time before the id `before` (keyset paging: every
    page costs the same at any depth)."""
    rows = Notification.objects.of_recipient(user).select_related("clinic__region")
    if before is not None:
        rows = rows.filter(pk__lt=before)
    found = list(rows.order_by("-pk")[: size + 1])
    page = found[:size]
    return InboxPage(page, older_than=page[-1].pk if len(found) > size else None)


def notification_preferences(*, user) -> dict[str, bool]:
    """Each kind: whether the person wants it by e-mail (on unless switched off)."""
    off = set(NotificationPreference.objects.filter(user=user, email=False).values_list("kind", flat=True))
    return {kind: kind not in off for kind in EMAILABLE_KINDS}


def notification_text(notification: Notification) -> str:
    """What happened, in the active language, from the kind and its parameters (never stored as prose)."""
    params = notification.params or {}
    kind = notification.kind
    claim = params.get("claim_reference") or "–"
    if kind == NotificationKind.QUESTION_ASKED:
        return _("Tandvårdssamordningen har en fråga om räkning %(claim)s.") % {"claim": claim}
    if kind == NotificationKind.QUESTION_ANSWERED:
        return _("Kliniken har svarat på din fråga om räkning %(claim)s.") % {"claim": claim}
    if kind == NotificationKind.CLAIM_VOIDED:
        return _("Regionen har makulerat räkning %(claim)s.") % {"claim": claim}
    if kind == NotificationKind.CLAIM_CREDITED:
        return _("Regionen har krediterat räkning %(claim)s.") % {"claim": claim}
    if kind == NotificationKind.PRIOR_ASSESSMENT_DECIDED:
        states = {
            "approved": _("godkänd"),
            "approved_limited": _("godkänd med begränsningar"),
            "denied": _("avslagen"),
        }
        text = _("Förhandsbedömning %(number)s är %(decision)s.") % {
            "number": params.get("number", ""),
            "decision": states.get(params.get("state", ""), _("beslutad")),
        }
        if params.get("valid_until"):
            text += " " + _("Giltig till %(date)s.") % {"date": params["valid_until"]}
        return text
    if kind == NotificationKind.PRIOR_ASSESSMENT_COMPLETION_REQUESTED:
        text = _("Tandvårdssamordningen begär komplettering av förhandsbedömning %(number)s.") % {
            "number": params.get("number", "")
        }
        if params.get("information_deadline"):
            text += " " + _("Svara senast %(date)s.") % {"date": params["information_deadline"]}
        return text
    if kind == NotificationKind.INVOICE_FILE_CHECKED:
        if params.get("state") == "rejected":
            return _("Fakturafilen är kontrollerad och avvisad.")
        return _("Fakturafilen är kontrollerad: %(correct)s av %(total)s räkningar utan fel, %(faulty)s med fel.") % {
            "correct": params.get("correct_count", 0),
            "total": params.get("claim_count", 0),
            "faulty": params.get("faulty_count", 0),
        }
    if kind == NotificationKind.PAYOUT_MADE:
        return _("Utbetalning %(date)s: %(amount)s. Utbetalningsbeskedet finns i portalen.") % {
            "date": params.get("payout_date", ""),
            "amount": money.format_kronor(params.get("net", 0)),
        }
    if kind == NotificationKind.ACCOUNT_CHANGE_REQUESTED:
        return _("Klinik %(clinic)s har begärt ett nytt bankgiro-/plusgironummer som väntar på bekräftelse.") % {
            "clinic": params.get("clinic_number", "")
        }
    if kind == NotificationKind.AGREEMENT_TO_SIGN:
        if not params.get("must_sign", True):
            return _("Regionen har publicerat version %(number)s av avtalet, giltig från %(date)s.") % {
                "number": params.get("number", ""),
                "date": params.get("valid_from", ""),
            }
        return _(
            "Regionen har publicerat version %(number)s av avtalet, giltig från %(date)s. "
            "Signera den senast %(sign_by)s."
        ) % {
            "number": params.get("number", ""),
            "date": params.get("valid_from", ""),
            "sign_by": params.get("sign_by") or params.get("valid_from", ""),
        }
    return str(NotificationKind(kind).label) if kind in NotificationKind.values else kind


def notification_link(notification: Notification) -> str | None:
    """The path of the object's page for the recipient (the clinic's or the region's), or None."""
    clinic_id = notification.clinic_id
    object_id = notification.object_id
    kind = notification.kind
    try:
        if kind == NotificationKind.QUESTION_ANSWERED:
            return reverse(
                "review_claim_detail",
                kwargs={"region_code": notification.clinic.region.code, "claim_pk": object_id},
            )
        if notification.object_type == "claim":
            return reverse("invoice_claim_detail", kwargs={"clinic_pk": clinic_id, "claim_pk": object_id})
        if notification.object_type == "prior_assessment":
            return reverse("prior_assessment_detail", kwargs={"clinic_pk": clinic_id, "assessment_pk": object_id})
        if notification.object_type == "invoice_file":
            return reverse("invoice_file_detail", kwargs={"clinic_pk": clinic_id, "upload_pk": object_id})
        if notification.object_type == "payout_payment":
            return reverse("clinic_payout_notice_pdf", kwargs={"clinic_pk": clinic_id, "payment_pk": object_id})
        if notification.object_type == "agreement_version":
            return reverse("clinic_agreements", kwargs={"clinic_pk": clinic_id})
        if notification.object_type == "account_change":
            region = notification.clinic.region
            if notification.recipient_id not in (notification.params or {}).get("clinic_admins", []):
                return reverse(
                    "region_clinic_detail",
                    kwargs={"region_code": region.code, "clinic_number": notification.clinic.number},
                )
            return reverse("clinic_administration", kwargs={"clinic_pk": clinic_id})
    except NoReverseMatch:
        return None
    return None
