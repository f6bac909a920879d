"""How long a login lasts: 30 minutes without a request (the session's age, renewed by each request), and 8 hours
from logging in whatever the activity. A deactivated user is anonymous from the next request on (Django's
ModelBackend refuses inactive users), and changing the password ends the person's other sessions."""

from __future__ import annotations

import time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.signals import user_logged_in
from django.contrib.auth.views import redirect_to_login
from django.dispatch import receiver
from django.utils.translation import ngettext

LOGGED_IN_AT = "portal_logged_in_at"


@receiver(user_logged_in, dispatch_uid="portal.sessions.logged_in_at")
def _remember_login_time(sender, request, user, **kwargs):
    if request is not None and hasattr(request, "session"):
        request.session[LOGGED_IN_AT] = int(time.time())


class SessionLimitsMiddleware:
    """Ends a session 8 hours after its login (SESSION_ABSOLUTE_SECONDS), with a message on the login page."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.user.is_authenticated:
            started = request.session.get(LOGGED_IN_AT)
            if started is None:
                request.session[LOGGED_IN_AT] = int(time.time())
            elif time.time() - started > settings.SESSION_ABSOLUTE_SECONDS:
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
                return redirect_to_login(request.get_full_path() if request.method == "GET" else "/")
        return self.get_response(request)
