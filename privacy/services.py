"""A person's consent, changed in one transaction with its audit record."""

from django.db import transaction

from clinics.models import User
from portal.audit import audit_record

from .audit import PrivacyAudit
from .models import EmailConsent


def email_consent_current(user: User) -> EmailConsent | None:
    """The person's latest answer, or None when they have never answered (no consent)."""
    return EmailConsent.objects.filter(user=user).order_by("-recorded_at", "-pk").first()


@transaction.atomic
def email_consent_set(*, actor: User, user: User, given: bool) -> EmailConsent:
    """Record the person's answer; the same answer again records nothing (the history shows changes only)."""
    User.objects.select_for_update().filter(pk=user.pk).first()  # two answers at once: one after the other
    current = email_consent_current(user)
    if current is not None and current.given == given:
        return current
    consent = EmailConsent.objects.create(user=user, given=given, recorded_by=actor)
    audit_record(
        actor=actor,
        action=PrivacyAudit.EMAIL_CONSENT_GIVEN if given else PrivacyAudit.EMAIL_CONSENT_WITHDRAWN,
        obj=user,
        before={"email_consent": current.given if current else None},
        after={"email_consent": given},
    )
    return consent


@transaction.atomic
def extract_downloaded_record(*, user: User) -> None:
    audit_record(actor=user, action=PrivacyAudit.EXTRACT_DOWNLOADED, obj=user)


def email_consenting(users) -> set[int]:
    """The ids of those among `users` whose latest answer is yes: whom the region may e-mail for other purposes."""
    latest: dict[int, bool] = {}
    for user_id, given in (
        EmailConsent.objects.filter(user__in=users)
        .order_by("user_id", "-recorded_at", "-pk")
        .values_list("user_id", "given")
    ):
        latest.setdefault(user_id, given)
    return {user_id for user_id, given in latest.items() if given}
