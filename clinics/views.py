"""Clinic start page and Klinikadministration; the region's rules and clinics."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from portal.access import clinic_view, region_view
from portal.forms import add_service_errors

from . import selectors, services
from .forms import ClinicDetailsForm, NewUserForm, RoleForm
from .models import ClinicMembership


@clinic_view()
@require_GET
def clinic_start(request: HttpRequest) -> HttpResponse:
    return render(request, "clinics/start.html")


@clinic_view(admin=True)
@require_GET
def administration(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "clinics/administration.html",
        {"memberships": selectors.clinic_memberships(clinic=request.clinic)},
    )


@clinic_view(admin=True)
@require_http_methods(["GET", "POST"])
def details_edit(request: HttpRequest) -> HttpResponse:
    form = ClinicDetailsForm(request.POST or None, instance=request.clinic)
    if request.method == "POST" and form.is_valid():
        try:
            services.clinic_update_details(
                actor=request.user, clinic=request.clinic, **{f: form.cleaned_data[f] for f in form.Meta.fields}
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Klinikens uppgifter är sparade."))
            return redirect("clinic_administration", clinic_pk=request.clinic.pk)
    return render(request, "clinics/details_form.html", {"form": form})


@clinic_view(admin=True)
@require_http_methods(["GET", "POST"])
def user_new(request: HttpRequest) -> HttpResponse:
    form = NewUserForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            membership = services.membership_invite(actor=request.user, clinic=request.clinic, **form.cleaned_data)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(
                request, _("%(name)s har lagts till och får ett e-postmeddelande.") % {"name": membership.user}
            )
            return redirect("clinic_administration", clinic_pk=request.clinic.pk)
    return render(request, "clinics/user_new.html", {"form": form})


def _membership_or_404(request: HttpRequest, membership_pk: int) -> ClinicMembership:
    try:
        return selectors.clinic_membership_get(clinic=request.clinic, membership_pk=membership_pk)
    except ClinicMembership.DoesNotExist as missing:
        raise Http404 from missing


@clinic_view(admin=True)
@require_http_methods(["GET", "POST"])
def user_role(request: HttpRequest, membership_pk: int) -> HttpResponse:
    membership = _membership_or_404(request, membership_pk)
    form = RoleForm(request.POST or None, initial={"role": membership.role})
    if request.method == "POST" and form.is_valid():
        try:
            services.membership_change_role(actor=request.user, membership=membership, role=form.cleaned_data["role"])
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Rollen för %(name)s är ändrad.") % {"name": membership.user})
            return redirect("clinic_administration", clinic_pk=request.clinic.pk)
    return render(request, "clinics/user_role.html", {"form": form, "membership": membership})


@clinic_view(admin=True)
@require_http_methods(["GET", "POST"])
def user_remove(request: HttpRequest, membership_pk: int) -> HttpResponse:
    membership = _membership_or_404(request, membership_pk)
    errors: list[str] = []
    if request.method == "POST":
        try:
            services.membership_remove(actor=request.user, membership=membership)
        except ValidationError as error:
            errors = error.messages
        else:
            messages.success(
                request, _("%(name)s har inte längre behörighet till kliniken.") % {"name": membership.user}
            )
            if membership.user_id == request.user.pk:
                return redirect("home")
            return redirect("clinic_administration", clinic_pk=request.clinic.pk)
    return render(request, "clinics/user_remove.html", {"membership": membership, "errors": errors})


@region_view()
@require_GET
def region_clinics(request: HttpRequest) -> HttpResponse:
    """The region's rules and its clinics (the start page itself is reports.views.region_start)."""
    return render(request, "clinics/region_clinics.html", {"clinics": selectors.region_clinics(region=request.region)})
