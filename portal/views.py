"""Pages that belong to no single app: landing, choosing a clinic, health, support, service windows."""

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from clinics import selectors

from . import access
from .forms import ServiceWindowForm, add_service_errors
from .models import ServiceWindow
from .redis import redis_client
from .service_windows import service_window_cancel, service_window_end_now, service_window_schedule

logout = access.public(auth_views.LogoutView.as_view())


@access.authenticated
@never_cache
def home(request: HttpRequest) -> HttpResponse:
    """Send each user where their work is: one clinic or region → its start page; otherwise the chooser."""
    places = selectors.user_places(user=request.user)
    if len(places) == 1:
        return redirect(places[0].url)
    if not places and request.user.is_system_admin:
        return redirect("service_windows")
    return redirect("choose")


@access.authenticated
@require_GET
def choose(request: HttpRequest) -> HttpResponse:
    """Välj klinik: every clinic and region the user may work for."""
    places = selectors.user_places(user=request.user)
    return render(request, "portal/choose.html", {"places": places})


@access.public
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness, for a process supervisor: the process answers. Asks nothing else (no database, no Redis), so a
    database outage never gets the web servers restarted; readiness is /readyz."""
    return JsonResponse({"status": "ok"})


@access.public
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness, for a load balancer: may this server take requests? The database answers, Redis answers and
    every migration of this code is applied; 200, or 503 naming what failed."""
    checks = {"database": _check_database(), "redis": _check_redis(), "migrations": _check_migrations()}
    ready = all(value == "ok" for value in checks.values())
    return JsonResponse({"status": "ok" if ready else "fel", **checks}, status=200 if ready else 503)


def _check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return "ok"
    except Exception:  # any failure means "down" to a health check
        return "nere"


def _check_redis() -> str:
    try:
        redis_client(socket_timeout=2).ping()
        return "ok"
    except Exception:  # any failure means "down" to a health check
        return "nere"


# Once every migration of this code is applied it stays so for the life of the process (a new release is a new
# process), so the migration graph is read until then, not on every probe.
_migrations_applied = False


def _check_migrations() -> str:
    """ "ok" when the database has every migration this code has; "saknas" when some are missing (the new release
    started before its migrate step ran); "nere" when the database could not be asked."""
    global _migrations_applied
    if _migrations_applied:
        return "ok"
    try:
        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except Exception:  # the database is down: _check_database says so too
        return "nere"
    if pending:
        return "saknas"
    _migrations_applied = True
    return "ok"


@access.authenticated
@require_GET
def support(request: HttpRequest) -> HttpResponse:
    regions = selectors.user_regions(user=request.user)
    return render(request, "portal/support.html", {"regions": regions})


# Service windows: a region's, planned by its region administrators, and the whole portal's, by a
# systemadministratör. The pages stay open during a window (portal.service_windows.OPEN_URL_NAMES).


def _service_windows_page(request: HttpRequest, *, region, windows, here: str) -> HttpResponse:
    form = ServiceWindowForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            service_window_schedule(actor=request.user, region=region, **form.schedule_arguments())
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Servicefönstret är planerat."))
            return redirect(here)
    now = timezone.now()
    rows = [(window, window.occurrence(now)) for window in windows.not_over(now).select_related("created_by")]
    rows = [(window, occurrence, occurrence[0] <= now) for window, occurrence in rows if occurrence is not None]
    return render(request, "portal/service_windows.html", {"form": form, "rows": rows, "region": region, "here": here})


def _service_window_end(request: HttpRequest, window, here: str) -> HttpResponse:
    if service_window_end_now(actor=request.user, window=window):
        messages.success(request, _("Servicefönstret är avslutat. Sidorna är öppna igen."))
    else:
        messages.error(request, _("Servicefönstret pågår inte."))
    return redirect(here)


@access.region_view(admin=True)
@require_http_methods(["GET", "POST"])
def region_service_windows(request: HttpRequest) -> HttpResponse:
    region = request.region
    return _service_windows_page(
        request,
        region=region,
        windows=ServiceWindow.objects.of_region(region),
        here=reverse("region_service_windows", kwargs={"region_code": region.code}),
    )


@access.region_view(admin=True)
@require_POST
def region_service_window_delete(request: HttpRequest, window_pk: int) -> HttpResponse:
    window = get_object_or_404(ServiceWindow.objects.of_region(request.region), pk=window_pk)
    service_window_cancel(actor=request.user, window=window)
    messages.success(request, _("Servicefönstret är borttaget."))
    return redirect("region_service_windows", region_code=request.region.code)


@access.region_view(admin=True)
@require_POST
def region_service_window_end(request: HttpRequest, window_pk: int) -> HttpResponse:
    window = get_object_or_404(ServiceWindow.objects.of_region(request.region), pk=window_pk)
    return _service_window_end(
        request, window, reverse("region_service_windows", kwargs={"region_code": request.region.code})
    )


@access.system_admin_view
@require_http_methods(["GET", "POST"])
def service_windows(request: HttpRequest) -> HttpResponse:
    """The whole portal's windows: every page closes during one (except those that stay open)."""
    return _service_windows_page(
        request, region=None, windows=ServiceWindow.objects.portal_wide(), here=reverse("service_windows")
    )


@access.system_admin_view
@require_POST
def service_window_delete(request: HttpRequest, portal_window_pk: int) -> HttpResponse:
    window = get_object_or_404(ServiceWindow.objects.portal_wide(), pk=portal_window_pk)
    service_window_cancel(actor=request.user, window=window)
    messages.success(request, _("Servicefönstret är borttaget."))
    return redirect("service_windows")


@access.system_admin_view
@require_POST
def service_window_end(request: HttpRequest, portal_window_pk: int) -> HttpResponse:
    window = get_object_or_404(ServiceWindow.objects.portal_wide(), pk=portal_window_pk)
    return _service_window_end(request, window, reverse("service_windows"))


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    return render(request, "403_csrf.html", status=403)
