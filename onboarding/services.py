"""Applications to join: submitted, confirmed by e-mail, approved (a clinic and its invitations) or rejected.

Each change runs in one transaction with its audit record. The e-mails go after commit, by Celery (tasks.py).
"""

from __future__ import annotations

import datetime

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.mail import send_mail, send_mass_mail
from django.db import connection, transaction
from django.db.models import BigIntegerField, Max
from django.db.models.functions import Cast
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, override

from clinics.models import Clinic, ClinicRole, Region, RegionRole, User
from clinics.services import membership_invite
from portal.audit import audit_record, snapshot

from .audit import OnboardingAudit
from .models import APPLICATION_TRANSITIONS, ApplicationState, ClinicApplication

CONFIRM_SALT = "onboarding:application-confirmation-link"
# The throttle, counted in the database (one truth for every web process): applications sent from one address
# an hour, and naming one avtalsansvarig's e-mail address (the one the confirmation goes to) a day.
APPLICATIONS_PER_ADDRESS_PER_HOUR = 5
APPLICATIONS_PER_EMAIL_PER_DAY = 3
THROTTLE_MESSAGE = gettext_lazy(
    "Vi har tagit emot för många ansökningar från dig på kort tid. Vänta en stund och försök igen, "
    "eller kontakta regionens tandvårdssamordning."
)
# Taken for the count and the insert, so that two applications sent at once are counted one after the other.
_THROTTLE_LOCK = "onboarding:application-throttle"


def _throttled(*, address: str | None, email: str, now: datetime.datetime) -> bool:
    if address:
        recent = ClinicApplication.objects.filter(
            submitted_from=address, submitted_at__gte=now - datetime.timedelta(hours=1)
        ).count()
        if recent >= APPLICATIONS_PER_ADDRESS_PER_HOUR:
            return True
    recent = ClinicApplication.objects.filter(
        agreement_owner_email__iexact=email, submitted_at__gte=now - datetime.timedelta(days=1)
    ).count()
    return recent >= APPLICATIONS_PER_EMAIL_PER_DAY


@transaction.atomic
def application_submit(*, data: dict, address: str | None = None) -> ClinicApplication:
    """Ansök om anslutning: store the application, unconfirmed, and send the confirmation link to the
    avtalsansvarig. No account or clinic is made. Refused (code "throttled") when sent too often."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [_THROTTLE_LOCK])
    now = timezone.now()
    if _throttled(address=address, email=data["agreement_owner_email"], now=now):
        raise ValidationError(THROTTLE_MESSAGE, code="throttled")
    application = ClinicApplication(**data, submitted_at=now, submitted_from=address)
    application.full_clean()
    application.save()
    audit_record(
        actor=None,
        action=OnboardingAudit.APPLICATION_SUBMITTED,
        obj=application,
        after=snapshot(application, ["clinic_name", "organisation_number", "agreement_owner_email"]),
        region=application.region_id,
    )
    from .tasks import send_application_confirmation

    transaction.on_commit(lambda: send_application_confirmation.delay(application.pk))
    return application


def application_token(application: ClinicApplication) -> str:
    return signing.dumps({"application": application.pk}, salt=CONFIRM_SALT)


def application_from_token(token: str) -> ClinicApplication | None:
    """The application a confirmation link names, if the link is genuine and at most three days old."""
    try:
        data = signing.loads(token, salt=CONFIRM_SALT, max_age=settings.PASSWORD_RESET_TIMEOUT)
    except signing.BadSignature:
        return None
    return ClinicApplication.objects.select_related("region").filter(pk=data.get("application")).first()


def application_confirmation_send(*, application: ClinicApplication) -> None:
    link = settings.PORTAL_BASE_URL.rstrip("/") + reverse(
        "application_confirm", kwargs={"token": application_token(application)}
    )
    send_mail(
        subject=_("Bekräfta ansökan om anslutning till Tandportalen"),
        message=render_to_string("onboarding/email/confirm.txt", {"application": application, "link": link}),
        from_email=None,
        recipient_list=[application.agreement_owner_email],
    )


@transaction.atomic
def application_confirm(*, application: ClinicApplication) -> ClinicApplication:
    """The link in the e-mail was opened (and its button pressed): the region's administrators now see it.
    A second confirmation changes nothing."""
    application = ClinicApplication.objects.select_for_update().get(pk=application.pk)
    if application.state != ApplicationState.UNCONFIRMED:
        return application
    application.confirmed_at = timezone.now()
    APPLICATION_TRANSITIONS.move(application, ApplicationState.CONFIRMED, fields=["confirmed_at"])
    audit_record(
        actor=None,
        action=OnboardingAudit.APPLICATION_CONFIRMED,
        obj=application,
        before={"state": ApplicationState.UNCONFIRMED},
        after={"state": ApplicationState.CONFIRMED},
        region=application.region_id,
    )
    from .tasks import send_application_to_region

    transaction.on_commit(lambda: send_application_to_region.delay(application.pk))
    return application


def application_region_notice_send(*, application: ClinicApplication) -> int:
    """Tell the region's administrators that an application waits for them, each in their own language."""
    link = settings.PORTAL_BASE_URL.rstrip("/") + reverse(
        "region_application_detail",
        kwargs={"region_code": application.region.code, "application_pk": application.pk},
    )
    admins = User.objects.filter(
        region_memberships__region_id=application.region_id,
        region_memberships__role=RegionRole.REGION_ADMIN,
        region_memberships__is_active=True,
        is_active=True,
    ).distinct()
    messages = []
    for admin in admins:
        with override(admin.language):
            messages.append(
                (
                    _("Ny ansökan om anslutning: %(clinic)s") % {"clinic": application.clinic_name},
                    render_to_string("onboarding/email/region_notice.txt", {"application": application, "link": link}),
                    None,
                    [admin.email],
                )
            )
    return send_mass_mail(messages)


def clinic_number_next(region: Region) -> str:
    """The next free kliniknummer of the region: one above the highest in use."""
    highest = (
        Clinic.objects.of_region(region)
        .filter(number__regex=r"^[0-9]{1,10}$")
        .aggregate(highest=Max(Cast("number", BigIntegerField())))["highest"]
    )
    return str((highest or 0) + 1)


def _invite(*, actor: User, clinic: Clinic, name: str, email: str, role: str, who: str) -> None:
    try:
        membership_invite(actor=actor, clinic=clinic, name=name, email=email, role=role)
    except ValidationError as error:
        raise ValidationError([f"{who}: {message}" for message in error.messages], code="invite") from error


@transaction.atomic
def application_approve(*, actor: User, application: ClinicApplication, clinic_number: str = "") -> Clinic:
    """Godkänn: the clinic is made with the application's details (the next free kliniknummer, or the one given);
    the local administrator is invited as local administrator and the avtalsansvarig as avtalsansvarig, each with
    a set-password e-mail (or an invitation for an existing account). Exactly one clinic per application: the
    application's row is locked and the state table refuses a second approval."""
    # The region's row first: two approvals in the region take their kliniknummer one after the other.
    region = Region.objects.select_for_update().get(pk=application.region_id)
    application = ClinicApplication.objects.select_for_update().get(pk=application.pk)
    APPLICATION_TRANSITIONS.check(application.state, ApplicationState.APPROVED)
    number = clinic_number.strip() or clinic_number_next(region)
    if Clinic.objects.of_region(region).filter(number=number).exists():
        raise ValidationError(
            {"clinic_number": _("Kliniknummer %(number)s finns redan i regionen.") % {"number": number}},
            code="number_taken",
        )
    clinic = Clinic(
        region=region,
        number=number,
        name=application.clinic_name,
        organisation_number=application.organisation_number,
        gln=application.gln,
        hsa_id=application.hsa_id,
        street_address=application.street_address,
        postal_code=application.postal_code,
        city=application.city,
        payment_method=application.payment_method,
        account_number=application.account_number,
        payout_email=application.payout_email,
    )
    clinic.full_clean()
    clinic.save()
    audit_record(
        actor=actor,
        action=OnboardingAudit.APPLICATION_APPROVED,
        obj=application,
        before={"state": ApplicationState.CONFIRMED},
        after={"state": ApplicationState.APPROVED, "clinic": clinic.pk, "clinic_number": clinic.number},
        clinic=clinic,
        region=region,
    )
    _invite(
        actor=actor,
        clinic=clinic,
        name=application.local_admin_name,
        email=application.local_admin_email,
        role=ClinicRole.LOCAL_ADMIN,
        who=_("Lokal administratör"),
    )
    # One person may be both; a membership has one role, and the local administrator's is the wider one.
    if application.agreement_owner_email.lower() != application.local_admin_email.lower():
        _invite(
            actor=actor,
            clinic=clinic,
            name=application.agreement_owner_name,
            email=application.agreement_owner_email,
            role=ClinicRole.AGREEMENT_OWNER,
            who=_("Avtalsansvarig"),
        )
    application.clinic = clinic
    application.decided_by, application.decided_at = actor, timezone.now()
    APPLICATION_TRANSITIONS.move(application, ApplicationState.APPROVED, fields=["clinic", "decided_by", "decided_at"])
    return clinic


@transaction.atomic
def application_reject(*, actor: User, application: ClinicApplication, reason: str) -> ClinicApplication:
    """Avslå: the application ends with a reason, which the avtalsansvarig gets by e-mail. Nothing is made."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _("Skriv skälet till avslaget. Det skickas till den sökande.")})
    application = ClinicApplication.objects.select_for_update().get(pk=application.pk)
    APPLICATION_TRANSITIONS.check(application.state, ApplicationState.REJECTED)
    application.reason = reason
    application.decided_by, application.decided_at = actor, timezone.now()
    APPLICATION_TRANSITIONS.move(application, ApplicationState.REJECTED, fields=["reason", "decided_by", "decided_at"])
    audit_record(
        actor=actor,
        action=OnboardingAudit.APPLICATION_REJECTED,
        obj=application,
        before={"state": ApplicationState.CONFIRMED},
        after={"state": ApplicationState.REJECTED, "reason": reason},
        region=application.region_id,
    )
    from .tasks import send_application_rejection

    transaction.on_commit(lambda: send_application_rejection.delay(application.pk))
    return application


def application_rejection_send(*, application: ClinicApplication) -> None:
    send_mail(
        subject=_("Ansökan om anslutning till Tandportalen är avslagen"),
        message=render_to_string("onboarding/email/rejected.txt", {"application": application}),
        from_email=None,
        recipient_list=[application.agreement_owner_email],
    )
