"""`Authorization: Bearer <key>`: the request acts for the key's one clinic, with the rights of a biller."""

from __future__ import annotations

from django.core.cache import caches
from django.utils.translation import gettext as _
from rest_framework import authentication, exceptions, permissions, throttling

from clinics.models import ApiKey, ClinicMembership, ClinicRole
from clinics.services import api_key_authenticate


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """The key's own user (never able to log in) is the request's user, so the audit and access logs name the key;
    `request.clinic`, `request.region` and `request.membership` are set as `portal.access.clinic_view` sets them."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _sep, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise exceptions.AuthenticationFailed(_("Ange nyckeln som Authorization: Bearer <nyckel>."))
        key = api_key_authenticate(secret.strip())
        if key is None:
            raise exceptions.AuthenticationFailed(_("Nyckeln är okänd, återkallad eller har gått ut."))
        django_request = request._request
        django_request.clinic = key.clinic
        django_request.region = key.clinic.region
        django_request.api_key = key
        # Not saved: the key is no member of the clinic, it has a biller's rights there for this request.
        django_request.membership = ClinicMembership(user=key.user, clinic=key.clinic, role=ClinicRole.BILLER)
        return key.user, key

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="tandportal"'


class HasApiKey(permissions.BasePermission):
    def has_permission(self, request, view) -> bool:
        return isinstance(request.auth, ApiKey)


class ApiKeyRateThrottle(throttling.SimpleRateThrottle):
    """Calls per key (settings.REST_FRAMEWORK DEFAULT_THROTTLE_RATES["api_key"])."""

    scope = "api_key"
    cache = caches["api_throttle"]

    def get_cache_key(self, request, view):
        if not isinstance(request.auth, ApiKey):
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.auth.pk}
