"""Changes to clinics and their users. Each runs in one transaction and writes the audit log."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from portal.audit import audit_record, snapshot

from .audit import ClinicsAudit
from .models import Clinic, ClinicMembership, ClinicRole, User

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


@transaction.atomic
def clinic_update_details(*, actor: User, clinic: Clinic, **changes) -> Clinic:
    """Contact and bank details that the clinic keeps itself (Klinikadministration)."""
    unknown = set(changes) - set(CLINIC_DETAIL_FIELDS)
    if unknown:
        raise ValueError(f"not editable by the clinic: {sorted(unknown)}")
    clinic = Clinic.objects.select_for_update().get(pk=clinic.pk)
    changed = [name for name, value in changes.items() if getattr(clinic, name) != value]
    if not changed:
        return clinic
    before = snapshot(clinic, changed)
    for name in changed:
        setattr(clinic, name, changes[name])
    clinic.full_clean()
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
def membership_invite(*, actor: User, clinic: Clinic, name: str, email: str, role: str) -> ClinicMembership:
    """Ny användare: give a person a role at the clinic; a new person gets a set-password e-mail."""
    email = User.objects.normalize_email(email).lower()
    user = User.objects.filter(email__iexact=email).first()
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


def _ensure_another_admin(membership: ClinicMembership) -> None:
    others = ClinicMembership.objects.filter(
        clinic_id=membership.clinic_id, role=ClinicRole.LOCAL_ADMIN, is_active=True, user__is_active=True
    ).exclude(pk=membership.pk)
    if not others.exists():
        raise ValidationError(LAST_ADMIN_MESSAGE, code="last_local_admin")


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
def membership_remove(*, actor: User, membership: ClinicMembership) -> ClinicMembership:
    """Take away the user's access to the clinic. The membership is kept, inactive, for the record."""
    membership = _lock_for_admin_change(membership)
    if not membership.is_active:
        return membership
    if membership.role == ClinicRole.LOCAL_ADMIN:
        _ensure_another_admin(membership)
    membership.is_active = False
    membership.save(update_fields=["is_active"])
    audit_record(
        actor=actor,
        action=ClinicsAudit.MEMBERSHIP_REMOVED,
        obj=membership,
        before={"is_active": True, "role": membership.role},
        after={"is_active": False},
        clinic=membership.clinic,
        region=membership.clinic.region_id,
    )
    return membership


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
