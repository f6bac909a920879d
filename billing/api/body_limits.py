"""How large a body the API takes: the caller's key decides, not a session (the API never has one).

`portal.middleware.GuardMiddleware` refuses a body over its limit before anything reads it; for a view that
carries `guard_body` it asks that instead (the core may not import clinics.services, which verifies a key).
Every API view carries one (`ApiView.as_view`): a request with a valid key may send what the view declares
(`ApiView.max_body_bytes`: the signed-in limit, an invoice file's view its 50 MB); one without a key, or with a
key that is unknown, revoked or expired, only what anyone may send. Nothing of the body is read to decide.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils import translation
from django.utils.translation import gettext as _
from rest_framework.renderers import JSONRenderer

from clinics.services import api_key_authenticate
from portal.middleware import ANONYMOUS_MAX_BODY_BYTES

from .problems import PROBLEM_CONTENT_TYPE, problem_response, request_language


def _has_valid_key(request: HttpRequest) -> bool:
    scheme, _sep, secret = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    return scheme.lower() == "bearer" and api_key_authenticate(secret.strip()) is not None


def body_limit(view_class: type, request: HttpRequest) -> int:
    """The most bytes this request may send to the view: the view's limit with a valid key, else the anonymous."""
    return view_class.max_body_bytes if _has_valid_key(request) else ANONYMOUS_MAX_BODY_BYTES


def body_guard(view_class: type) -> Callable[[HttpRequest, int], HttpResponse | None]:
    """For GuardMiddleware: None when a body of `length` bytes may be read, else the 413 problem."""

    def guard(request: HttpRequest, length: int) -> HttpResponse | None:
        limit = body_limit(view_class, request)
        if length <= limit:
            return None
        with translation.override(request_language(request)):
            megabytes = f"{limit / (1024 * 1024):.1f}".replace(".", ",")
            response = problem_response(
                413,
                detail=_("Det du skickade är för stort. Här tas högst %(size)s MB emot.") % {"size": megabytes},
            )
            response.accepted_renderer = JSONRenderer()
            response.accepted_media_type = PROBLEM_CONTENT_TYPE
            response.renderer_context = {}
            response.render()
            response["Content-Language"] = translation.get_language()
        response["Cache-Control"] = "no-store, private"
        return response

    return guard
