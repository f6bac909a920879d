"""Uppsägning (issue 15): the clinic's avtalsansvarig or local administrator, or the region, gives the clinic notice
with an end date, and may withdraw it until then. The daily job closes the clinic (clinics.tasks)."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from portal.access import Access, clinic_view, region_view
from portal.forms import add_service_errors

from . import selectors, services
from .forms import TerminationForm
from .models import Clinic


def _clinic_termination_view(view: Callable) -> Callable:
    """A clinic page for its avtalsansvarig and local administrators (services.TERMINATION_CLINIC_ROLES): the same
    roles as Access.CLINIC_AGREEMENT's; other roles of the clinic get 403."""
    return clinic_view(access=Access.CLINIC_AGREEMENT)(view)


def _page(request: HttpRequest, clinic: Clinic, form: TerminationForm, template: str, **extra) -> HttpResponse:
    terminations = selectors.clinic_terminations(clinic=clinic)
    active = next((t for t in terminations if t.state == "given"), None)
    return render(
        request,
        template,
        {"clinic": clinic, "form": form, "active": active, "terminations": terminations, **extra},
    )


def _give(request: HttpRequest, clinic: Clinic, form: TerminationForm) -> bool:
    if not form.is_valid():
        return False
    try:
        termination = services.termination_give(
            actor=request.user, clinic=clinic, ends_on=form.cleaned_data["ends_on"], reason=form.cleaned_data["reason"]
        )
    except ValidationError as error:
        add_service_errors(form, error)
        return False
    messages.success(
        request,
        _(
            "Kliniken är uppsagd med slutdatum %(end)s. Räkningar för vård till och med den dagen kan skickas in "
            "till och med %(last)s."
        )
        % {"end": termination.ends_on.isoformat(), "last": termination.last_billing_on.isoformat()},
    )
    return True


def _withdraw(request: HttpRequest, clinic: Clinic) -> None:
    active = services.termination_active(clinic)
    if active is None:
        messages.error(request, _("Kliniken har ingen uppsägning att återkalla."))
        return
    try:
        services.termination_withdraw(actor=request.user, termination=active)
    except ValidationError as error:
        for message in error.messages:
            messages.error(request, message)
    else:
        messages.success(request, _("Uppsägningen är återkallad. Kliniken fortsätter som förut."))


@_clinic_termination_view
@require_http_methods(["GET", "POST"])
def termination(request: HttpRequest) -> HttpResponse:
    form = TerminationForm(request.POST or None)
    if request.method == "POST" and _give(request, request.clinic, form):
        return redirect("clinic_termination", clinic_pk=request.clinic.pk)
    return _page(request, request.clinic, form, "clinics/termination.html")


@_clinic_termination_view
@require_POST
def termination_withdraw(request: HttpRequest) -> HttpResponse:
    _withdraw(request, request.clinic)
    return redirect("clinic_termination", clinic_pk=request.clinic.pk)


@clinic_view(access=Access.CLINIC_ANY)
@require_http_methods(["GET", "POST"])
def leave(request: HttpRequest) -> HttpResponse:
    """Lämna kliniken: a user gives up their own access; not the last local administrator of a running clinic."""
    errors: list[str] = []
    if request.method == "POST":
        try:
            services.membership_leave(actor=request.user, membership=request.membership)
        except ValidationError as error:
            errors = error.messages
        else:
            messages.success(request, _("Du har lämnat %(clinic)s.") % {"clinic": request.clinic})
            return redirect("home")
    return render(request, "clinics/leave.html", {"errors": errors})


def _region_clinic(request: HttpRequest, clinic_number: str) -> Clinic:
    try:
        return selectors.region_clinic_get(region=request.region, number=clinic_number)
    except Clinic.DoesNotExist as missing:
        raise Http404 from missing


@region_view()
@require_http_methods(["GET", "POST"])
def region_termination(request: HttpRequest, clinic_number: str) -> HttpResponse:
    clinic = _region_clinic(request, clinic_number)
    form = TerminationForm(request.POST or None)
    if request.method == "POST" and _give(request, clinic, form):
        return redirect("region_clinic_termination", region_code=request.region.code, clinic_number=clinic.number)
    return _page(request, clinic, form, "clinics/region_termination.html")


@region_view()
@require_POST
def region_termination_withdraw(request: HttpRequest, clinic_number: str) -> HttpResponse:
    clinic = _region_clinic(request, clinic_number)
    _withdraw(request, clinic)
    return redirect("region_clinic_termination", region_code=request.region.code, clinic_number=clinic.number)
