"""Template context every page needs: the current clinic or region, the menu, the service banner."""

from django.conf import settings
from django.db.models import CharField, Value
from django.utils.functional import SimpleLazyObject

from clinics.models import ClinicMembership, OrganisationMembership, RegionMembership

from .access import CLINIC_ROLES, Access
from .db import PreparedQuery
from .service_windows import service_window_banner
from .sessions import SESSION_RENEW_SECONDS


def portal(request):
    return {
        "current_clinic": getattr(request, "clinic", None),
        "current_region": getattr(request, "region", None),
        "current_membership": getattr(request, "membership", None),
        # What the person's clinic role may open, for the menu and buttons (the views' decorators decide).
        # On an umbrella organisation's pages, what its role may open at each of its clinics.
        "clinic_may": _clinic_may(
            getattr(request, "membership", None) or getattr(request, "organisation_membership", None)
        ),
        "current_organisation": getattr(request, "organisation", None),
        # "Byt klinik" only for a person with somewhere else to go; asked only when the header is drawn.
        "has_other_places": SimpleLazyObject(lambda: _places_count(request) > 1),
        "service_window_banner": service_window_banner(request),
        "LANGUAGES": settings.LANGUAGES,
        # The idle warning (static/js/session-timeout.js): when the session ends and how long before to warn.
        # The page's request may not have renewed the session (at most once a minute): count from a minute earlier.
        "session_idle_seconds": settings.SESSION_IDLE_SECONDS - SESSION_RENEW_SECONDS,
        "session_warning_seconds": settings.SESSION_IDLE_WARNING_SECONDS,
        "session_warning_minutes": settings.SESSION_IDLE_WARNING_SECONDS // 60,
    }


def _clinic_may(membership) -> dict[str, bool]:
    role = (
        getattr(membership, "role", None) if isinstance(membership, ClinicMembership | OrganisationMembership) else None
    )
    names = {
        Access.CLINIC: "work",
        Access.CLINIC_FINANCE: "finance",
        Access.CLINIC_ANY: "any",
        Access.CLINIC_AGREEMENT: "agreement",
        Access.CLINIC_ADMIN: "admin",
    }
    return {name: role is not None and role in CLINIC_ROLES[kind] for kind, name in names.items()}


def _places(user_id):
    clinics = (
        ClinicMembership.objects.filter(user=user_id, is_active=True, clinic__is_active=True)
        .annotate(kind=Value("clinic", output_field=CharField()))
        .values_list("kind", "clinic_id")
    )
    organisations = (
        OrganisationMembership.objects.filter(user=user_id, is_active=True)
        .annotate(kind=Value("organisation", output_field=CharField()))
        .values_list("kind", "organisation_id")
    )
    regions = (
        RegionMembership.objects.filter(user=user_id, is_active=True)
        .annotate(kind=Value("region", output_field=CharField()))
        .values_list("kind", "region_id")
    )
    return clinics.union(organisations, regions)[:2]


# Asked on every page with the header: compiled once (portal.db.PreparedQuery).
_PLACES = PreparedQuery(_places, user_id=int)


def _places_count(request) -> int:
    """How many clinics and regions the signed-in person works for, counted up to 2 (0 for anyone else)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return 0
    return len(_PLACES.rows(user_id=user.pk))
