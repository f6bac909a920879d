"""Two-factor authentication: who must use it, enrolling an authenticator app, recovery codes, and the middleware
that keeps a password-only session out of the pages until the second factor is given.

A region's coordinators and administrators always need it (they approve payouts); a clinic's users when their
region requires it (Region.clinic_two_factor_required) or when they have enrolled themselves. A session is
verified by a code (django-otp marks it) or by having logged in through a strong identity provider
(settings.TWO_FACTOR_BACKENDS: the region's own IdP through OpenID Connect).
"""

from __future__ import annotations

import base64
import binascii
from urllib.parse import urlencode

import segno
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY
from django.db import transaction
from django.db.models import Exists
from django.http import HttpRequest
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django_otp import DEVICE_ID_SESSION_KEY, devices_for_user, match_token
from django_otp import login as otp_login
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from clinics.models import ClinicMembership, OrganisationMembership, RegionMembership, User

from .access import Access
from .audit import IdentityAudit, audit_record
from .db import PreparedQuery

RECOVERY_CODE_COUNT = 10
APP_DEVICE_NAME = "Autentiseringsapp"
RECOVERY_DEVICE_NAME = "Reservkoder"


# Who needs it ----------------------------------------------------------------------------------------------


def _required_by_role(user_id):
    """The memberships that make a user need a second factor: any region role; a clinic role (or an umbrella
    organisation's) in a region that requires it of its clinics' users."""
    return (
        RegionMembership.objects.filter(user=user_id, is_active=True),
        ClinicMembership.objects.filter(
            user=user_id, is_active=True, clinic__is_active=True, clinic__region__clinic_two_factor_required=True
        ),
        OrganisationMembership.objects.filter(
            user=user_id, is_active=True, organisation__region__clinic_two_factor_required=True
        ),
    )


def _apps(user_id):
    return TOTPDevice.objects.filter(user=user_id, confirmed=True)


# What a page asks of every signed-in request whose session has not given a second factor: one query, compiled
# once (portal.db.PreparedQuery), instead of four compiled on each request.
_STANDING = PreparedQuery(
    lambda user_id: User.objects.filter(pk=user_id).values_list(
        Exists(_apps(user_id)), *(Exists(memberships) for memberships in _required_by_role(user_id))
    ),
    user_id=int,
)


def _standing(user: User) -> tuple[bool, bool]:
    """(has an authenticator app, needs a second factor): what next_step_url asks, in one query."""
    rows = _STANDING.rows(user_id=user.pk)
    if not rows:
        return False, user.is_system_admin
    has_app_, *by_role = rows[0]
    return has_app_, user.is_system_admin or any(by_role)


def two_factor_required(user: User) -> bool:
    """Coordinators, region administrators and the system administrator (who can close the whole portal) always;
    a clinic's users when their region requires it."""
    return _standing(user)[1]


def has_app(user: User) -> bool:
    return _apps(user.pk).exists()


def session_verified(request: HttpRequest) -> bool:
    """Whether this session gave a second factor (a code, or a strong identity provider)."""
    if request.session.get(BACKEND_SESSION_KEY) in settings.TWO_FACTOR_BACKENDS:
        return True
    return bool(request.session.get(DEVICE_ID_SESSION_KEY)) and request.user.is_verified()


def next_step_url(request: HttpRequest, next_url: str = "") -> str | None:
    """Where a logged-in user must go before any page: the code, the enrolment, or None (nothing more)."""
    if session_verified(request):
        return None
    has_app_, required = _standing(request.user)
    if has_app_:
        name = "two_factor_verify"
    elif required:
        name = "two_factor_enrol"
    else:
        return None
    url = reverse(name)
    return f"{url}?{urlencode({'next': next_url})}" if next_url else url


class TwoFactorMiddleware:
    """A logged-in user who owes a second factor sees only the code or enrolment page (and public pages)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if not request.user.is_authenticated:
            return None
        if getattr(view_func, "access", None) == Access.PUBLIC or getattr(view_func, "two_factor_step", False):
            return None
        step = next_step_url(request, request.get_full_path() if request.method == "GET" else "")
        return redirect(step) if step else None


# The authenticator app -------------------------------------------------------------------------------------


def base32_secret(device: TOTPDevice) -> str:
    """The device's key as authenticator apps take it when typed: base32 without padding."""
    return base64.b32encode(device.bin_key).decode().rstrip("=")


def hex_key(secret_base32: str) -> str:
    """A base32 secret (as apps show it) as TOTPDevice's hex key."""
    padded = secret_base32.upper() + "=" * (-len(secret_base32) % 8)
    return binascii.hexlify(base64.b32decode(padded)).decode()


def grouped(secret: str) -> str:
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def qr_svg(device: TOTPDevice) -> str:
    """The otpauth:// address as a QR code, inline SVG (no script, no style attribute: CSP allows it)."""
    return segno.make(device.config_url, error="m").svg_inline(scale=4, border=2)


def pending_app(user: User) -> TOTPDevice:
    """The unconfirmed device an enrolment shows, the same on every reload until it is confirmed."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-pk").first()
    return device or TOTPDevice.objects.create(user=user, name=APP_DEVICE_NAME, confirmed=False)


@transaction.atomic
def app_confirm(*, request: HttpRequest, device: TOTPDevice, code: str) -> list[str] | None:
    """Confirm the pending device with a code from the app: the session is verified and new recovery codes are
    made (returned, to be shown once). None when the code is wrong."""
    device = TOTPDevice.objects.select_for_update().get(pk=device.pk, user=request.user)
    if not device.verify_token(_digits(code)):
        return None
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    TOTPDevice.objects.filter(user=request.user, confirmed=False).delete()
    codes = recovery_codes_renew(user=request.user, record=False)
    otp_login(request, device)
    audit_record(
        actor=request.user, action=IdentityAudit.TWO_FACTOR_ADDED, obj=request.user, after={"device": device.name}
    )
    return codes


@transaction.atomic
def recovery_codes_renew(*, user: User, record: bool = True) -> list[str]:
    """New recovery codes, returned to be shown once; the old ones stop working. Each code works once."""
    device, _created = StaticDevice.objects.get_or_create(
        user=user, name=RECOVERY_DEVICE_NAME, defaults={"confirmed": True}
    )
    device.token_set.all().delete()
    codes = [StaticToken.random_token() for _i in range(RECOVERY_CODE_COUNT)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    if record:
        audit_record(actor=user, action=IdentityAudit.RECOVERY_CODES_RENEWED, obj=user)
    return codes


@transaction.atomic
def code_verify(*, request: HttpRequest, code: str) -> bool:
    """A code from the app or a recovery code (each usable once); a right one verifies the session."""
    code = "".join(code.split()).replace("-", "").lower()
    if not code:
        return False
    device = match_token(request.user, code)
    if device is None:
        return False
    otp_login(request, device)
    if isinstance(device, StaticDevice):
        audit_record(actor=request.user, action=IdentityAudit.RECOVERY_CODE_USED, obj=request.user)
    return True


@transaction.atomic
def two_factor_remove(*, actor: User, device_pk: int) -> None:
    """Remove an authenticator app (and, with the last one, the recovery codes). Someone who must use two-factor
    authentication keeps at least one app."""
    device = TOTPDevice.objects.select_for_update().get(pk=device_pk, user=actor, confirmed=True)
    others = TOTPDevice.objects.filter(user=actor, confirmed=True).exclude(pk=device.pk)
    if not others.exists() and two_factor_required(actor):
        raise PermissionError(_("Du måste ha tvåstegsverifiering. Lägg till en ny app innan du tar bort den här."))
    device.delete()
    if not others.exists():
        StaticDevice.objects.filter(user=actor).delete()
    audit_record(actor=actor, action=IdentityAudit.TWO_FACTOR_REMOVED, obj=actor, before={"device": device.name})


def app_devices(user: User) -> list[TOTPDevice]:
    return [d for d in devices_for_user(user) if isinstance(d, TOTPDevice)]


def recovery_codes_left(user: User) -> int:
    return StaticToken.objects.filter(device__user=user).count()


def _digits(code: str) -> str:
    return "".join(ch for ch in code if ch.isdigit())
