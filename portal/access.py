"""Who may open which page: one decorator per kind of page, and the tenancy checks behind them.

A view outside a clinic or region it belongs to answers 404 (its existence is not confirmed);
inside it, a role that may not use the page answers 403. Each decorated view carries
`access` so that the permissions test can walk every URL and know what to expect.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest

from clinics.models import (
    Clinic,
    ClinicMembership,
    ClinicRole,
    Organisation,
    OrganisationMembership,
    Region,
    RegionMembership,
    RegionRole,
)

from .db import PreparedQuery, model_columns, model_from_row


class Access:
    PUBLIC = "public"
    AUTHENTICATED = "authenticated"
    # A clinic's work (Sök person, Registrera räkning, files, FHB): its billers and local administrators.
    CLINIC = "clinic"
    # The clinic's money, read: Era fakturor, Utbetalningsbesked; also its Ekonomi role (read-only).
    CLINIC_FINANCE = "clinic_finance"
    # Every role of the clinic: the start page, the tariff, the agreements (Avtal).
    CLINIC_ANY = "clinic_any"
    # Signing the region's agreements and appointing users: local administrators and the Avtalsansvarig.
    CLINIC_AGREEMENT = "clinic_agreement"
    CLINIC_ADMIN = "clinic_admin"
    REGION = "region"
    # A region's own administrator (region_view(admin=True)): the region's coordinators are inside it, so 403.
    REGION_OWN_ADMIN = "region_own_admin"
    # The systemadministratör's pages (portal-wide service windows): 404 for everybody else.
    SYSTEM_ADMIN = "system_admin"
    # The journal-system API (billing/api/): an API key, never a session; a signed-in person gets 401.
    API_KEY = "api_key"
    # Monitoring (/metrics): a scraper's token or address, never a person's session; 403 to every person.
    SCRAPER = "scraper"
    # An umbrella organisation's pages (/organisation/<pk>/): its users only; 404 for everybody else.
    ORGANISATION = "organisation"


def _mark(view: Callable, access: str) -> Callable:
    view.access = access
    return view


def public(view: Callable) -> Callable:
    return _mark(view, Access.PUBLIC)


def scraper(view: Callable) -> Callable:
    """A monitoring endpoint (portal.metrics): it checks the scraper's token or address itself."""
    return _mark(view, Access.SCRAPER)


def api_key(view: Callable) -> Callable:
    """An API view (billing/api/): it authenticates the key itself and never looks at a session."""
    return _mark(view, Access.API_KEY)


def _login_required(view: Callable) -> Callable:
    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        return view(request, *args, **kwargs)

    return wrapper


def authenticated(view: Callable) -> Callable:
    return _mark(_login_required(view), Access.AUTHENTICATED)


# The user's membership of a clinic with the clinic and its region, one row, read on every clinic page: compiled once
# per process (portal.db.PreparedQuery), as compiling the join cost the ORM more CPU than PostgreSQL spends on it.
# At most one row (clinic_membership_unique).
_MEMBERSHIP_MODELS = (("", ClinicMembership), ("clinic__", Clinic), ("clinic__region__", Region))
_MEMBERSHIP = PreparedQuery(
    lambda user_id, clinic_pk: ClinicMembership.objects.filter(
        user=user_id, is_active=True, clinic__is_active=True, clinic_id=clinic_pk
    ).values_list(*(name for path, model in _MEMBERSHIP_MODELS for name in model_columns(model, path))),
    user_id=int,
    clinic_pk=int,
)


def _own_membership(user, clinic_pk: int) -> ClinicMembership | None:
    """As ClinicMembership.objects.select_related("clinic__region").filter(user=user, is_active=True,
    clinic__is_active=True, clinic_id=clinic_pk).first()."""
    rows = _MEMBERSHIP.rows(user_id=user.pk, clinic_pk=clinic_pk)
    if not rows:
        return None
    values = iter(rows[0])
    membership, clinic, region = (model_from_row(model, values) for _path, model in _MEMBERSHIP_MODELS)
    clinic.region = region
    membership.clinic = clinic
    return membership


# An active clinic with its region and the role of the user's active membership of the clinic's organisation: at most
# one row (a clinic has one organisation, a user one membership of it), compiled once per process.
_ORGANISATION_CLINIC = PreparedQuery(
    lambda user_id, clinic_pk: Clinic.objects.filter(
        pk=clinic_pk,
        is_active=True,
        organisation__memberships__user=user_id,
        organisation__memberships__is_active=True,
    ).values_list(*model_columns(Clinic), *model_columns(Region, "region__"), "organisation__memberships__role"),
    user_id=int,
    clinic_pk=int,
)


def clinic_membership_for(user, clinic_pk: int) -> ClinicMembership:
    """The user's active membership of an active clinic, or 404.

    A user of the clinic's umbrella organisation (OrganisationMembership) is a member of each of its active clinics
    with the organisation role: an unsaved membership, as an API key's is. The user's own membership of the clinic
    comes first (a local administrator stays one)."""
    membership = _own_membership(user, clinic_pk)
    if membership is not None:
        return membership
    rows = _ORGANISATION_CLINIC.rows(user_id=user.pk, clinic_pk=clinic_pk)
    if not rows:
        raise Http404
    values = iter(rows[0])
    clinic = model_from_row(Clinic, values)
    clinic.region = model_from_row(Region, values)
    membership = ClinicMembership(user=user, clinic=clinic, role=next(values), is_active=True)
    membership.organisation_id = clinic.organisation_id
    return membership


# Which of a clinic's roles may open each kind of clinic page. A page says its kind; the default (clinic_view())
# is the clinic's work, so that a new page is closed to the read-only roles until it says otherwise.
CLINIC_ROLES = {
    Access.CLINIC: frozenset({ClinicRole.LOCAL_ADMIN, ClinicRole.BILLER}),
    Access.CLINIC_FINANCE: frozenset({ClinicRole.LOCAL_ADMIN, ClinicRole.BILLER, ClinicRole.FINANCE}),
    Access.CLINIC_ANY: frozenset(ClinicRole),
    Access.CLINIC_AGREEMENT: frozenset({ClinicRole.LOCAL_ADMIN, ClinicRole.AGREEMENT_OWNER}),
    Access.CLINIC_ADMIN: frozenset({ClinicRole.LOCAL_ADMIN}),
}


def clinic_view(*, admin: bool = False, access: str | None = None) -> Callable[[Callable], Callable]:
    """For pages under /klinik/<clinic_pk>/: sets request.clinic, request.region, request.membership.

    `access` is one of the Access.CLINIC* kinds (CLINIC_ROLES): a member whose role may not open it gets 403.
    `admin=True` is Access.CLINIC_ADMIN (the local administrators' pages)."""
    kind = access or (Access.CLINIC_ADMIN if admin else Access.CLINIC)
    allowed = CLINIC_ROLES[kind]

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, clinic_pk: int, *args, **kwargs):
            membership = clinic_membership_for(request.user, clinic_pk)
            if membership.role not in allowed:
                raise PermissionDenied
            request.membership = membership
            request.clinic = membership.clinic
            request.region = membership.clinic.region
            return view(request, *args, **kwargs)

        return _mark(_login_required(wrapper), kind)

    return decorator


def clinic_role_may(role: str, kind: str) -> bool:
    """Whether a clinic role may open a kind of clinic page (for menus and buttons: the decorator decides)."""
    return role in CLINIC_ROLES[kind]


# An organisation page's two reads, compiled once per process: the user's active membership of the organisation
# with the organisation and its region (at most one row: organisation_membership_unique), and the organisation's
# active clinics by number.
_ORGANISATION_MODELS = (OrganisationMembership, Organisation, Region)
_ORGANISATION_MEMBERSHIP = PreparedQuery(
    lambda user_id, organisation_pk: OrganisationMembership.objects.filter(
        user=user_id, is_active=True, organisation_id=organisation_pk
    ).values_list(
        *model_columns(OrganisationMembership),
        *model_columns(Organisation, "organisation__"),
        *model_columns(Region, "organisation__region__"),
    ),
    user_id=int,
    organisation_pk=int,
)
_ORGANISATION_CLINICS = PreparedQuery(
    lambda region_id, organisation_id: (
        Clinic.objects.of_region(region_id)
        .filter(organisation=organisation_id, is_active=True)
        .values_list(*model_columns(Clinic))
    ),
    region_id=int,
    organisation_id=int,
)


def organisation_view(view: Callable) -> Callable:
    """For pages under /organisation/<organisation_pk>/: the organisation's active users; 404 for everybody else.

    Sets request.organisation, request.organisation_membership and request.organisation_clinics (its active
    clinics, by number); request.clinic is None, and request.region is not set (the menu is the organisation's)."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, organisation_pk: int, *args, **kwargs):
        rows = _ORGANISATION_MEMBERSHIP.rows(user_id=request.user.pk, organisation_pk=organisation_pk)
        if not rows:
            raise Http404
        values = iter(rows[0])
        membership, organisation, region = (model_from_row(model, values) for model in _ORGANISATION_MODELS)
        organisation.region = region
        membership.organisation = organisation
        request.organisation = organisation
        request.organisation_membership = membership
        request.organisation_clinics = [
            model_from_row(Clinic, iter(row))
            for row in _ORGANISATION_CLINICS.rows(region_id=region.pk, organisation_id=organisation.pk)
        ]
        for clinic in request.organisation_clinics:
            clinic.region = region  # the organisation's region (of_region), read with it
        request.clinic = None
        return view(request, *args, **kwargs)

    return _mark(_login_required(wrapper), Access.ORGANISATION)


# The user's roles in a region with the region, read on every region page: compiled once per process
# (portal.db.PreparedQuery).
_REGION_MEMBERSHIPS = PreparedQuery(
    lambda user_id, region_code: RegionMembership.objects.filter(
        user=user_id, is_active=True, region__code=region_code
    ).values_list(*model_columns(RegionMembership), *model_columns(Region, "region__")),
    user_id=int,
    region_code=str,
)


def _region_memberships(user, region_code: str) -> list[RegionMembership]:
    """As list(RegionMembership.objects.select_related("region").filter(user=user, is_active=True,
    region__code=region_code))."""
    memberships = []
    for row in _REGION_MEMBERSHIPS.rows(user_id=user.pk, region_code=region_code):
        values = iter(row)
        membership = model_from_row(RegionMembership, values)
        membership.region = model_from_row(Region, values)
        memberships.append(membership)
    return memberships


def region_view(*, admin: bool = False) -> Callable[[Callable], Callable]:
    """For pages under /region/<region_code>/: coordinators and region admins of that region."""

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, region_code: str, *args, **kwargs):
            memberships = _region_memberships(request.user, region_code)
            if not memberships:
                raise Http404
            roles = {m.role for m in memberships}
            if admin and RegionRole.REGION_ADMIN not in roles:
                raise PermissionDenied
            preferred = RegionRole.REGION_ADMIN if admin else RegionRole.COORDINATOR
            request.membership = next((m for m in memberships if m.role == preferred), memberships[0])
            request.region = memberships[0].region
            request.region_roles = roles
            request.clinic = None
            return view(request, *args, **kwargs)

        return _mark(_login_required(wrapper), Access.REGION_OWN_ADMIN if admin else Access.REGION)

    return decorator


def is_region_admin(request: HttpRequest) -> bool:
    """Whether the person on a region_view page is one of the region's administrators (not only a coordinator)."""
    return RegionRole.REGION_ADMIN in request.region_roles


def system_admin_view(view: Callable) -> Callable:
    """For the systemadministratör's pages (the whole portal's service windows): 404 for everybody else."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        if not request.user.is_system_admin:
            raise Http404
        return view(request, *args, **kwargs)

    return _mark(_login_required(wrapper), Access.SYSTEM_ADMIN)
