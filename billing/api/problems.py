"""Errors as RFC 9457 problem details (`application/problem+json`), each fault with a JSON pointer.

{"type": ".../problem/validation", "title": "...", "status": 400, "detail": "...",
 "faults": [{"code": "required", "message": "Fältet måste fyllas i.", "pointer": "/date"}]}
"""

from __future__ import annotations

import math

from django.http import Http404
from django.utils.translation import gettext as _
from django.utils.translation.trans_real import parse_accept_lang_header
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://tandportal.se/api/problem/"


class UnknownFields(exceptions.ValidationError):
    """Fields the resource does not take: refused, never ignored."""


class IdempotentRequestRunning(exceptions.APIException):
    """The first call with this Idempotency-Key has not answered yet."""

    status_code = status.HTTP_409_CONFLICT
    default_code = "idempotency_key_in_use"
    retry_after = 1


class IdempotencyKeyReused(exceptions.APIException):
    """The Idempotency-Key was used for another request (method, path or body)."""

    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_code = "idempotency_key_reused"


class ServiceWindowClosed(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "service_window"

    def __init__(self, detail: str, retry_after: int):
        super().__init__(detail)
        self.retry_after = retry_after


_TYPES = {
    400: ("validation", lambda: _("Begäran innehåller fel")),
    401: ("unauthorized", lambda: _("API-nyckeln saknas eller gäller inte")),
    403: ("forbidden", lambda: _("Nyckeln får inte göra det här")),
    404: ("not-found", lambda: _("Det finns inget sådant")),
    409: ("conflict", lambda: _("Krockar med objektets status eller ett pågående anrop")),
    422: ("unprocessable", lambda: _("Begäran kan inte utföras som den är")),
    405: ("method-not-allowed", lambda: _("Metoden stöds inte här")),
    406: ("not-acceptable", lambda: _("Svaret kan inte ges i det formatet")),
    413: ("too-large", lambda: _("Det du skickade är för stort")),
    415: ("unsupported-media-type", lambda: _("Skicka JSON (Content-Type: application/json)")),
    429: ("rate-limited", lambda: _("För många anrop")),
    503: ("service-window", lambda: _("Portalen har servicefönster")),
}


def request_language(request) -> str:
    """Swedish unless the caller asks for English first (Accept-Language: en)."""
    for code, _quality in parse_accept_lang_header(request.META.get("HTTP_ACCEPT_LANGUAGE", "")):
        primary = code.split("-")[0].lower()
        if primary in ("sv", "en"):
            return primary
    return "sv"


def _takes_multipart(context) -> bool:
    """Whether the view takes multipart/form-data (a file) rather than JSON."""
    view = context.get("view") if context else None
    return any(parser.media_type == "multipart/form-data" for parser in getattr(view, "parser_classes", ()))


def _pointer(path: list) -> str:
    return "/" + "/".join(str(part).replace("~", "~0").replace("/", "~1") for part in path) if path else ""


def faults_from(detail, path: list | None = None) -> list[dict]:
    """DRF's nested error details as a flat list of faults, each with its JSON pointer."""
    path = path or []
    if isinstance(detail, dict):
        faults = []
        for key, value in detail.items():
            faults += faults_from(value, path if key == "non_field_errors" else [*path, key])
        return faults
    if isinstance(detail, list):
        if all(isinstance(item, str) for item in detail):
            return [_fault(item, path) for item in detail]
        faults = []
        for index, item in enumerate(detail):
            faults += faults_from(item, [*path, index]) if isinstance(item, dict | list) else [_fault(item, path)]
        return faults
    return [_fault(detail, path)]


def _fault(item, path: list) -> dict:
    return {"code": getattr(item, "code", "invalid") or "invalid", "message": str(item), "pointer": _pointer(path)}


def problem_response(status_code: int, *, detail: str = "", faults: list | None = None, headers=None) -> Response:
    kind, title = _TYPES.get(status_code, ("error", lambda: _("Något gick fel")))
    body = {"type": PROBLEM_TYPE_BASE + kind, "title": str(title()), "status": status_code}
    if detail:
        body["detail"] = detail
    if faults is not None:
        body["faults"] = faults
    response = Response(body, status=status_code, headers=headers, content_type=PROBLEM_CONTENT_TYPE)
    return response


def agreement_unsigned_response(request, refused) -> Response:
    """403 for a call that sends claims while the clinic has not signed the region's agreement in force
    (billing.services.AgreementUnsigned): the gate's message in the caller's language and where to sign."""
    message = refused.message
    body = {
        "type": PROBLEM_TYPE_BASE + "agreement-unsigned",
        "title": str(_("Avtalet är inte signerat")),
        "status": 403,
        "detail": message,
        "faults": [{"code": refused.code, "message": message, "pointer": ""}],
        "agreement_url": request.build_absolute_uri(refused.sign_path),
    }
    return Response(body, status=403, content_type=PROBLEM_CONTENT_TYPE)


def problem_exception_handler(exc, context):
    """DRF's EXCEPTION_HANDLER: every error the API raises answered as a problem."""
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    if not isinstance(exc, exceptions.APIException):
        return None  # a 500, logged by Django as any other
    set_rollback()
    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None) is not None:
        headers["Retry-After"] = str(max(1, math.ceil(exc.wait)))
    if getattr(exc, "retry_after", None) is not None:  # a service window, an idempotent call still running
        headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, exceptions.ValidationError):
        return problem_response(
            400, detail=_("Rätta felen och skicka igen."), faults=faults_from(exc.detail), headers=headers
        )
    if isinstance(exc, exceptions.ParseError):
        message = (
            _("Innehållet är inte giltig multipart/form-data.")
            if _takes_multipart(context)
            else _("Innehållet är inte giltig JSON.")
        )
        return problem_response(
            400, detail=message, faults=[{"code": "parse_error", "message": message, "pointer": ""}], headers=headers
        )
    return problem_response(exc.status_code, detail=_detail(exc, context), headers=headers)


def _detail(exc, context) -> str:
    """The problem's detail in our words; DRF's own texts are English only."""
    if isinstance(exc, exceptions.NotAuthenticated):
        return _("Anropet saknar API-nyckel: skicka Authorization: Bearer <nyckel>.")
    if isinstance(exc, exceptions.MethodNotAllowed):
        return _("Metoden %(method)s stöds inte här.") % {"method": context["request"].method}
    if isinstance(exc, exceptions.UnsupportedMediaType):
        if _takes_multipart(context):
            return _("Skicka innehållet som multipart/form-data.")
        return _("Skicka JSON (Content-Type: application/json).")
    if isinstance(exc, exceptions.Throttled):
        return _("Nyckeln har gjort för många anrop. Försök igen om %(seconds)s sekunder.") % {
            "seconds": max(1, math.ceil(exc.wait or 1))
        }
    if isinstance(exc, exceptions.NotFound):
        return _("Det finns inget sådant.")
    if isinstance(exc, exceptions.NotAcceptable):
        return _("Svaret ges som JSON.")
    if isinstance(exc, exceptions.PermissionDenied):
        return _("Nyckeln får inte göra det här.")
    return str(exc.detail)
