"""Language: Swedish unless the user chose English with the switch; the browser's language is not asked.
The guard on every request: body size, and no caching of what a signed-in user sees. And 503, not 500, while the
database is away."""

import json
import sys
from collections.abc import Callable

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, HttpResponseBadRequest
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.cache import patch_cache_control, patch_vary_headers
from django.utils.translation import gettext as _
from django.views import defaults

from .two_factor import next_step_url


class LanguageMiddleware:
    """Like Django's LocaleMiddleware, but without Accept-Language negotiation.

    Clinic staff in Sweden often run English-language browsers; the portal's words must still be the
    Swedish ones from the manual they know, until they pick English themselves.
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self.codes = {code for code, _name in settings.LANGUAGES}

    def __call__(self, request):
        chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
        language = chosen if chosen in self.codes else settings.LANGUAGE_CODE
        translation.activate(language)
        request.LANGUAGE_CODE = language
        response = self.get_response(request)
        patch_vary_headers(response, ("Cookie",))
        response.headers.setdefault("Content-Language", language)
        return response


# Request bodies: an anonymous client may send a login form and no more; a signed-in user as much as the page
# takes (`max_body`). Checked from Content-Length before anything reads the body (CSRF reads the form, and a
# multipart form writes its files to disk while it is read), so a refused body is never read at all. A body
# sent chunked, without Content-Length, is never read by Django.
ANONYMOUS_MAX_BODY_BYTES = 256 * 1024
SIGNED_IN_MAX_BODY_BYTES = 2_621_440  # Django's own DATA_UPLOAD_MAX_MEMORY_SIZE
# What a form adds around its files: the other fields and the multipart boundaries.
FORM_OVERHEAD_BYTES = 64 * 1024


def max_body(size: int) -> Callable[[Callable], Callable]:
    """The largest request body, in bytes, a view takes from a signed-in user; pages without it take 2,5 MB.

    A view may instead carry `guard_body(request, length) -> HttpResponse | None`, which decides for itself
    (the API's views: billing/api/body_limits.py)."""

    def decorator(view: Callable) -> Callable:
        view.max_body_bytes = size
        return view

    return decorator


class GuardMiddleware:
    """Refuses an oversized request body before it is read, and keeps pages for signed-in users out of caches.

    Every page a signed-in user sees may hold patient data, and so may each download (Excel, PDF, attachments):
    `Cache-Control: no-store, private` on all of them, so neither the browser nor a proxy keeps a copy.
    Must stand before CsrfViewMiddleware: its `process_view` runs first.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            patch_cache_control(response, no_store=True, private=True)
        return response

    def process_view(self, request, view_func, view_args, view_kwargs):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return HttpResponseBadRequest()
        if length <= ANONYMOUS_MAX_BODY_BYTES:
            return None
        # A view that knows its callers otherwise than by a session (the API: a key, verified by the API itself)
        # says what it takes from this request, still without reading the body.
        guard = getattr(view_func, "guard_body", None)
        if guard is not None:
            return guard(request, length)
        # Signed in means every factor given: a password alone (the code still owed) takes what anyone may send.
        if request.user.is_authenticated and next_step_url(request) is None:
            limit = getattr(view_func, "max_body_bytes", SIGNED_IN_MAX_BODY_BYTES)
        else:
            limit = ANONYMOUS_MAX_BODY_BYTES
        if length <= limit:
            return None
        megabytes = f"{limit / (1024 * 1024):.1f}".replace(".", ",")
        return HttpResponse(
            _("Det du skickade är för stort. Sidan tar emot högst %(size)s MB.") % {"size": megabytes},
            status=413,
            content_type="text/plain; charset=utf-8",
        )


# The database away (a restart, a failover, the network): every request that needed it answers 503 with
# Retry-After, a Swedish page or, under /api/, a JSON problem, instead of the 500 "tekniskt fel". Django closes the
# broken connection at the request's end, and CONN_HEALTH_CHECKS makes the next request open a new one, so the
# portal comes back by itself as soon as the database does (docs/fault-drills.md).
DATABASE_RETRY_AFTER_SECONDS = 5
DATABASE_DOWN = (OperationalError, InterfaceError)


def database_down(exception: BaseException | None) -> bool:
    """Whether the exception, or one it was raised from, says the database cannot be reached or used now."""
    seen = 0
    while exception is not None and seen < 10:
        if isinstance(exception, DATABASE_DOWN):
            return True
        exception = exception.__cause__ or exception.__context__
        seen += 1
    return False


def database_unavailable(request) -> HttpResponse:
    """503 for a request that met the database away; rendered without the database (no context processors)."""
    headers = {"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)}
    if request.path.startswith("/api/"):
        body = {
            "type": "https://tandportal.se/api/problem/unavailable",
            "title": _("Tjänsten är tillfälligt otillgänglig"),
            "status": 503,
            "detail": _("Databasen svarar inte just nu. Försök igen om en stund."),
        }
        return HttpResponse(
            json.dumps(body, ensure_ascii=False),
            status=503,
            content_type="application/problem+json",
            headers=headers,
        )
    return HttpResponse(render_to_string("503.html"), status=503, headers=headers)


def server_error(request, *args, **kwargs) -> HttpResponse:
    """handler500 (portal/urls.py): 503 when the exception being handled is the database away, else Django's 500.

    Also the exceptions of middleware (the session, the user, the service windows read the database before any
    view runs) reach this handler, which is why it is a handler and not a middleware's process_exception."""
    if database_down(sys.exc_info()[1]):
        return database_unavailable(request)
    return defaults.server_error(request, *args, **kwargs)
