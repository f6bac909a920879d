"""Region administration (issue 15, point 3): the region administrator's clinics, people and rules.

Each service runs in one transaction, locks what it changes (the region row first where the region's people or
rules are concerned), and writes the audit log. A clinic's bankgiro or plusgiro is never set here once the clinic
exists: a change goes through the four-eyes flow (`services.account_change_request`).
"""

from __future__ import annotations

import datetime

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from portal import validators
from portal.audit import audit_record, snapshot

from .audit import ClinicsAudit
from .models import (
    REGION_RULE_FIELDS,
    CareModel,
    Clinic,
    ClinicMembership,
    DeadlineBasis,
    PatientCategory,
    Region,
    RegionMembership,
    RegionRole,
    RegionRules,
    SupportForm,
    User,
)
from .rules import Rules, region_rules, region_rules_forget
from .services import (
    ACCOUNT_FIELDS,
    _account_number_normalized,
    account_change_request,
    clinic_details_apply,
    duties_fault,
    user_sessions_end,
)

# Clinics ---------------------------------------------------------------------------------------------------------

# What the region administrator keeps of a clinic besides its account (which changes with four eyes).
REGION_CLINIC_FIELDS = [
    "number",
    "name",
    "organisation_number",
    "gln",
    "hsa_id",
    "street_address",
    "postal_code",
    "city",
    "phone",
    "email",
    "payout_email",
]
# The end date (Clinic.ends_on) is not among them: it is set by a notice (Uppsägning, termination_give), which also
# fixes the last billing day and closes the clinic; a date typed here would do neither.
CLINIC_NUMBER_TAKEN_MESSAGE = gettext_lazy("Kliniknummer %(number)s finns redan i regionen.")


def _number_free(region: Region, number: str, *, exclude: int | None = None) -> None:
    taken = Clinic.objects.of_region(region).filter(number=number)
    if exclude is not None:
        taken = taken.exclude(pk=exclude)
    if taken.exists():
        raise ValidationError({"number": CLINIC_NUMBER_TAKEN_MESSAGE % {"number": number}}, code="number_taken")


def _full_clean(clinic: Clinic) -> None:
    """The model's own checks (the same validators as every form: portal.validators), without the unique check,
    which `_number_free` says in words."""
    clinic.full_clean(validate_unique=False, validate_constraints=False)


@transaction.atomic
def clinic_create(*, actor: User, region: Region, payment_method: str, account_number: str, **details) -> Clinic:
    """Lägg till klinik: a new clinic of the region with all its details and its first account.

    The first account is set at once (there is no old one to protect); every later change waits for a second
    person."""
    unknown = set(details) - set(REGION_CLINIC_FIELDS)
    if unknown:
        raise ValueError(f"not a clinic detail: {sorted(unknown)}")
    region = Region.objects.select_for_update().get(pk=region.pk)
    _number_free(region, details["number"])
    try:
        account_number = _account_number_normalized(payment_method, account_number)
    except ValidationError as error:
        raise ValidationError({"account_number": error.messages}) from error
    clinic = Clinic(region=region, payment_method=payment_method, account_number=account_number, **details)
    _full_clean(clinic)
    clinic.save()
    audit_record(
        actor=actor,
        action=ClinicsAudit.CLINIC_CREATED,
        obj=clinic,
        after=snapshot(clinic, [*REGION_CLINIC_FIELDS, *ACCOUNT_FIELDS]),
        clinic=clinic,
        region=region,
    )
    return clinic


@transaction.atomic
def clinic_update_by_region(*, actor: User, clinic: Clinic, **changes) -> Clinic:
    """Ändra klinik: the region administrator changes the clinic's details. A new account among the changes
    becomes a pending account change (`account_change_request`), confirmed by another person."""
    unknown = set(changes) - set(REGION_CLINIC_FIELDS) - set(ACCOUNT_FIELDS)
    if unknown:
        raise ValueError(f"not a clinic detail: {sorted(unknown)}")
    Region.objects.select_for_update().get(pk=clinic.region_id)
    clinic = Clinic.objects.select_for_update().select_related("region").get(pk=clinic.pk)
    account = {name: changes.pop(name) for name in ACCOUNT_FIELDS if name in changes}
    if "number" in changes and changes["number"] != clinic.number:
        _number_free(clinic.region, changes["number"], exclude=clinic.pk)
    if account:
        method = account.get("payment_method", clinic.payment_method)
        number = account.get("account_number", clinic.account_number)
        try:
            number = _account_number_normalized(method, number)
        except ValidationError as error:
            raise ValidationError({"account_number": error.messages}) from error
        if (method, number) != (clinic.payment_method, clinic.account_number):
            account_change_request(actor=actor, clinic=clinic, payment_method=method, account_number=number)
    return clinic_details_apply(actor=actor, clinic=clinic, changes=changes)


# The region's people -----------------------------------------------------------------------------------------------

LAST_REGION_ADMIN_MESSAGE = gettext_lazy(
    "Regionen måste ha minst en aktiv regionadministratör. Utse en ny innan du tar bort eller ändrar den sista."
)
ROLE_HELD_MESSAGE = gettext_lazy("Personen har redan rollen %(role)s i regionen.")


def _region_locked(region_id: int) -> Region:
    """Lock the region row first: every change to the region's people queues behind it, so two administrators
    removing each other at the same moment are decided one after the other."""
    return Region.objects.select_for_update().get(pk=region_id)


def _ensure_another_region_admin(membership: RegionMembership) -> None:
    others = (
        RegionMembership.objects.of_region(membership.region_id)
        .filter(role=RegionRole.REGION_ADMIN, is_active=True, user__is_active=True)
        .exclude(pk=membership.pk)
    )
    if not others.exists():
        raise ValidationError(LAST_REGION_ADMIN_MESSAGE, code="last_region_admin")


@transaction.atomic
def region_user_invite(*, actor: User, region: Region, name: str, email: str, role: str) -> RegionMembership:
    """Bjud in: give a person a role in the region (samordnare or regionadministratör). A new person gets an e-mail
    with a link to choose a password (as a clinic's new user does); a person with an account is told by e-mail.
    Nobody who is a user of one of the region's clinics may have a role in it (`duties_fault`)."""
    if role not in RegionRole.values:
        raise ValidationError({"role": _("Okänd roll.")})
    region = _region_locked(region.pk)
    email = User.objects.normalize_email(email).lower()
    user = User.objects.filter(email__iexact=email).first()
    if user is not None:
        if fault := duties_fault(user, region=region):
            raise ValidationError({"email": fault}, code="duties")
    else:
        user = User.objects.create_user(email=email, password=None, name=name.strip())
        audit_record(actor=actor, action=ClinicsAudit.USER_CREATED, obj=user, after={"email": email}, region=region)
    membership, created = RegionMembership.objects.select_for_update().get_or_create(
        user=user, region=region, role=role
    )
    if not created:
        if membership.is_active:
            raise ValidationError(
                {"email": ROLE_HELD_MESSAGE % {"role": membership.get_role_display()}}, code="role_held"
            )
        membership.is_active = True
        membership.save(update_fields=["is_active"])
    audit_record(
        actor=actor,
        action=ClinicsAudit.REGION_USER_INVITED,
        obj=membership,
        after=snapshot(membership, ["user", "role"]),
        region=region,
    )
    from .tasks import send_region_invitation

    transaction.on_commit(lambda: send_region_invitation.delay(membership.pk))
    return membership


def region_invitation_send(*, membership: RegionMembership) -> None:
    """E-mail the person about their role in the region; with a set-password link if they have no password yet."""
    user = membership.user
    base = settings.PORTAL_BASE_URL.rstrip("/")
    link = None
    if not user.has_usable_password():
        link = base + reverse(
            "password_set",
            kwargs={
                "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
                "token": default_token_generator.make_token(user),
            },
        )
    context = {
        "membership": membership,
        "region": membership.region,
        "user": user,
        "link": link,
        "login_url": base + reverse("login"),
    }
    send_mail(
        subject=_("Du har fått en roll i %(region)s i Tandportalen") % {"region": membership.region.name},
        message=render_to_string("clinics/email/region_invitation.txt", context),
        from_email=None,
        recipient_list=[user.email],
    )


def _membership_locked(membership: RegionMembership) -> RegionMembership:
    _region_locked(membership.region_id)
    return RegionMembership.objects.select_for_update().select_related("region", "user").get(pk=membership.pk)


@transaction.atomic
def region_membership_change_role(*, actor: User, membership: RegionMembership, role: str) -> RegionMembership:
    """Byt roll: coordinator ↔ region administrator. The region always keeps an active administrator."""
    if role not in RegionRole.values:
        raise ValidationError({"role": _("Okänd roll.")})
    membership = _membership_locked(membership)
    if not membership.is_active:
        raise ValidationError(_("Personen har inte längre någon roll i regionen."))
    if membership.role == role:
        return membership
    if membership.role == RegionRole.REGION_ADMIN:
        _ensure_another_region_admin(membership)
    # A person holds each role at most once (one row per role): an old row of the new role is taken up again.
    other = (
        RegionMembership.objects.select_for_update()
        .filter(user_id=membership.user_id, region_id=membership.region_id, role=role)
        .first()
    )
    if other is not None and other.is_active:
        raise ValidationError({"role": ROLE_HELD_MESSAGE % {"role": other.get_role_display()}}, code="role_held")
    before = {"role": membership.role}
    if other is not None:
        membership.is_active = False
        membership.save(update_fields=["is_active"])
        other.is_active = True
        other.save(update_fields=["is_active"])
        result = other
    else:
        membership.role = role
        membership.save(update_fields=["role"])
        result = membership
    audit_record(
        actor=actor,
        action=ClinicsAudit.REGION_ROLE_CHANGED,
        obj=result,
        before={**before, "user": membership.user_id},
        after={"role": role, "user": membership.user_id},
        region=membership.region_id,
    )
    return result


@transaction.atomic
def region_membership_remove(*, actor: User, membership: RegionMembership) -> RegionMembership:
    """Ta bort: the person loses the role (the row is kept, inactive). The last active administrator cannot go.
    A person left with no clinic and no region role is logged out everywhere at once."""
    membership = _membership_locked(membership)
    if not membership.is_active:
        return membership
    if membership.role == RegionRole.REGION_ADMIN:
        _ensure_another_region_admin(membership)
    membership.is_active = False
    membership.save(update_fields=["is_active"])
    audit_record(
        actor=actor,
        action=ClinicsAudit.REGION_ROLE_REMOVED,
        obj=membership,
        before={"is_active": True, "role": membership.role, "user": membership.user_id},
        after={"is_active": False},
        region=membership.region_id,
    )
    user = membership.user
    still_has_access = (
        user.is_system_admin
        or ClinicMembership.objects.filter(user=user, is_active=True).exists()
        or RegionMembership.objects.filter(user=user, is_active=True).exists()
    )
    if not still_has_access:
        user_sessions_end(user=user)
    return membership


# The region's rules -------------------------------------------------------------------------------------------------

RULES_IN_THE_PAST_MESSAGE = gettext_lazy(
    "Reglerna kan inte ändras bakåt i tiden: välj dagens datum eller ett senare. Räkningar för vård före dagen "
    "följer de regler som gällde då."
)
MAX_DEADLINE_MONTHS = 60


def _rules_cleaned(values: dict) -> dict:
    """The rules as stored, each checked; a fault names its field. Only the fields of REGION_RULE_FIELDS."""
    unknown = set(values) - set(REGION_RULE_FIELDS)
    if unknown:
        raise ValueError(f"not a region rule: {sorted(unknown)}")
    errors: dict[str, str] = {}
    months = values["billing_deadline_months"]
    if not 1 <= months <= MAX_DEADLINE_MONTHS:
        errors["billing_deadline_months"] = _("Fristen ska vara 1–%(max)s månader.") % {"max": MAX_DEADLINE_MONTHS}
    if values["billing_deadline_basis"] not in DeadlineBasis.values:
        errors["billing_deadline_basis"] = _("Välj hur fristen räknas.")
    for name in ("fee_exempt_from_age", "fee_exempt_young_adults_until_age"):
        age = values[name]
        if age is not None and not 0 <= age <= 130:
            errors[name] = _("Ange en ålder 0–130 år.")
    values["fee_exempt_certificate_groups"] = sorted(
        {group.strip().upper() for group in values["fee_exempt_certificate_groups"] if group.strip()}
    )
    if (amount := values["free_amount_without_prior_assessment"]) is not None and amount < 0:
        errors["free_amount_without_prior_assessment"] = _("Beloppet kan inte vara negativt.")
    forms = set(values["free_amount_support_forms"])
    if forms - set(SupportForm.values):
        errors["free_amount_support_forms"] = _("Okänd stödform.")
    values["free_amount_support_forms"] = [form for form in SupportForm.values if form in forms]
    try:
        values["repayment_bankgiro"] = validators.normalize_bankgiro(values["repayment_bankgiro"])
    except ValidationError as error:
        errors["repayment_bankgiro"] = " ".join(error.messages)
    if values["payout_second_confirmation_above"] < 0:
        errors["payout_second_confirmation_above"] = _("Beloppet kan inte vara negativt.")
    if errors:
        raise ValidationError(errors)
    return values


@transaction.atomic
def region_rules_set(
    *,
    actor: User,
    region: Region,
    valid_from: datetime.date,
    action: str = ClinicsAudit.REGION_RULES_CHANGED,
    **values,
) -> RegionRules | None:
    """The region's rules from `valid_from` (today or later) until its next version: every rule is given.

    A version of the same day is changed; otherwise a new one begins. None when the rules on that day would be the
    same as they are. Audited with the rules before and after (only what changed) and the date."""
    today = timezone.localdate()
    if valid_from < today:
        raise ValidationError({"valid_from": RULES_IN_THE_PAST_MESSAGE}, code="in_the_past")
    values = _rules_cleaned(dict(values))
    region = _region_locked(region.pk)
    in_force = region_rules(region, valid_from).values()
    version = RegionRules.objects.select_for_update().filter(region=region, valid_from=valid_from).first()
    changed = [name for name in REGION_RULE_FIELDS if in_force[name] != values[name]]
    if not changed:
        return None
    if version is None:
        version = RegionRules(region=region, valid_from=valid_from)
    for name, value in values.items():
        setattr(version, name, value)
    version.created_by, version.created_at = actor, timezone.now()
    version.save()
    audit_record(
        actor=actor,
        action=action,
        obj=version,
        before={**{name: in_force[name] for name in changed}, "valid_from": valid_from.isoformat()},
        after={**{name: values[name] for name in changed}, "valid_from": valid_from.isoformat()},
        region=region,
    )
    region_rules_forget(region)
    return version


@transaction.atomic
def region_rules_withdraw(*, actor: User, version: RegionRules) -> None:
    """Ta bort a planned change (one not yet in force): the rules before it go on."""
    _region_locked(version.region_id)
    version = RegionRules.objects.select_for_update().filter(pk=version.pk).first()
    if version is None:
        return
    if version.valid_from <= timezone.localdate():
        raise ValidationError(_("Ändringen gäller redan och kan inte tas bort. Gör en ny ändring i stället."))
    before = {**Rules.of(version).values(), "valid_from": version.valid_from.isoformat()}
    audit_record(
        actor=actor,
        action=ClinicsAudit.REGION_RULES_WITHDRAWN,
        obj=version,
        before=before,
        region=version.region_id,
    )
    version.delete()


def region_payout_second_confirmation_set(*, actor: User, region: Region, amount: int) -> None:
    """The region's four-eyes amount from today: the other rules in force today are kept."""
    if amount < 0:
        raise ValidationError(_("Beloppet kan inte vara negativt."), code="negative")
    values = region_rules(Region.objects.get(pk=region.pk)).values()
    values["payout_second_confirmation_above"] = amount
    region_rules_set(
        actor=actor,
        region=region,
        valid_from=timezone.localdate(),
        action=ClinicsAudit.REGION_PAYOUT_LIMIT_CHANGED,
        **values,
    )


# Care models and patient categories ---------------------------------------------------------------------------------

CODE_TAKEN_MESSAGE = gettext_lazy("Koden %(code)s finns redan i regionens lista.")


def _code_cleaned(code: str) -> str:
    code = code.strip().upper()
    if not code or len(code) > 10 or not code.replace("-", "").isalnum():
        raise ValidationError({"code": _("Ange en kod med högst tio bokstäver och siffror.")})
    return code


@transaction.atomic
def region_code_save(
    *,
    actor: User,
    region: Region,
    kind: type[CareModel] | type[PatientCategory],
    code: str,
    name: str,
    retired_from: datetime.date | None = None,
    support_form: str = "",
    instance: CareModel | PatientCategory | None = None,
) -> CareModel | PatientCategory:
    """Add or change a care model or patient category. A code is never deleted (claims and certificates name it):
    `retired_from` stops its use for care from that day. The code of one in use is not changed."""
    region = _region_locked(region.pk)
    code = _code_cleaned(code)
    name = name.strip()
    if not name:
        raise ValidationError({"name": _("Ange en benämning.")})
    if kind is PatientCategory and support_form not in SupportForm.values:
        raise ValidationError({"support_form": _("Välj stödform.")})
    taken = kind.objects.of_region(region).filter(code=code)
    if instance is not None:
        instance = kind.objects.of_region(region).select_for_update().get(pk=instance.pk)
        taken = taken.exclude(pk=instance.pk)
    if taken.exists():
        raise ValidationError({"code": CODE_TAKEN_MESSAGE % {"code": code}}, code="code_taken")
    fields = ["code", "name", "retired_from"] + (["support_form"] if kind is PatientCategory else [])
    values = {"code": code, "name": name, "retired_from": retired_from}
    if kind is PatientCategory:
        values["support_form"] = support_form
    if instance is None:
        instance = kind.objects.create(region=region, **values)
        action = ClinicsAudit.CARE_MODEL_ADDED if kind is CareModel else ClinicsAudit.PATIENT_CATEGORY_ADDED
        audit_record(actor=actor, action=action, obj=instance, after=snapshot(instance, fields), region=region)
        return instance
    changed = [name for name in fields if getattr(instance, name) != values[name]]
    if not changed:
        return instance
    if ("code" in changed or "support_form" in changed) and code_in_use(instance):
        raise ValidationError(
            {
                "code": _(
                    "Koden används redan på räkningar eller intyg och kan inte ändras. Ange ett slutdatum och "
                    "lägg till en ny kod i stället."
                )
            },
            code="in_use",
        )
    before = snapshot(instance, changed)
    for name in changed:
        setattr(instance, name, values[name])
    instance.save(update_fields=changed)
    action = ClinicsAudit.CARE_MODEL_CHANGED if kind is CareModel else ClinicsAudit.PATIENT_CATEGORY_CHANGED
    audit_record(
        actor=actor, action=action, obj=instance, before=before, after=snapshot(instance, changed), region=region
    )
    return instance


def code_in_use(instance: CareModel | PatientCategory) -> bool:
    """Whether any row points at the care model or patient category (a claim, a certificate, an FHB …): the
    database's own PROTECTed relations are asked, so a later app's reference counts too."""
    for relation in instance._meta.related_objects:
        if relation.one_to_many or relation.one_to_one:
            model = relation.related_model
            if model._base_manager.filter(**{relation.field.name: instance}).exists():
                return True
    # Certificates name a patient category by its code (their group), through the region's reverse relation.
    certificates = getattr(instance.region, "certificates", None)
    if isinstance(instance, PatientCategory) and certificates is not None:
        return certificates.filter(group=instance.code).exists()
    return False
