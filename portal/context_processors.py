"""Template context every page needs: the current clinic or region, the menu, the service banner."""

from django.conf import settings

from .service_windows import service_window_banner


def portal(request):
    return {
        "current_clinic": getattr(request, "clinic", None),
        "current_region": getattr(request, "region", None),
        "current_membership": getattr(request, "membership", None),
        "service_window_banner": service_window_banner(request),
        "LANGUAGES": settings.LANGUAGES,
    }
