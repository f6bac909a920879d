"""Planned maintenance per region: announce it three weeks ahead, answer 503 with Retry-After during it.

A window belongs to one region (its administrators plan it) or, without a region, to the whole portal (only a
systemadministratör plans those). During a region's window the pages of the region and of its clinics answer 503;
a portal-wide window closes every page. Logging in and out, /healthz, static files and the service-window pages
themselves stay open, so that an administrator can end a window early (*Avsluta nu*).
"""

from __future__ import annotations

import datetime
import math
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.shortcuts import render
from django.urls import Resolver404, resolve
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from clinics.models import Clinic, ClinicMembership, Organisation, OrganisationMembership, Region, RegionMembership

from .audit import PortalAudit, audit_record, snapshot
from .db import PreparedQuery
from .models import Recurrence, ServiceWindow

# Seed 000: further service windows are announced three weeks before.
ANNOUNCE_AHEAD = datetime.timedelta(weeks=3)
# A window starting sooner than this closes pages before users have seen the banner: it needs a confirmation.
CONFIRM_WITHIN = datetime.timedelta(hours=1)
CONFIRM_SOON = gettext_lazy(
    "Servicefönstret börjar inom en timme och stänger sidorna direkt. Bekräfta att det ska börja så snart."
)
# How far ahead two windows are compared for overlap (a weekly series against another window).
OVERLAP_HORIZON = datetime.timedelta(weeks=53)
# Open during every window: logging in and out, monitoring, choosing the language, and the service-window pages
# (the view itself decides who may use them), so that a window can be ended from the web.
OPEN_URL_NAMES = frozenset(
    {
        "login",
        "logout",
        "password_set",
        "healthz",
        "readyz",
        "metrics",
        "set_language",
        "service_windows",
        "service_window_delete",
        "service_window_end",
        "region_service_windows",
        "region_service_window_delete",
        "region_service_window_end",
    }
)
# Not even asked of the database: monitoring must tell "down for maintenance" from "database down".
UNTOUCHED_URL_NAMES = frozenset({"healthz", "readyz", "metrics"})
_FIELDS = [
    "region",
    "recurrence",
    "starts_at",
    "ends_at",
    "weekday",
    "start_time",
    "end_time",
    "ended_occurrence_starts_at",
    "message",
]


def _near(now: datetime.datetime, horizon: datetime.datetime):
    return ServiceWindow.objects.not_over(now).filter(starts_at__lte=horizon).values_list("pk")[:1]


# Whether any window has an occurrence to come before `horizon` (portal.db.PreparedQuery).
_ANY_NEAR = PreparedQuery(
    _near,
    now=datetime.datetime,
    horizon=datetime.datetime,
)


@dataclass(frozen=True)
class Occurrence:
    """One time a window closes its pages: the only occurrence of a one-off window, or one week's of a series."""

    window: ServiceWindow
    starts_at: datetime.datetime
    ends_at: datetime.datetime

    @property
    def message(self) -> str:
        return self.window.message

    @property
    def region(self) -> Region | None:
        return self.window.region

    def running(self, now: datetime.datetime) -> bool:
        return self.starts_at <= now < self.ends_at

    @property
    def is_running(self) -> bool:
        return self.running(timezone.now())


def service_window_occurrences(
    now: datetime.datetime | None = None,
    *,
    windows=None,
    ahead: datetime.timedelta = ANNOUNCE_AHEAD,
    with_regions: bool = True,
) -> list[Occurrence]:
    """The running or next occurrence of each window (all, or `windows`) that starts within `ahead`, in order.

    `with_regions=False` leaves the windows' regions unread (their ids are there): for the API, which names none."""
    now = now or timezone.now()
    if windows is None:
        # Asked on every request, and nearly always there is none: first that, compiled once.
        if not _ANY_NEAR.rows(now=now, horizon=now + ahead):
            return []
        windows = ServiceWindow.objects.not_over(now).filter(starts_at__lte=now + ahead)
        windows = windows.select_related("region") if with_regions else windows
    found = []
    for window in windows:
        occurrence = window.occurrence(now)
        if occurrence is not None and occurrence[0] <= now + ahead:
            found.append(Occurrence(window, *occurrence))
    return sorted(found, key=lambda occurrence: (occurrence.starts_at, occurrence.window.pk))


def service_window_relevant(
    now: datetime.datetime | None = None, *, region_ids=frozenset(), occurrences: list[Occurrence] | None = None
) -> list[Occurrence]:
    """The occurrences running or announced for the whole portal and for the regions `region_ids`."""
    if occurrences is None:
        occurrences = service_window_occurrences(now)
    return [o for o in occurrences if o.window.region_id is None or o.window.region_id in region_ids]


def _page_region_id(match, occurrences: list[Occurrence]) -> int | None:
    """The region a clinic's or region's page belongs to. Asked of the database only when one is needed."""
    if match is None:
        return None
    if "region_code" in match.kwargs:
        code = match.kwargs["region_code"]
        known = {o.window.region.code: o.window.region_id for o in occurrences if o.window.region_id is not None}
        return known.get(code) or Region.objects.filter(code=code).values_list("pk", flat=True).first()
    if "clinic_pk" in match.kwargs:
        return Clinic.objects.filter(pk=match.kwargs["clinic_pk"]).values_list("region_id", flat=True).first()
    if "organisation_pk" in match.kwargs:  # an umbrella organisation's pages close with its region's
        return (
            Organisation.objects.filter(pk=match.kwargs["organisation_pk"]).values_list("region_id", flat=True).first()
        )
    return None


def user_region_ids(user) -> set[int]:
    """The regions a user works in: of their clinics and their region memberships (for the banner)."""
    if not getattr(user, "is_authenticated", False):
        return set()
    clinics = ClinicMembership.objects.filter(user=user, is_active=True).values_list("clinic__region_id", flat=True)
    regions = RegionMembership.objects.filter(user=user, is_active=True).values_list("region_id", flat=True)
    organisations = OrganisationMembership.objects.filter(user=user, is_active=True).values_list(
        "organisation__region_id", flat=True
    )
    return set(clinics.union(regions, organisations))


API_PATH_PREFIX = "/api/"


class ServiceWindowMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith(f"/{settings.STATIC_URL.lstrip('/')}"):
            return self.get_response(request)
        # The API names no clinic in its URLs: it refuses a call during the window of its key's region (or of the
        # whole portal) itself, as problem+json (billing/api/views.py).
        if request.path.startswith(API_PATH_PREFIX):
            return self.get_response(request)
        try:
            match = resolve(request.path_info)
        except Resolver404:
            match = None
        if match is not None and match.url_name in UNTOUCHED_URL_NAMES:
            return self.get_response(request)
        now = timezone.now()
        occurrences = service_window_occurrences(now)
        page_region_id = None
        if any(o.window.region_id is not None for o in occurrences):
            page_region_id = _page_region_id(match, occurrences)
        request.service_window_occurrences = occurrences
        request.service_window_region_id = page_region_id
        if match is not None and match.url_name in OPEN_URL_NAMES:
            return self.get_response(request)
        region_ids = {page_region_id} if page_region_id else set()
        running = [
            o for o in service_window_relevant(now, region_ids=region_ids, occurrences=occurrences) if o.running(now)
        ]
        if running:
            closing = max(running, key=lambda occurrence: occurrence.ends_at)
            response = render(request, "503_service_window.html", {"window": closing}, status=503)
            response["Retry-After"] = str(max(1, math.ceil((closing.ends_at - now).total_seconds())))
            return response
        return self.get_response(request)


def service_window_banner(request) -> list[Occurrence]:
    """What the banner shows: the windows of the portal, of the page's region and of the user's regions."""
    occurrences = getattr(request, "service_window_occurrences", None)
    if not occurrences:
        return []
    region_ids = set()
    if any(o.window.region_id is not None for o in occurrences):
        region_ids = user_region_ids(getattr(request, "user", None))
        if request.service_window_region_id:
            region_ids.add(request.service_window_region_id)
    return service_window_relevant(region_ids=region_ids, occurrences=occurrences)


# Planning ----------------------------------------------------------------------------------------------------


def service_window_check(window: ServiceWindow, *, now: datetime.datetime, confirmed: bool) -> None:
    """The rules for a window, with the errors keyed by field: its end after its start, never in the past, a
    start within the hour only when confirmed, and no overlap with another window of the same region."""
    if window.recurrence == Recurrence.WEEKLY:
        if window.start_time == window.end_time:
            raise ValidationError({"end_time": _("Slutet måste ligga efter början.")})
    else:
        if window.ends_at <= window.starts_at:
            raise ValidationError({"ends_at": _("Slutet måste ligga efter början.")})
        # A start typed for the current minute is "now", not the past.
        if window.starts_at < now.replace(second=0, microsecond=0):
            raise ValidationError({"starts_at": _("Servicefönstret kan inte börja i det förflutna.")})
    if window.starts_at < now + CONFIRM_WITHIN and not confirmed:
        raise ValidationError({"confirm_soon": str(CONFIRM_SOON)})
    others = ServiceWindow.objects.not_over(now)
    others = others.of_region(window.region) if window.region_id else others.portal_wide()
    if window.pk:
        others = others.exclude(pk=window.pk)
    horizon = now + OVERLAP_HORIZON
    mine = window.occurrences(now, horizon)
    for other in others:
        for start, end in other.occurrences(now, horizon):
            if any(start < my_end and my_start < end for my_start, my_end in mine):
                field = "start_time" if window.recurrence == Recurrence.WEEKLY else "starts_at"
                raise ValidationError({field: _("Servicefönstret överlappar ett annat servicefönster.")})


def _first_weekly(window: ServiceWindow, now: datetime.datetime) -> datetime.datetime:
    """The start of a new weekly series' first occurrence: the next one that has not begun (this minute counts)."""
    probe = ServiceWindow(
        recurrence=Recurrence.WEEKLY,
        weekday=window.weekday,
        start_time=window.start_time,
        end_time=window.end_time,
        starts_at=now.replace(second=0, microsecond=0),
    )
    start, end = probe.occurrence(probe.starts_at)
    if start < probe.starts_at:  # running now: the series starts next week
        start, end = probe.occurrence(end)
    return start


@transaction.atomic
def service_window_schedule(
    *,
    actor,
    region: Region | None,
    message: str,
    recurrence: str = Recurrence.ONCE,
    starts_at: datetime.datetime | None = None,
    ends_at: datetime.datetime | None = None,
    weekday: int | None = None,
    start_time: datetime.time | None = None,
    end_time: datetime.time | None = None,
    confirmed: bool = False,
    now: datetime.datetime | None = None,
) -> ServiceWindow:
    """Plan a window of `region` (None: the whole portal, for a systemadministratör only).

    Once: `starts_at`–`ends_at`. Weekly: every `weekday` `start_time`–`end_time`, Swedish time, from the next
    such day on."""
    now = now or timezone.now()
    if region is None and not getattr(actor, "is_system_admin", False):
        raise ValidationError(_("Bara en systemadministratör kan planera ett servicefönster för hela portalen."))
    window = ServiceWindow(region=region, recurrence=recurrence, message=message.strip(), created_by=actor)
    if recurrence == Recurrence.WEEKLY:
        window.weekday, window.start_time, window.end_time = weekday, start_time, end_time
        if start_time != end_time:
            window.starts_at = _first_weekly(window, now)
    else:
        window.starts_at, window.ends_at = starts_at, ends_at
    service_window_check(window, now=now, confirmed=confirmed)
    window.save()
    audit_record(
        actor=actor,
        action=PortalAudit.SERVICE_WINDOW_SCHEDULED,
        obj=window,
        after=snapshot(window, _FIELDS),
        region=region,
    )
    return window


@transaction.atomic
def service_window_cancel(*, actor, window: ServiceWindow) -> None:
    """Remove a window; for a weekly window the whole series."""
    window = ServiceWindow.objects.select_for_update().get(pk=window.pk)
    audit_record(
        actor=actor,
        action=PortalAudit.SERVICE_WINDOW_CANCELLED,
        obj=window,
        before=snapshot(window, _FIELDS),
        region=window.region,
    )
    window.delete()


@transaction.atomic
def service_window_end_now(*, actor=None, window: ServiceWindow, now: datetime.datetime | None = None) -> bool:
    """*Avsluta nu*: open the pages again before the running occurrence's planned end. A one-off window ends
    now; of a weekly series only the running occurrence ends, and the series goes on the next week.
    False when no occurrence of the window is running."""
    window = ServiceWindow.objects.select_for_update(of=("self",)).select_related("region").get(pk=window.pk)
    now = now or timezone.now()
    occurrence = window.occurrence(now)
    if occurrence is None or occurrence[0] > now:
        return False
    before = snapshot(window, _FIELDS)
    if window.recurrence == Recurrence.WEEKLY:
        window.ended_occurrence_starts_at = occurrence[0]
        window.save(update_fields=["ended_occurrence_starts_at"])
    else:
        window.ends_at = max(now, window.starts_at + datetime.timedelta(microseconds=1))
        window.save(update_fields=["ends_at"])
    audit_record(
        actor=actor,
        action=PortalAudit.SERVICE_WINDOW_ENDED,
        obj=window,
        before=before,
        after=snapshot(window, _FIELDS),
        region=window.region,
    )
    return True
