"""Template context every page needs: the current clinic or region, the menu, the service banner."""

from django.conf import settings

from .service_windows import service_window_banner
from .sessions import SESSION_RENEW_SECONDS


def portal(request):
    return {
        "current_clinic": getattr(request, "clinic", None),
        "current_region": getattr(request, "region", None),
        "current_membership": getattr(request, "membership", None),
        "service_window_banner": service_window_banner(request),
        "LANGUAGES": settings.LANGUAGES,
        # The idle warning (static/js/session-timeout.js): when the session ends and how long before to warn.
        # The page's request may not have renewed the session (at most once a minute): count from a minute earlier.
        "session_idle_seconds": settings.SESSION_IDLE_SECONDS - SESSION_RENEW_SECONDS,
        "session_warning_seconds": settings.SESSION_IDLE_WARNING_SECONDS,
        "session_warning_minutes": settings.SESSION_IDLE_WARNING_SECONDS // 60,
    }
