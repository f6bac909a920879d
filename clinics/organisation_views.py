"""The region administrator's *Organisationer*: umbrella organisations (paraplyorganisationer), their clinics and
users. Kept apart from the clinic pages so that each can change on its own."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from portal.access import region_view
from portal.forms import add_service_errors

from . import selectors, services
from .forms import OrganisationClinicsForm, OrganisationForm, OrganisationMemberForm
from .models import Organisation


@region_view(admin=True)
@require_http_methods(["GET", "POST"])
def region_organisations(request: HttpRequest) -> HttpResponse:
    """The region's umbrella organisations, and a new one."""
    form = OrganisationForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            organisation = services.organisation_create(actor=request.user, region=request.region, **form.cleaned_data)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Paraplyorganisationen är skapad. Välj dess kliniker."))
            return redirect("region_organisation", region_code=request.region.code, organisation_pk=organisation.pk)
    organisations = selectors.region_organisations(region=request.region)
    return render(request, "clinics/region_organisations.html", {"organisations": organisations, "form": form})


def _organisation(request: HttpRequest, organisation_pk: int) -> Organisation:
    try:
        return selectors.region_organisation_get(region=request.region, organisation_pk=organisation_pk)
    except Organisation.DoesNotExist:
        raise Http404 from None


@region_view(admin=True)
@require_http_methods(["GET", "POST"])
def region_organisation(request: HttpRequest, organisation_pk: int) -> HttpResponse:
    """One organisation: which of the region's clinics it holds, and its users (a role at all its clinics)."""
    organisation = _organisation(request, organisation_pk)
    region_clinics = selectors.region_clinics(region=request.region)
    posted = request.POST if request.method == "POST" else None
    action = request.POST.get("action") if posted else None
    clinics_form = OrganisationClinicsForm(
        posted if action == "clinics" else None,
        clinics=region_clinics,
        initial={"clinics": list(organisation.clinics.all())},
    )
    member_form = OrganisationMemberForm(posted if action == "member" else None)
    here = redirect("region_organisation", region_code=request.region.code, organisation_pk=organisation.pk)
    if action == "clinics" and clinics_form.is_valid():
        try:
            services.organisation_clinics_set(
                actor=request.user, organisation=organisation, clinics=clinics_form.cleaned_data["clinics"]
            )
        except ValidationError as error:
            add_service_errors(clinics_form, error)
        else:
            messages.success(request, _("Organisationens kliniker är sparade."))
            return here
    if action == "member" and member_form.is_valid():
        try:
            services.organisation_member_add(actor=request.user, organisation=organisation, **member_form.cleaned_data)
        except ValidationError as error:
            add_service_errors(member_form, error)
        else:
            messages.success(request, _("Användaren arbetar nu för alla organisationens kliniker."))
            return here
    context = {
        "organisation": organisation,
        "clinics_form": clinics_form,
        "member_form": member_form,
        "memberships": selectors.organisation_memberships(organisation=organisation),
    }
    return render(request, "clinics/region_organisation.html", context)


@region_view(admin=True)
@require_POST
def region_organisation_member_remove(request: HttpRequest, organisation_pk: int, organisation_membership_pk: int):
    organisation = _organisation(request, organisation_pk)
    membership = (
        selectors.organisation_memberships(organisation=organisation).filter(pk=organisation_membership_pk).first()
    )
    if membership is None:
        raise Http404
    services.organisation_member_remove(actor=request.user, membership=membership)
    messages.success(request, _("Användaren är borttagen från organisationen."))
    return redirect("region_organisation", region_code=request.region.code, organisation_pk=organisation.pk)
