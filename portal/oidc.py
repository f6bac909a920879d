"""Single sign-on through the region's own identity provider (OpenID Connect: SITHS/Inera IdP, BankID through a
broker, HelseID), with mozilla-django-oidc. On only when OIDC_RP_CLIENT_ID and the endpoints are set (.env).

A person is matched to a user the portal already knows: by the HSA-id claim (OIDC_HSA_ID_CLAIM) when the user has
an HSA-id, otherwise by the e-mail claim. Nobody is created and nothing from the identity provider changes a user:
a person's roles are given in the portal. A session logged in this way counts as two-factor verified
(settings.TWO_FACTOR_BACKENDS): the identity provider has asked for the strong login.
"""

from __future__ import annotations

import functools

from django.conf import settings
from django.contrib import messages
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from clinics.models import User

from . import access


class PortalOIDCBackend(OIDCAuthenticationBackend):
    def verify_claims(self, claims: dict) -> bool:
        return bool(claims.get(settings.OIDC_HSA_ID_CLAIM) or claims.get("email"))

    def filter_users_by_claims(self, claims: dict):
        active = User.objects.filter(is_active=True)
        hsa_id = (claims.get(settings.OIDC_HSA_ID_CLAIM) or "").strip()
        if hsa_id:
            by_hsa_id = active.filter(hsa_id__iexact=hsa_id)
            if by_hsa_id.exists():
                return by_hsa_id
        email = (claims.get("email") or "").strip()
        if email and claims.get("email_verified", True) is not False:
            return active.filter(email__iexact=email)
        return User.objects.none()

    def create_user(self, claims: dict):
        return None  # never: the portal's administrators create people and give them roles

    def update_user(self, user: User, claims: dict) -> User:
        return user

    def get_user(self, user_id):
        user = super().get_user(user_id)
        return user if user is not None and user.is_active else None


def _when_enabled(view):
    """The identity provider's pages exist only when it is configured; otherwise they lead to the login page."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        if not settings.OIDC_ENABLED:
            messages.info(request, _("Inloggning via regionens inloggningstjänst är inte påslagen."))
            return redirect("login")
        return view(request, *args, **kwargs)

    return access.public(wrapper)


oidc_authenticate = _when_enabled(OIDCAuthenticationRequestView.as_view())
oidc_callback = _when_enabled(OIDCAuthenticationCallbackView.as_view())
