"""What the portal holds about one person, for the person themself (*Mina uppgifter*, a JSON extract).

Scoped by the person, never by a clinic or region: every row read here is the signed-in person's own (their
memberships, invitations, consents, notifications and the logs of what they did). What was chosen:

- the account itself (never the password hash, two-factor secrets or recovery codes: their number only);
- clinic and region roles, invitations, the consent history, the e-mail choice per kind of notification and the
  notifications received (kind and time: the objects they point at are the clinic's, not the person's);
- applications to join that name the person (as avtalsansvarig or local administrator);
- logins (django-axes' log of successful logins: time, address, browser), under each address the account had;
- the audit log: every change the person made (what, when, which object; not the recorded values, which may
  be other people's data) and every change made to the person's own account (with the values);
- the access log: when and on which page the person was shown patient data, without the patients' personnummer
  (those are the patients' data, not the person's).
"""

from __future__ import annotations

import datetime
from typing import Any

from axes.models import AccessLog
from django.utils import timezone

from clinics.models import ClinicInvitation, ClinicMembership, RegionMembership, User
from notifications.models import Notification, NotificationKind
from notifications.selectors import notification_preferences
from onboarding.models import ClinicApplication
from portal import two_factor
from portal.audit import IdentityAudit, audit_action_label
from portal.models import AccessLogEntry, AuditEvent

from .models import EmailConsent

EXTRACT_FORMAT = 1


def _time(value: datetime.datetime | None) -> str | None:
    return timezone.localtime(value).isoformat() if value else None


def _emails_of(user: User) -> set[str]:
    """The account's address now and every address it had before (from the audit log of its changes)."""
    emails = {user.email.lower()}
    for before in AuditEvent.objects.filter(
        action=IdentityAudit.ACCOUNT_EMAIL_CHANGED, object_type="clinics.user", object_id=str(user.pk)
    ).values_list("before", flat=True):
        if before.get("email"):
            emails.add(before["email"].lower())
    return emails


def personal_data_extract(*, user: User) -> dict[str, Any]:
    emails = _emails_of(user)
    return {
        "format": EXTRACT_FORMAT,
        "made_at": _time(timezone.now()),
        "account": {
            "email": user.email,
            "name": user.name,
            "phone": user.phone,
            "hsa_id": user.hsa_id,
            "language": user.language,
            "active": user.is_active,
            "joined": _time(user.date_joined),
            "last_login": _time(user.last_login),
            "two_factor_apps": [
                {"name": device.name, "last_used": _time(getattr(device, "last_used_at", None))}
                for device in two_factor.app_devices(user)
            ],
            "recovery_codes_left": two_factor.recovery_codes_left(user),
        },
        "clinic_roles": [
            {
                "clinic_number": m.clinic.number,
                "clinic": m.clinic.name,
                "region": m.clinic.region.name,
                "role": m.role,
                "role_name": str(m.get_role_display()),
                "active": m.is_active,
                "since": _time(m.created_at),
            }
            for m in ClinicMembership.objects.filter(user=user).select_related("clinic__region").order_by("pk")
        ],
        "region_roles": [
            {"region": m.region.name, "role": m.role, "role_name": str(m.get_role_display()), "active": m.is_active}
            for m in RegionMembership.objects.filter(user=user).select_related("region").order_by("pk")
        ],
        "invitations": [
            {
                "clinic_number": i.clinic.number,
                "clinic": i.clinic.name,
                "role": i.role,
                "state": i.state,
                "sent": _time(i.created_at),
                "answered": _time(i.decided_at),
            }
            for i in ClinicInvitation.objects.filter(user=user).select_related("clinic").order_by("pk")
        ],
        "email_consent": [
            {"given": c.given, "at": _time(c.recorded_at), "by": c.recorded_by.email}
            for c in EmailConsent.objects.filter(user=user).select_related("recorded_by").order_by("recorded_at", "pk")
        ],
        "notification_email": {
            kind: {"name": str(NotificationKind(kind).label), "email": wanted}
            for kind, wanted in notification_preferences(user=user).items()
        },
        "notifications": [
            {"kind": kind, "at": _time(created), "read": _time(read)}
            for kind, created, read in Notification.objects.filter(recipient=user)
            .order_by("pk")
            .values_list("kind", "created_at", "read_at")
        ],
        "applications_to_join": [
            {
                "clinic": a.clinic_name,
                "region": a.region.name,
                "as": [
                    role
                    for role, email in (
                        ("agreement_owner", a.agreement_owner_email),
                        ("local_admin", a.local_admin_email),
                    )
                    if email.lower() in emails
                ],
                "state": a.state,
                "submitted": _time(a.submitted_at),
            }
            for a in _applications_naming(emails)
        ],
        "logins": [
            {"at": _time(at), "logged_out": _time(out), "ip_address": ip, "browser": agent}
            for at, out, ip, agent in AccessLog.objects.filter(username__in=sorted(emails))
            .order_by("attempt_time")
            .values_list("attempt_time", "logout_time", "ip_address", "user_agent")
        ],
        "changes_made": [
            {
                "at": _time(e.occurred_at),
                "action": e.action,
                "action_name": audit_action_label(e.action),
                "object_type": e.object_type,
                "object_id": e.object_id,
                "object": e.object_repr,
            }
            for e in AuditEvent.objects.filter(actor=user).order_by("id").iterator(chunk_size=2000)
        ],
        "changes_to_your_account": [
            {
                "at": _time(e.occurred_at),
                "action": e.action,
                "action_name": audit_action_label(e.action),
                "by": e.actor_email,
                "before": e.before,
                "after": e.after,
            }
            for e in AuditEvent.objects.filter(object_type="clinics.user", object_id=str(user.pk)).order_by("id")
        ],
        "patient_data_shown": [
            {"at": _time(at), "page": shown, "role": role, "clinic_number": clinic_number, "region": region}
            for at, shown, role, clinic_number, region in AccessLogEntry.objects.filter(user=user)
            .order_by("id")
            .values_list("occurred_at", "shown", "role", "clinic__number", "region__name")
            .iterator(chunk_size=2000)
        ],
    }


def _applications_naming(emails: set[str]):
    applications = ClinicApplication.objects.none()
    for email in emails:
        applications = applications | ClinicApplication.objects.filter(agreement_owner_email__iexact=email)
        applications = applications | ClinicApplication.objects.filter(local_admin_email__iexact=email)
    return applications.select_related("region").order_by("pk")
