"""Changes to clinics and their users. Each runs in one transaction and writes the audit log."""

from __future__ import annotations

import datetime
import hashlib
import hmac
import secrets
import uuid

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.core.mail import send_mail, send_mass_mail
from django.db import transaction
from django.db.models import F
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from portal import validators, webhooks
from portal.audit import audit_record, snapshot
from portal.db import PreparedQuery, model_columns, model_from_row
from portal.events import clinic_event_record
from portal.models import ClinicEventKind
from portal.tasks import webhook_resume

from .audit import ClinicsAudit
from .models import (
    ACCOUNT_CHANGE_TRANSITIONS,
    INVITATION_TRANSITIONS,
    ORGANISATION_ROLES,
    TERMINATION_TRANSITIONS,
    AccountChange,
    AccountChangeState,
    ApiKey,
    ApiKeyState,
    Clinic,
    ClinicInvitation,
    ClinicMembership,
    ClinicRole,
    InvitationState,
    Organisation,
    OrganisationMembership,
    PaymentMethod,
    Region,
    RegionMembership,
    RegionRole,
    Termination,
    TerminationState,
    User,
)

CLINIC_DETAIL_FIELDS = [
    "street_address",
    "postal_code",
    "city",
    "phone",
    "email",
    "payment_method",
    "account_number",
    "payout_email",
]
LAST_ADMIN_MESSAGE = gettext_lazy(
    "Kliniken måste ha minst en aktiv lokal administratör. Utse en ny innan du tar bort eller ändrar den sista."
)
LAST_ADMIN_LEAVE_MESSAGE = gettext_lazy(
    "Kliniken måste ha minst en aktiv lokal administratör, och du är den enda. Utse en efterträdare innan du "
    "lämnar kliniken."
)


@transaction.atomic
def clinic_update_details(*, actor: User, clinic: Clinic, **changes) -> Clinic:
    """Contact and bank details that the clinic keeps itself (Klinikadministration)."""
    unknown = set(changes) - set(CLINIC_DETAIL_FIELDS)
    if unknown:
        raise ValueError(f"not editable by the clinic: {sorted(unknown)}")
    clinic = Clinic.objects.select_for_update().get(pk=clinic.pk)
    # The account is never changed here: a new bankgiro or plusgiro waits for a second person.
    account = {name: changes.pop(name) for name in ACCOUNT_FIELDS if name in changes}
    if account and any(getattr(clinic, name) != value for name, value in account.items()):
        account_change_request(
            actor=actor,
            clinic=clinic,
            payment_method=account.get("payment_method", clinic.payment_method),
            account_number=account.get("account_number", clinic.account_number),
        )
    return clinic_details_apply(actor=actor, clinic=clinic, changes=changes)


def clinic_details_apply(*, actor: User, clinic: Clinic, changes: dict) -> Clinic:
    """Save the details that differ (the clinic row locked by the caller), checked by the model's validators, and
    audit them before → after: one place for the clinic's own edit and the region's."""
    changed = [name for name, value in changes.items() if getattr(clinic, name) != value]
    if not changed:
        return clinic
    before = snapshot(clinic, changed)
    for name in changed:
        setattr(clinic, name, changes[name])
    # A kliniknummer taken is said in words by the region's edit; the database's constraint still holds.
    clinic.full_clean(validate_unique=False, validate_constraints=False)
    clinic.save(update_fields=changed)
    audit_record(
        actor=actor,
        action=ClinicsAudit.CLINIC_UPDATED,
        obj=clinic,
        before=before,
        after=snapshot(clinic, changed),
        clinic=clinic,
        region=clinic.region_id,
    )
    return clinic


@transaction.atomic
def membership_invite(
    *, actor: User, clinic: Clinic, name: str, email: str, role: str
) -> ClinicMembership | ClinicInvitation:
    """Ny användare: give a person a role at the clinic; a new person gets a set-password e-mail.

    An existing account (one with a password) is not added but invited: it becomes the clinic's user only when the
    person accepts (`invitation_accept`). A person with a role in the clinic's region is refused (`duties_fault`)."""
    email = User.objects.normalize_email(email).lower()
    user = User.objects.filter(email__iexact=email).first()
    if user is not None:
        if fault := duties_fault(user, clinic=clinic):
            raise ValidationError({"email": fault}, code="duties")
        if user.has_usable_password():
            return _invitation_create(actor=actor, clinic=clinic, user=user, role=role)
    if user is None:
        user = User.objects.create_user(email=email, password=None, name=name.strip())
        audit_record(actor=actor, action=ClinicsAudit.USER_CREATED, obj=user, after={"email": email}, clinic=clinic)
    membership, created = ClinicMembership.objects.select_for_update().get_or_create(
        user=user, clinic=clinic, defaults={"role": role}
    )
    if not created:
        if membership.is_active:
            raise ValidationError({"email": _("Användaren har redan behörighet till kliniken.")})
        membership.is_active = True
        membership.role = role
        membership.save(update_fields=["is_active", "role"])
    audit_record(
        actor=actor,
        action=ClinicsAudit.MEMBERSHIP_ADDED,
        obj=membership,
        after=snapshot(membership, ["user", "role"]),
        clinic=clinic,
        region=clinic.region_id,
    )
    from .tasks import send_invitation

    transaction.on_commit(lambda: send_invitation.delay(membership.pk))
    return membership


def _lock_for_admin_change(membership: ClinicMembership) -> ClinicMembership:
    """Lock the clinic row first: every change to a clinic's admins queues behind it, so two admins
    demoting each other at the same moment are decided one after the other."""
    Clinic.objects.select_for_update().get(pk=membership.clinic_id)
    return ClinicMembership.objects.select_for_update().select_related("clinic", "user").get(pk=membership.pk)


def _ensure_another_admin(membership: ClinicMembership, message=LAST_ADMIN_MESSAGE) -> None:
    """A running clinic always keeps an active local administrator (a closed one has no users at all)."""
    if not membership.clinic.is_active:
        return
    others = ClinicMembership.objects.filter(
        clinic_id=membership.clinic_id, role=ClinicRole.LOCAL_ADMIN, is_active=True, user__is_active=True
    ).exclude(pk=membership.pk)
    if not others.exists():
        raise ValidationError(message, code="last_local_admin")


@transaction.atomic
def membership_change_role(*, actor: User, membership: ClinicMembership, role: str) -> ClinicMembership:
    if role not in ClinicRole.values:
        raise ValidationError(_("Okänd roll."))
    membership = _lock_for_admin_change(membership)
    if not membership.is_active:
        raise ValidationError(_("Användaren har inte längre behörighet till kliniken."))
    if membership.role == role:
        return membership
    if membership.role == ClinicRole.LOCAL_ADMIN:
        _ensure_another_admin(membership)
    before = snapshot(membership, ["role"])
    membership.role = role
    membership.save(update_fields=["role"])
    audit_record(
        actor=actor,
        action=ClinicsAudit.MEMBERSHIP_ROLE_CHANGED,
        obj=membership,
        before=before,
        after=snapshot(membership, ["role"]),
        clinic=membership.clinic,
        region=membership.clinic.region_id,
    )
    return membership


@transaction.atomic
def user_sessions_end(*, user: User) -> None:
    """End every session of the person at once: the next request of each is logged out."""
    User.objects.filter(pk=user.pk).update(session_generation=F("session_generation") + 1)


@transaction.atomic
def membership_remove(*, actor: User, membership: ClinicMembership) -> ClinicMembership:
    """Take away the user's access to the clinic. The membership is kept, inactive, for the record.

    A person left with no clinic and no region role is logged out everywhere at once. Removing oneself is leaving
    (membership_leave): the last local administrator of a running clinic cannot, without a successor."""
    return _membership_end(actor=actor, membership=membership)


@transaction.atomic
def membership_leave(*, actor: User, membership: ClinicMembership) -> ClinicMembership:
    """Lämna kliniken: the person gives up their own access. Not the last local administrator of a running
    clinic: they appoint a successor first."""
    if membership.user_id != actor.pk:
        raise ValidationError(_("Du kan bara lämna kliniken själv."), code="not_yours")
    if membership.pk is None:
        # Access through an umbrella organisation (portal.access): the region administrator removes it there.
        raise ValidationError(
            _("Din behörighet kommer från paraplyorganisationen. Be regionens administratör ta bort den."),
            code="organisation_access",
        )
    return _membership_end(actor=actor, membership=membership)


def _membership_end(*, actor: User, membership: ClinicMembership) -> ClinicMembership:
    membership = _lock_for_admin_change(membership)
    if not membership.is_active:
        return membership
    leaving = membership.user_id == actor.pk
    if membership.role == ClinicRole.LOCAL_ADMIN:
        _ensure_another_admin(membership, LAST_ADMIN_LEAVE_MESSAGE if leaving else LAST_ADMIN_MESSAGE)
    membership.is_active = False
    membership.save(update_fields=["is_active"])
    audit_record(
        actor=actor,
        action=ClinicsAudit.MEMBERSHIP_LEFT if leaving else ClinicsAudit.MEMBERSHIP_REMOVED,
        obj=membership,
        before={"is_active": True, "role": membership.role},
        after={"is_active": False},
        clinic=membership.clinic,
        region=membership.clinic.region_id,
    )
    _sessions_end_unless_access(membership.user)
    return membership


def _sessions_end_unless_access(user: User) -> None:
    """A person left with no clinic and no region role is logged out everywhere at once."""
    still_has_access = (
        user.is_system_admin
        or ClinicMembership.objects.filter(user=user, is_active=True, clinic__is_active=True).exists()
        or RegionMembership.objects.filter(user=user, is_active=True).exists()
        or OrganisationMembership.objects.filter(user=user, is_active=True).exists()
    )
    if not still_has_access:
        user_sessions_end(user=user)


def invitation_send(*, membership: ClinicMembership) -> None:
    """E-mail the person about their new role; with a set-password link if they have no password yet."""
    user = membership.user
    link = None
    if not user.has_usable_password():
        path = reverse(
            "password_set",
            kwargs={
                "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
                "token": default_token_generator.make_token(user),
            },
        )
        link = settings.PORTAL_BASE_URL.rstrip("/") + path
    context = {
        "membership": membership,
        "clinic": membership.clinic,
        "user": user,
        "link": link,
        "login_url": settings.PORTAL_BASE_URL.rstrip("/") + reverse("login"),
    }
    send_mail(
        subject=_("Du har fått behörighet till %(clinic)s i Tandportalen") % {"clinic": membership.clinic.name},
        message=render_to_string("clinics/email/invitation.txt", context),
        from_email=None,
        recipient_list=[user.email],
    )


# Separation of duties ------------------------------------------------------------------------------------------

DUTIES_REGION_ROLE_MESSAGE = gettext_lazy(
    "Personen har en roll i regionen och kan inte vara användare på en klinik i samma region."
)
DUTIES_CLINIC_USER_MESSAGE = gettext_lazy(
    "Personen är användare på en klinik i regionen och kan inte ha en roll i samma region."
)


def duties_fault(user: User, *, clinic: Clinic | None = None, region: Region | None = None) -> str | None:
    """Why `user` may not become a user of `clinic` or take a role in `region`, or None.

    Those who bill a region never review or pay its claims, and the other way round: a person with a role in a region
    (coordinator, region administrator) is no clinic's user in that region. The one rule, asked wherever a membership
    or role is given."""
    if (
        clinic is not None
        and RegionMembership.objects.filter(user=user, region_id=clinic.region_id, is_active=True).exists()
    ):
        return str(DUTIES_REGION_ROLE_MESSAGE)
    if region is not None and (
        ClinicMembership.objects.filter(user=user, clinic__region=region, is_active=True).exists()
        or OrganisationMembership.objects.filter(user=user, organisation__region=region, is_active=True).exists()
    ):
        return str(DUTIES_CLINIC_USER_MESSAGE)
    return None


def duties_conflicts() -> list[tuple[ClinicMembership, RegionMembership]]:
    """Every active clinic membership whose person also has an active role in the clinic's region."""
    region_roles = RegionMembership.objects.filter(is_active=True).select_related("user", "region")
    by_user_region: dict[tuple[int, int], list[RegionMembership]] = {}
    for role in region_roles:
        by_user_region.setdefault((role.user_id, role.region_id), []).append(role)
    conflicts = []
    memberships = (
        ClinicMembership.objects.filter(is_active=True, user_id__in={key[0] for key in by_user_region})
        .select_related("user", "clinic__region")
        .order_by("user__email", "clinic__number")
    )
    for membership in memberships:
        for role in by_user_region.get((membership.user_id, membership.clinic.region_id), []):
            conflicts.append((membership, role))
    return conflicts


@transaction.atomic
def region_role_grant(*, actor: User, user: User, region: Region, role: str) -> RegionMembership:
    """Give a person a role in the region, unless they are a user of one of its clinics."""
    if role not in RegionRole.values:
        raise ValidationError(_("Okänd roll."))
    if fault := duties_fault(user, region=region):
        raise ValidationError(fault, code="duties")
    membership, created = RegionMembership.objects.select_for_update().get_or_create(
        user=user, region=region, role=role
    )
    if not created:
        if membership.is_active:
            return membership
        membership.is_active = True
        membership.save(update_fields=["is_active"])
    audit_record(
        actor=actor,
        action=ClinicsAudit.REGION_ROLE_GRANTED,
        obj=membership,
        after=snapshot(membership, ["user", "role"]),
        region=region,
    )
    return membership


# Invitations of existing accounts --------------------------------------------------------------------------------


def _invitation_create(*, actor: User, clinic: Clinic, user: User, role: str) -> ClinicInvitation:
    if ClinicMembership.objects.filter(user=user, clinic=clinic, is_active=True).exists():
        raise ValidationError({"email": _("Användaren har redan behörighet till kliniken.")})
    if ClinicInvitation.objects.filter(user=user, clinic=clinic, state=InvitationState.PENDING).exists():
        raise ValidationError({"email": _("Personen har redan en inbjudan till kliniken som väntar på svar.")})
    invitation = ClinicInvitation.objects.create(clinic=clinic, user=user, role=role, invited_by=actor)
    audit_record(
        actor=actor,
        action=ClinicsAudit.INVITATION_SENT,
        obj=invitation,
        after=snapshot(invitation, ["user", "role"]),
        clinic=clinic,
        region=clinic.region_id,
    )
    from .tasks import send_clinic_invitation

    transaction.on_commit(lambda: send_clinic_invitation.delay(invitation.pk))
    return invitation


def _invitation_lock(actor: User, invitation: ClinicInvitation, target: str) -> ClinicInvitation:
    invitation = ClinicInvitation.objects.select_for_update().select_related("clinic", "user").get(pk=invitation.pk)
    if invitation.user_id != actor.pk:
        raise ValidationError(_("Inbjudan gäller någon annan."), code="not_yours")
    INVITATION_TRANSITIONS.check(invitation.state, target)
    return invitation


@transaction.atomic
def invitation_accept(*, actor: User, invitation: ClinicInvitation) -> ClinicMembership:
    """The invited person says yes: only now do they become the clinic's user."""
    invitation = _invitation_lock(actor, invitation, InvitationState.ACCEPTED)
    clinic = invitation.clinic
    if fault := duties_fault(actor, clinic=clinic):
        raise ValidationError(fault, code="duties")
    membership, created = ClinicMembership.objects.select_for_update().get_or_create(
        user=actor, clinic=clinic, defaults={"role": invitation.role}
    )
    if not created and not membership.is_active:
        membership.is_active = True
        membership.role = invitation.role
        membership.save(update_fields=["is_active", "role"])
    invitation.decided_at = timezone.now()
    INVITATION_TRANSITIONS.move(invitation, InvitationState.ACCEPTED, fields=["decided_at"])
    audit_record(
        actor=actor,
        action=ClinicsAudit.INVITATION_ACCEPTED,
        obj=invitation,
        before={"state": InvitationState.PENDING},
        after={"state": InvitationState.ACCEPTED, "membership": membership.pk, "role": membership.role},
        clinic=clinic,
        region=clinic.region_id,
    )
    return membership


@transaction.atomic
def invitation_decline(*, actor: User, invitation: ClinicInvitation) -> ClinicInvitation:
    invitation = _invitation_lock(actor, invitation, InvitationState.DECLINED)
    invitation.decided_at = timezone.now()
    INVITATION_TRANSITIONS.move(invitation, InvitationState.DECLINED, fields=["decided_at"])
    audit_record(
        actor=actor,
        action=ClinicsAudit.INVITATION_DECLINED,
        obj=invitation,
        before={"state": InvitationState.PENDING},
        after={"state": InvitationState.DECLINED},
        clinic=invitation.clinic,
        region=invitation.clinic.region_id,
    )
    return invitation


def clinic_invitation_send(*, invitation: ClinicInvitation) -> None:
    """E-mail the invited person a link to *Inbjudningar*, where they accept or decline."""
    base = settings.PORTAL_BASE_URL.rstrip("/")
    context = {"invitation": invitation, "clinic": invitation.clinic, "user": invitation.user}
    context["link"] = base + reverse("invitations")
    send_mail(
        subject=_("Inbjudan till %(clinic)s i Tandportalen") % {"clinic": invitation.clinic.name},
        message=render_to_string("clinics/email/clinic_invitation.txt", context),
        from_email=None,
        recipient_list=[invitation.user.email],
    )


# Changes of the clinic's bankgiro or plusgiro: four eyes ---------------------------------------------------------

ACCOUNT_FIELDS = ("payment_method", "account_number")
ACCOUNT_CHANGE_PENDING_MESSAGE = gettext_lazy(
    "En ändring av kontot väntar redan på bekräftelse. Den måste bekräftas, avvisas eller dras tillbaka först."
)
ACCOUNT_CHANGE_SAME_PERSON_MESSAGE = gettext_lazy(
    "Du kan inte bekräfta en ändring du själv har gjort. "
    "En annan lokal administratör på kliniken eller regionens samordnare bekräftar den."
)
ACCOUNT_CHANGE_NOT_ALLOWED_MESSAGE = gettext_lazy(
    "Bara klinikens lokala administratörer och regionens samordnare kan bekräfta eller avvisa ändringen."
)
ACCOUNT_CHANGE_WITHDRAW_MESSAGE = gettext_lazy("Bara klinikens lokala administratörer kan dra tillbaka ändringen.")


def _account_number_normalized(payment_method: str, account_number: str) -> str:
    if payment_method == PaymentMethod.BANKGIRO:
        return validators.normalize_bankgiro(account_number)
    if payment_method == PaymentMethod.PLUSGIRO:
        return validators.normalize_plusgiro(account_number)
    raise ValidationError({"payment_method": _("Okänt betalningssätt.")})


@transaction.atomic
def account_change_request(
    *, actor: User, clinic: Clinic, payment_method: str, account_number: str, reason: str = ""
) -> AccountChange:
    """A local administrator asks for a new bankgiro or plusgiro. Nothing changes until a second person confirms:
    payouts go to the old account meanwhile. The other local administrators, the payout address and the region's
    coordinators are told by e-mail at once."""
    clinic = Clinic.objects.select_for_update().select_related("region").get(pk=clinic.pk)
    try:
        account_number = _account_number_normalized(payment_method, account_number)
    except ValidationError as error:
        raise ValidationError({"account_number": error.messages}) from error
    if (payment_method, account_number) == (clinic.payment_method, clinic.account_number):
        raise ValidationError({"account_number": _("Kliniken har redan det kontot.")})
    if AccountChange.objects.filter(clinic=clinic, state=AccountChangeState.PENDING).exists():
        raise ValidationError({"account_number": ACCOUNT_CHANGE_PENDING_MESSAGE}, code="pending")
    change = AccountChange.objects.create(
        clinic=clinic,
        old_payment_method=clinic.payment_method,
        old_account_number=clinic.account_number,
        new_payment_method=payment_method,
        new_account_number=account_number,
        requested_by=actor,
        reason=reason,
    )
    audit_record(
        actor=actor,
        action=ClinicsAudit.ACCOUNT_CHANGE_REQUESTED,
        obj=change,
        before={"payment_method": change.old_payment_method, "account_number": change.old_account_number},
        after={"payment_method": change.new_payment_method, "account_number": change.new_account_number},
        clinic=clinic,
        region=clinic.region_id,
    )
    # The region's coordinators and the clinic's other local administrators are told in the portal as well.
    clinic_event_record(
        clinic=clinic,
        kind=ClinicEventKind.ACCOUNT_CHANGE_REQUESTED,
        obj=("account_change", change.pk),
        data={"state": change.state, "payment_method": change.new_payment_method},
        actor=actor,
    )
    _account_change_notify(change, "requested")
    return change


def _may_decide(actor: User, clinic: Clinic) -> bool:
    """Another local administrator of the clinic, or a coordinator of its region."""
    return (
        ClinicMembership.objects.filter(
            user=actor, clinic=clinic, role=ClinicRole.LOCAL_ADMIN, is_active=True, user__is_active=True
        ).exists()
        or RegionMembership.objects.filter(
            user=actor, region_id=clinic.region_id, role=RegionRole.COORDINATOR, is_active=True, user__is_active=True
        ).exists()
    )


def _account_change_lock(change: AccountChange, target: str) -> tuple[Clinic, AccountChange]:
    """The clinic's row first (as every change of its details), then the change: two decisions at once queue."""
    clinic = Clinic.objects.select_for_update().select_related("region").get(pk=change.clinic_id)
    change = AccountChange.objects.select_for_update().get(pk=change.pk)
    change.clinic = clinic
    ACCOUNT_CHANGE_TRANSITIONS.check(change.state, target)
    return clinic, change


@transaction.atomic
def account_change_confirm(*, actor: User, change: AccountChange) -> AccountChange:
    """A second person confirms: the clinic's account becomes the new one, from the next payout run."""
    clinic, change = _account_change_lock(change, AccountChangeState.CONFIRMED)
    if actor.pk == change.requested_by_id:
        raise ValidationError(ACCOUNT_CHANGE_SAME_PERSON_MESSAGE, code="same_person")
    if not _may_decide(actor, clinic):
        raise ValidationError(ACCOUNT_CHANGE_NOT_ALLOWED_MESSAGE, code="not_allowed")
    before = snapshot(clinic, list(ACCOUNT_FIELDS))
    clinic.payment_method = change.new_payment_method
    clinic.account_number = change.new_account_number
    clinic.full_clean()
    clinic.save(update_fields=list(ACCOUNT_FIELDS))
    change.decided_by, change.decided_at = actor, timezone.now()
    ACCOUNT_CHANGE_TRANSITIONS.move(change, AccountChangeState.CONFIRMED, fields=["decided_by", "decided_at"])
    audit_record(
        actor=actor,
        action=ClinicsAudit.ACCOUNT_CHANGE_CONFIRMED,
        obj=change,
        before=before,
        after=snapshot(clinic, list(ACCOUNT_FIELDS)),
        clinic=clinic,
        region=clinic.region_id,
    )
    _account_change_notify(change, "confirmed")
    return change


@transaction.atomic
def account_change_reject(*, actor: User, change: AccountChange, reason: str = "") -> AccountChange:
    """Another local administrator or a coordinator says no: the clinic keeps its account."""
    clinic, change = _account_change_lock(change, AccountChangeState.REJECTED)
    if not _may_decide(actor, clinic):
        raise ValidationError(ACCOUNT_CHANGE_NOT_ALLOWED_MESSAGE, code="not_allowed")
    change.decided_by, change.decided_at = actor, timezone.now()
    if reason:
        change.reason = reason.strip()
    ACCOUNT_CHANGE_TRANSITIONS.move(change, AccountChangeState.REJECTED, fields=["decided_by", "decided_at", "reason"])
    audit_record(
        actor=actor,
        action=ClinicsAudit.ACCOUNT_CHANGE_REJECTED,
        obj=change,
        before={"state": AccountChangeState.PENDING},
        after={"state": AccountChangeState.REJECTED, "reason": change.reason},
        clinic=clinic,
        region=clinic.region_id,
    )
    _account_change_notify(change, "rejected")
    return change


@transaction.atomic
def account_change_withdraw(*, actor: User, change: AccountChange) -> AccountChange:
    """A local administrator of the clinic takes the request back (typed wrong, say)."""
    clinic, change = _account_change_lock(change, AccountChangeState.WITHDRAWN)
    if not ClinicMembership.objects.filter(
        user=actor, clinic=clinic, role=ClinicRole.LOCAL_ADMIN, is_active=True
    ).exists():
        raise ValidationError(ACCOUNT_CHANGE_WITHDRAW_MESSAGE, code="not_allowed")
    change.decided_by, change.decided_at = actor, timezone.now()
    ACCOUNT_CHANGE_TRANSITIONS.move(change, AccountChangeState.WITHDRAWN, fields=["decided_by", "decided_at"])
    audit_record(
        actor=actor,
        action=ClinicsAudit.ACCOUNT_CHANGE_WITHDRAWN,
        obj=change,
        before={"state": AccountChangeState.PENDING},
        after={"state": AccountChangeState.WITHDRAWN},
        clinic=clinic,
        region=clinic.region_id,
    )
    return change


def _account_change_notify(change: AccountChange, event: str) -> None:
    from .tasks import send_account_change_notice

    transaction.on_commit(lambda: send_account_change_notice.delay(change.pk, event))


def account_change_recipients(change: AccountChange) -> list[tuple[str, str]]:
    """(e-mail, kind) of everyone told about the change: the clinic's other local administrators ("clinic"), its
    payout address ("payout") and the region's coordinators ("region"); never the person who acted."""
    clinic = change.clinic
    acting = change.decided_by_id or change.requested_by_id
    recipients: dict[str, str] = {}
    for email in (
        ClinicMembership.objects.filter(
            clinic=clinic, role=ClinicRole.LOCAL_ADMIN, is_active=True, user__is_active=True
        )
        .exclude(user_id=acting)
        .values_list("user__email", flat=True)
    ):
        recipients.setdefault(email.lower(), "clinic")
    recipients.setdefault(clinic.payout_email.lower(), "payout")
    for email in (
        RegionMembership.objects.filter(
            region_id=clinic.region_id, role=RegionRole.COORDINATOR, is_active=True, user__is_active=True
        )
        .exclude(user_id=acting)
        .values_list("user__email", flat=True)
    ):
        recipients.setdefault(email.lower(), "region")
    return sorted(recipients.items())


ACCOUNT_CHANGE_SUBJECTS = {
    "requested": gettext_lazy("Nytt konto för utbetalningar till %(clinic)s väntar på bekräftelse"),
    "confirmed": gettext_lazy("Nytt konto för utbetalningar till %(clinic)s är bekräftat"),
    "rejected": gettext_lazy("Ändringen av kontot för utbetalningar till %(clinic)s är avvisad"),
}


def account_change_notice_send(*, change: AccountChange, event: str) -> int:
    """One e-mail to each recipient, with the link to the page where they see (and may decide on) the change."""
    clinic = change.clinic
    base = settings.PORTAL_BASE_URL.rstrip("/")
    links = {
        "clinic": base + reverse("clinic_administration", kwargs={"clinic_pk": clinic.pk}),
        "region": base
        + reverse("region_clinic_detail", kwargs={"region_code": clinic.region.code, "clinic_number": clinic.number}),
        "payout": "",
    }
    messages = []
    for email, kind in account_change_recipients(change):
        context = {"change": change, "clinic": clinic, "event": event, "link": links[kind], "kind": kind}
        messages.append(
            (
                str(ACCOUNT_CHANGE_SUBJECTS[event] % {"clinic": f"{clinic.number} {clinic.name}"}),
                render_to_string("clinics/email/account_change.txt", context),
                None,
                [email],
            )
        )
    return send_mass_mail(messages)


# Two-factor authentication of the clinics' users ---------------------------------------------------------------


@transaction.atomic
def region_clinic_two_factor_set(*, actor: User, region: Region, required: bool) -> Region:
    """Require two-factor authentication of the region's clinic users (their next page asks for it), or not."""
    region = Region.objects.select_for_update().get(pk=region.pk)
    if region.clinic_two_factor_required == required:
        return region
    region.clinic_two_factor_required = required
    region.save(update_fields=["clinic_two_factor_required"])
    audit_record(
        actor=actor,
        action=ClinicsAudit.REGION_TWO_FACTOR_CHANGED,
        obj=region,
        before={"clinic_two_factor_required": not required},
        after={"clinic_two_factor_required": required},
        region=region,
    )
    return region


# API keys (issue 13) ----------------------------------------------------------------------------------------

API_KEY_PREFIX_LENGTH = 12
# last_used_at is written at most this often per key, so a busy journal system does not write on every call.
API_KEY_TOUCH_INTERVAL = datetime.timedelta(minutes=1)


def api_key_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@transaction.atomic
def api_key_create(
    *, actor: User | None, clinic: Clinic, name: str, expires_at: datetime.datetime | None = None, secret: str = ""
) -> tuple[ApiKey, str]:
    """A new key for `clinic`; returns it with its secret, which is stored only as a hash and never shown again.

    `secret` is given only by the demo (its keys are known words); otherwise 32 random bytes.
    """
    name = name.strip()
    if not name:
        raise ValidationError({"name": _("Ge nyckeln ett namn.")})
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError({"expires_at": _("Slutdatumet måste ligga i framtiden.")})
    secret = secret or f"tp_{secrets.token_urlsafe(32)}"
    user = User.objects.create_user(
        f"api-{uuid.uuid4().hex}@api-nyckel.invalid", None, name=_("API-nyckel: %(name)s") % {"name": name}
    )
    user.is_active = False
    user.save(update_fields=["is_active"])
    key = ApiKey.objects.create(
        clinic=clinic,
        user=user,
        name=name,
        prefix=secret[:API_KEY_PREFIX_LENGTH],
        hash=api_key_hash(secret),
        created_by=actor,
        expires_at=expires_at,
    )
    audit_record(
        actor=actor,
        action=ClinicsAudit.API_KEY_CREATED,
        obj=key,
        after=snapshot(key, ["name", "prefix", "expires_at"]),
        clinic=clinic,
        region=clinic.region_id,
    )
    return key, secret


@transaction.atomic
def api_key_revoke(*, actor: User, key: ApiKey) -> ApiKey:
    key = ApiKey.objects.select_for_update().get(pk=key.pk)
    if key.revoked_at is not None:
        raise ValidationError(_("Nyckeln är redan återkallad."))
    key.revoked_at = timezone.now()
    key.revoked_by = actor
    key.save(update_fields=["revoked_at", "revoked_by"])
    audit_record(
        actor=actor,
        action=ClinicsAudit.API_KEY_REVOKED,
        obj=key,
        after=snapshot(key, ["revoked_at"]),
        clinic=key.clinic_id,
        region=key.clinic.region_id,
    )
    return key


# The key with its clinic, the clinic's region and the key's user, in one row, read on every API call: compiling that
# 70-column join cost the ORM about 1 ms of CPU a call, four times what reading it costs, so it is compiled once.
_KEY_MODELS = (("", ApiKey), ("clinic__", Clinic), ("clinic__region__", Region), ("user__", User))
_KEY_BY_HASH = PreparedQuery(
    lambda digest: ApiKey.objects.filter(hash=digest).values_list(
        *(column for path, model in _KEY_MODELS for column in model_columns(model, path))
    ),
    digest=str,
)


def _api_key_by_hash(digest: str) -> ApiKey | None:
    """As ApiKey.objects.select_related("clinic__region", "user").filter(hash=digest).first()."""
    rows = _KEY_BY_HASH.rows(digest=digest)
    if not rows:
        return None
    values = iter(rows[0])
    key, clinic, region, user = (model_from_row(model, values) for _path, model in _KEY_MODELS)
    clinic.region = region
    key.clinic = clinic
    key.user = user
    return key


def api_key_authenticate(secret: str) -> ApiKey | None:
    """The active key whose secret this is, or None (unknown, revoked or expired).

    The row is found by its hash; the hashes are then compared in constant time once more, so that no answer
    depends on how much of a guessed hash matched.
    """
    if not secret or len(secret) > 200:
        return None
    digest = api_key_hash(secret)
    key = _api_key_by_hash(digest)
    if key is None or not hmac.compare_digest(key.hash, digest):
        return None
    if key.state() != ApiKeyState.ACTIVE:
        return None
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at >= API_KEY_TOUCH_INTERVAL:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key


# Webhooks of API keys (issue 13) ---------------------------------------------------------------------------


def _webhook_snapshot(key: ApiKey) -> dict:
    return {"webhook_url": key.webhook_url, "webhook_kinds": list(key.webhook_kinds)}


def _refuse_unless_key_active(key: ApiKey) -> None:
    if key.state() != ApiKeyState.ACTIVE:
        raise ValidationError(_("Nyckeln är återkallad eller har gått ut och kan inte ha någon webhook."))


@transaction.atomic
def api_key_webhook_set(*, actor: User, key: ApiKey, url: str, kinds: list[str]) -> tuple[ApiKey, str]:
    """Set (or change) the key's webhook: the address and the kinds of event (none: every kind).

    A new webhook gets a secret, returned here and shown once ("" when the webhook had one), and starts after the
    clinic's last event so far. Saving a failing webhook sets it going again, from where it stopped.
    """
    # Asked before the key is locked: the address's name is looked up, which may take a moment.
    url = webhooks.webhook_url_clean(url)
    key = ApiKey.objects.select_for_update().get(pk=key.pk)
    _refuse_unless_key_active(key)
    unknown = sorted(set(kinds) - set(ClinicEventKind.values))
    if unknown:
        raise ValidationError({"kinds": _("Okänd händelse: %(kinds)s.") % {"kinds": ", ".join(unknown)}})
    before = _webhook_snapshot(key)
    secret = ""
    if not key.webhook_url:
        secret = webhooks.webhook_secret_new()
        key.webhook_secret = secret
        webhooks.webhook_cursor_start(key=key)
    was_failing = key.webhook_failing_since is not None
    key.webhook_url = url
    key.webhook_kinds = sorted(set(kinds))
    key.webhook_failing_since = None
    key.save(
        update_fields=[
            "webhook_url",
            "webhook_kinds",
            "webhook_secret",
            "webhook_failing_since",
            "webhook_cursor_xid",
            "webhook_cursor_id",
        ]
    )
    audit_record(
        actor=actor,
        action=ClinicsAudit.API_KEY_WEBHOOK_SET,
        obj=key,
        before=before,
        after={**_webhook_snapshot(key), "was_failing": was_failing, "new_secret": bool(secret)},
        clinic=key.clinic_id,
        region=key.clinic.region_id,
    )
    transaction.on_commit(lambda: webhook_resume.delay(key.pk))
    return key, secret


@transaction.atomic
def api_key_webhook_secret_rotate(*, actor: User, key: ApiKey) -> tuple[ApiKey, str]:
    """A new secret for the key's webhook, returned here and shown once; the old one signs nothing more."""
    key = ApiKey.objects.select_for_update().get(pk=key.pk)
    _refuse_unless_key_active(key)
    if not key.webhook_url:
        raise ValidationError(_("Nyckeln har ingen webhook."))
    secret = webhooks.webhook_secret_new()
    key.webhook_secret = secret
    key.save(update_fields=["webhook_secret"])
    audit_record(
        actor=actor,
        action=ClinicsAudit.API_KEY_WEBHOOK_SECRET_ROTATED,
        obj=key,
        after={"webhook_url": key.webhook_url},
        clinic=key.clinic_id,
        region=key.clinic.region_id,
    )
    return key, secret


@transaction.atomic
def api_key_webhook_remove(*, actor: User, key: ApiKey) -> ApiKey:
    """Stop the key's webhook; deliveries still waiting are not sent. Removing it twice changes nothing."""
    key = ApiKey.objects.select_for_update().get(pk=key.pk)
    if not key.webhook_url:
        return key
    before = _webhook_snapshot(key)
    key.webhook_url, key.webhook_kinds, key.webhook_secret, key.webhook_failing_since = "", [], "", None
    key.save(update_fields=["webhook_url", "webhook_kinds", "webhook_secret", "webhook_failing_since"])
    audit_record(
        actor=actor,
        action=ClinicsAudit.API_KEY_WEBHOOK_REMOVED,
        obj=key,
        before=before,
        after=_webhook_snapshot(key),
        clinic=key.clinic_id,
        region=key.clinic.region_id,
    )
    return key


# Leaving (uppsägning, issue 15) ---------------------------------------------------------------------------------

TERMINATION_NOT_ALLOWED_MESSAGE = gettext_lazy(
    "Bara klinikens avtalsansvarige eller lokala administratör, eller regionens samordnare och administratörer, "
    "kan säga upp kliniken."
)
# The clinic's roles that may give and withdraw its notice.
TERMINATION_CLINIC_ROLES = (ClinicRole.AGREEMENT_OWNER, ClinicRole.LOCAL_ADMIN)


def termination_may_act(actor: User, clinic: Clinic) -> bool:
    """Whether `actor` may give or withdraw the clinic's notice: its avtalsansvarig or local administrator, or a
    coordinator or administrator of its region."""
    return (
        ClinicMembership.objects.filter(
            user=actor, clinic=clinic, role__in=TERMINATION_CLINIC_ROLES, is_active=True, user__is_active=True
        ).exists()
        or RegionMembership.objects.filter(
            user=actor, region_id=clinic.region_id, is_active=True, user__is_active=True
        ).exists()
    )


def termination_active(clinic: Clinic) -> Termination | None:
    """The clinic's notice that is running (given, neither withdrawn nor closed), or None."""
    return Termination.objects.of_clinic(clinic).filter(state=TerminationState.GIVEN).first()


@transaction.atomic
def termination_give(
    *, actor: User, clinic: Clinic, ends_on: datetime.date, reason: str = "", today: datetime.date | None = None
) -> Termination:
    """Säg upp kliniken: it leaves the portal after `ends_on` (its last day of care that is paid).

    Care up to that day may be billed for the region's slutfakturering after it (Region.final_billing_days, fixed
    now on the notice); then the clinic is closed by the daily job (termination_close)."""
    today = today or timezone.localdate()
    clinic = Clinic.objects.select_for_update().select_related("region").get(pk=clinic.pk)
    if not termination_may_act(actor, clinic):
        raise ValidationError(TERMINATION_NOT_ALLOWED_MESSAGE, code="not_allowed")
    if not clinic.is_active:
        raise ValidationError(_("Kliniken är redan stängd."), code="closed")
    if Termination.objects.filter(clinic=clinic, state=TerminationState.GIVEN).exists():
        raise ValidationError(
            _("Kliniken är redan uppsagd. Återkalla uppsägningen först för att ge ett nytt slutdatum."),
            code="already_given",
        )
    if ends_on < today:
        raise ValidationError({"ends_on": _("Slutdatumet kan inte ligga före i dag.")}, code="past")
    termination = Termination.objects.create(
        clinic=clinic,
        ends_on=ends_on,
        last_billing_on=ends_on + datetime.timedelta(days=clinic.region.final_billing_days),
        reason=reason.strip(),
        given_by=actor,
        by_region=RegionMembership.objects.filter(user=actor, region_id=clinic.region_id, is_active=True).exists(),
    )
    clinic.ends_on = ends_on
    clinic.save(update_fields=["ends_on"])
    audit_record(
        actor=actor,
        action=ClinicsAudit.TERMINATION_GIVEN,
        obj=termination,
        after=snapshot(termination, ["ends_on", "last_billing_on", "reason", "by_region"]),
        clinic=clinic,
        region=clinic.region_id,
    )
    return termination


def _termination_lock(termination: Termination, target: str) -> tuple[Clinic, Termination]:
    """The clinic's row first (as every change of its details), then the notice."""
    clinic = Clinic.objects.select_for_update().select_related("region").get(pk=termination.clinic_id)
    termination = Termination.objects.select_for_update().get(pk=termination.pk)
    termination.clinic = clinic
    TERMINATION_TRANSITIONS.check(termination.state, target)
    return clinic, termination


@transaction.atomic
def termination_withdraw(*, actor: User, termination: Termination, today: datetime.date | None = None) -> Termination:
    """Återkalla uppsägningen, until the end date: the clinic goes on as if it was never given."""
    today = today or timezone.localdate()
    clinic, termination = _termination_lock(termination, TerminationState.WITHDRAWN)
    if not termination_may_act(actor, clinic):
        raise ValidationError(TERMINATION_NOT_ALLOWED_MESSAGE, code="not_allowed")
    if today > termination.ends_on:
        raise ValidationError(
            _("Slutdatumet %(date)s har passerat; uppsägningen kan inte längre återkallas.")
            % {"date": termination.ends_on.isoformat()},
            code="after_end",
        )
    termination.withdrawn_by, termination.withdrawn_at = actor, timezone.now()
    TERMINATION_TRANSITIONS.move(termination, TerminationState.WITHDRAWN, fields=["withdrawn_by", "withdrawn_at"])
    clinic.ends_on = None
    clinic.save(update_fields=["ends_on"])
    audit_record(
        actor=actor,
        action=ClinicsAudit.TERMINATION_WITHDRAWN,
        obj=termination,
        before={"state": TerminationState.GIVEN, "ends_on": termination.ends_on.isoformat()},
        after={"state": TerminationState.WITHDRAWN},
        clinic=clinic,
        region=clinic.region_id,
    )
    return termination


@transaction.atomic
def termination_close(*, termination: Termination, today: datetime.date | None = None) -> bool:
    """Close the clinic of a notice whose slutfakturering has ended: its users and API keys lose access, nothing
    of its data is removed (the region still sees it, and a payout run still pays its approved claims).

    Idempotent: a notice already closed, or not yet due, is left as it is (False)."""
    today = today or timezone.localdate()
    clinic = Clinic.objects.select_for_update().select_related("region").get(pk=termination.clinic_id)
    termination = Termination.objects.select_for_update().get(pk=termination.pk)
    termination.clinic = clinic
    if termination.state != TerminationState.GIVEN or today < termination.closes_on:
        return False
    now = timezone.now()
    clinic.is_active = False
    clinic.save(update_fields=["is_active"])
    memberships = list(ClinicMembership.objects.select_for_update().filter(clinic=clinic, is_active=True))
    ClinicMembership.objects.filter(pk__in=[m.pk for m in memberships]).update(is_active=False)
    keys = list(
        ApiKey.objects.select_for_update().filter(clinic=clinic, revoked_at__isnull=True).values_list("pk", flat=True)
    )
    ApiKey.objects.filter(pk__in=keys).update(revoked_at=now)
    ClinicInvitation.objects.filter(clinic=clinic, state=InvitationState.PENDING).update(
        state=InvitationState.DECLINED, decided_at=now
    )
    termination.closed_at = now
    TERMINATION_TRANSITIONS.move(termination, TerminationState.CLOSED, fields=["closed_at"])
    audit_record(
        actor=None,
        action=ClinicsAudit.CLINIC_CLOSED,
        obj=termination,
        before={"is_active": True},
        after={
            "is_active": False,
            "ends_on": termination.ends_on.isoformat(),
            "memberships_ended": sorted(m.pk for m in memberships),
            "api_keys_revoked": sorted(keys),
        },
        clinic=clinic,
        region=clinic.region_id,
    )
    for user in User.objects.filter(pk__in={m.user_id for m in memberships}):
        _sessions_end_unless_access(user)
    return True


def terminations_close_due(*, today: datetime.date | None = None) -> list[int]:
    """Every notice whose slutfakturering ended before `today` is closed, each in its own transaction: also those
    a missed day left behind. The ids of the clinics closed now."""
    today = today or timezone.localdate()
    due = Termination.objects.filter(state=TerminationState.GIVEN, last_billing_on__lt=today).order_by(
        "last_billing_on", "pk"
    )
    return [termination.clinic_id for termination in due if termination_close(termination=termination, today=today)]


# Umbrella organisations (paraplyorganisationer): made and filled by the region's administrators -------------------


def organisation_create(*, actor: User, region: Region, name: str, organisation_number: str) -> Organisation:
    """A new umbrella organisation of the region; its organisation number is one in the region."""
    number = validators.normalize_organisation_number(organisation_number)
    with transaction.atomic():
        if Organisation.objects.of_region(region).filter(organisation_number=number).exists():
            raise ValidationError(
                {"organisation_number": _("Regionen har redan en paraplyorganisation med det organisationsnumret.")}
            )
        organisation = Organisation.objects.create(region=region, name=name.strip(), organisation_number=number)
        audit_record(
            actor=actor,
            action=ClinicsAudit.ORGANISATION_CREATED,
            obj=organisation,
            after={"name": organisation.name, "organisation_number": number},
            region=region,
        )
    return organisation


def organisation_clinics_set(*, actor: User, organisation: Organisation, clinics) -> Organisation:
    """The organisation's clinics become exactly `clinics` (of its region; a clinic of another organisation moves
    here). Its users then work for these clinics and no others."""
    clinic_ids = {clinic.pk for clinic in clinics}
    with transaction.atomic():
        organisation = Organisation.objects.select_for_update().get(pk=organisation.pk)
        if Clinic.objects.filter(pk__in=clinic_ids).exclude(region_id=organisation.region_id).exists():
            raise ValidationError(_("En paraplyorganisation kan bara ha kliniker i sin egen region."))
        before = sorted(
            Clinic.objects.of_region(organisation.region_id)
            .filter(organisation=organisation)
            .values_list("number", flat=True)
        )
        Clinic.objects.of_region(organisation.region_id).filter(organisation=organisation).exclude(
            pk__in=clinic_ids
        ).update(organisation=None)
        Clinic.objects.of_region(organisation.region_id).filter(pk__in=clinic_ids).update(organisation=organisation)
        after = sorted(
            Clinic.objects.of_region(organisation.region_id)
            .filter(organisation=organisation)
            .values_list("number", flat=True)
        )
        if before != after:
            audit_record(
                actor=actor,
                action=ClinicsAudit.ORGANISATION_CLINICS_CHANGED,
                obj=organisation,
                before={"clinics": before},
                after={"clinics": after},
                region=organisation.region_id,
            )
    return organisation


def organisation_member_add(
    *, actor: User, organisation: Organisation, email: str, role: str
) -> OrganisationMembership:
    """Give an existing account a role at all the organisation's clinics (a new role replaces the old one).

    The separation of duties holds as for a clinic: a coordinator or region administrator of the region cannot be
    one of its clinics' users."""
    if role not in ORGANISATION_ROLES:
        raise ValidationError({"role": _("Välj en giltig roll.")})
    user = User.objects.filter(email__iexact=email.strip(), is_active=True, api_key__isnull=True).first()
    if user is None:
        raise ValidationError(
            {
                "email": _(
                    "Det finns ingen aktiv användare med den e-postadressen. Be kliniken lägga till personen först."
                )
            }
        )
    if RegionMembership.objects.filter(user=user, region_id=organisation.region_id, is_active=True).exists():
        raise ValidationError({"email": str(DUTIES_REGION_ROLE_MESSAGE)})
    with transaction.atomic():
        membership, created = OrganisationMembership.objects.select_for_update().get_or_create(
            user=user, organisation=organisation, defaults={"role": role}
        )
        before = None if created else {"role": membership.role, "is_active": membership.is_active}
        membership.role, membership.is_active = role, True
        membership.save(update_fields=["role", "is_active"])
        audit_record(
            actor=actor,
            action=ClinicsAudit.ORGANISATION_MEMBER_ADDED,
            obj=membership,
            before=before,
            after={"user": user.email, "role": role},
            region=organisation.region_id,
        )
    return membership


def organisation_member_remove(*, actor: User, membership: OrganisationMembership) -> OrganisationMembership:
    with transaction.atomic():
        membership = OrganisationMembership.objects.select_for_update().select_related("user").get(pk=membership.pk)
        if not membership.is_active:
            return membership
        membership.is_active = False
        membership.save(update_fields=["is_active"])
        audit_record(
            actor=actor,
            action=ClinicsAudit.ORGANISATION_MEMBER_REMOVED,
            obj=membership,
            before={"is_active": True, "role": membership.role},
            after={"is_active": False},
            region=membership.organisation.region_id,
        )
        user = membership.user
        still_has_access = (
            user.is_system_admin
            or ClinicMembership.objects.filter(user=user, is_active=True).exists()
            or RegionMembership.objects.filter(user=user, is_active=True).exists()
            or OrganisationMembership.objects.filter(user=user, is_active=True).exists()
        )
        if not still_has_access:
            user_sessions_end(user=user)
    return membership
