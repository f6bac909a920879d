"""How long a login lasts: 30 minutes without a request, and 8 hours from logging in whatever the activity.

The idle limit is the session's age (SESSION_COOKIE_AGE), renewed by saving the session; a request renews it at
most once a minute (SESSION_RENEW_SECONDS), so that reading pages does not write to the database each time. A
deactivated user is anonymous from the next request on (Django's ModelBackend refuses inactive users), and
changing the password ends the person's other sessions (Django's session auth hash); a person removed from
their last clinic, with no region role, has every session ended at once (`clinics.services.user_sessions_end`
raises `User.session_generation`, which is part of that hash).
"""

from __future__ import annotations

import datetime
import time
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.signals import user_logged_in
from django.contrib.sessions.backends import db
from django.shortcuts import redirect, resolve_url
from django.utils import timezone
from django.utils.translation import ngettext

from .db import PreparedQuery

LOGGED_IN_AT = "portal_logged_in_at"
RENEWED_AT = "portal_renewed_at"
SESSION_RENEW_SECONDS = 60


# Read on every request: compiled once (portal.db.PreparedQuery).
_SESSION = PreparedQuery(
    lambda session_key, now: (
        db.SessionStore.get_model_class()
        .objects.filter(session_key=session_key, expire_date__gt=now)
        .values_list("session_data", "expire_date")
    ),
    session_key=str,
    now=datetime.datetime,
)


class SessionStore(db.SessionStore):
    """Django's sessions in the database (SESSION_ENGINE = "portal.sessions"), read with a query compiled once
    instead of by the ORM on each request: the same row, the same expiry rule, the same answer to an unknown key."""

    def _get_session_from_db(self):
        rows = _SESSION.rows(session_key=self.session_key, now=timezone.now())
        if not rows:
            self._session_key = None
            return None
        session_data, expire_date = rows[0]
        return self.model(session_key=self.session_key, session_data=session_data, expire_date=expire_date)


def login_time_remember(sender, request, user, **kwargs):
    """On user_logged_in (connected in PortalConfig.ready): when the 8 hours began."""
    if request is not None and hasattr(request, "session"):
        now = int(time.time())
        request.session[LOGGED_IN_AT] = now
        request.session[RENEWED_AT] = now


def session_renew(request) -> None:
    """Start the idle time again (the session is saved with a new expiry)."""
    request.session[RENEWED_AT] = int(time.time())


class SessionLimitsMiddleware:
    """Ends a session 8 hours after its login (SESSION_ABSOLUTE_SECONDS), with a message on the login page, and
    renews the idle time at most once a minute."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.user.is_authenticated:
            now = time.time()
            started = request.session.get(LOGGED_IN_AT)
            if started is None:
                request.session[LOGGED_IN_AT] = int(now)
            elif now - started > settings.SESSION_ABSOLUTE_SECONDS:
                return self._ended(request)
            if now - request.session.get(RENEWED_AT, 0) >= SESSION_RENEW_SECONDS:
                session_renew(request)
        return self.get_response(request)

    @staticmethod
    def _ended(request):
        logout(request)
        hours = settings.SESSION_ABSOLUTE_SECONDS // 3600
        messages.info(
            request,
            ngettext(
                "Du har varit inloggad i %(hours)d timme. Logga in igen för att fortsätta.",
                "Du har varit inloggad i %(hours)d timmar. Logga in igen för att fortsätta.",
                hours,
            )
            % {"hours": hours},
        )
        next_url = request.get_full_path() if request.method == "GET" else "/"
        return redirect(f"{resolve_url(settings.LOGIN_URL)}?{urlencode({'next': next_url})}")


def connect() -> None:
    user_logged_in.connect(login_time_remember, dispatch_uid="portal.sessions.login_time")
