"""Template context every page needs: the current clinic or region, the menu, the service banner."""

from django.conf import settings


def portal(request):
    return {
        "current_clinic": getattr(request, "clinic", None),
        "current_region": getattr(request, "region", None),
        "current_membership": getattr(request, "membership", None),
        "upcoming_service_window": getattr(request, "upcoming_service_window", None),
        "LANGUAGES": settings.LANGUAGES,
    }
