"""Planned maintenance: announce it three weeks ahead, answer 503 with Retry-After during it."""

from __future__ import annotations

import datetime
import math

from django.core.exceptions import ValidationError
from django.db import transaction
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _

from .audit import PortalAudit, audit_record, snapshot
from .models import ServiceWindow

# Seed 000: further service windows are announced three weeks before.
ANNOUNCE_AHEAD = datetime.timedelta(weeks=3)
# Reachable during a window, so that monitoring can tell "down for maintenance" from "broken".
EXEMPT_PATHS = ("/healthz",)
_FIELDS = ["starts_at", "ends_at", "message"]


def service_window_relevant(now: datetime.datetime | None = None) -> ServiceWindow | None:
    """The window in force now, else the next one within the announcement period."""
    now = now or timezone.now()
    return (
        ServiceWindow.objects.filter(ends_at__gt=now, starts_at__lte=now + ANNOUNCE_AHEAD).order_by("starts_at").first()
    )


class ServiceWindowMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path in EXEMPT_PATHS:
            return self.get_response(request)
        now = timezone.now()
        window = service_window_relevant(now)
        if window is not None and window.starts_at <= now:
            response = render(request, "503_service_window.html", {"window": window}, status=503)
            response["Retry-After"] = str(max(1, math.ceil((window.ends_at - now).total_seconds())))
            return response
        request.upcoming_service_window = window
        return self.get_response(request)


def service_window_check(
    starts_at: datetime.datetime, ends_at: datetime.datetime, exclude_pk: int | None = None
) -> None:
    """The rules for a window: it ends after it starts and overlaps no other. Errors are keyed by field."""
    if ends_at <= starts_at:
        raise ValidationError({"ends_at": _("Slutet måste ligga efter början.")})
    overlapping = ServiceWindow.objects.filter(starts_at__lt=ends_at, ends_at__gt=starts_at)
    if exclude_pk:
        overlapping = overlapping.exclude(pk=exclude_pk)
    if overlapping.exists():
        raise ValidationError({"starts_at": _("Servicefönstret överlappar ett annat servicefönster.")})


@transaction.atomic
def service_window_schedule(
    *, actor, starts_at: datetime.datetime, ends_at: datetime.datetime, message: str
) -> ServiceWindow:
    service_window_check(starts_at, ends_at)
    window = ServiceWindow.objects.create(
        starts_at=starts_at, ends_at=ends_at, message=message.strip(), created_by=actor
    )
    audit_record(actor=actor, action=PortalAudit.SERVICE_WINDOW_SCHEDULED, obj=window, after=snapshot(window, _FIELDS))
    return window


@transaction.atomic
def service_window_cancel(*, actor, window: ServiceWindow) -> None:
    window = ServiceWindow.objects.select_for_update().get(pk=window.pk)
    audit_record(actor=actor, action=PortalAudit.SERVICE_WINDOW_CANCELLED, obj=window, before=snapshot(window, _FIELDS))
    window.delete()


@transaction.atomic
def service_window_end_now(*, actor=None, window: ServiceWindow) -> ServiceWindow:
    """End a running window early (the pages are closed, so this runs from `manage.py`)."""
    window = ServiceWindow.objects.select_for_update().get(pk=window.pk)
    before = snapshot(window, _FIELDS)
    now = timezone.now()
    if window.ends_at <= now:
        return window
    window.ends_at = max(now, window.starts_at + datetime.timedelta(microseconds=1))
    window.save(update_fields=["ends_at"])
    audit_record(
        actor=actor, action=PortalAudit.SERVICE_WINDOW_ENDED, obj=window, before=before, after=snapshot(window, _FIELDS)
    )
    return window
