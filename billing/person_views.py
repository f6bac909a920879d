"""Sök person: a patient's certificate, support forms, free cards and prior assessments, and the amount paid for
them this year — the eligibility and the claims read together, which is why it lives in the billing desk."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from claims.selectors import patient_paid_in_year
from eligibility import selectors as eligibility_selectors
from eligibility import services as eligibility_services
from eligibility.forms import FreeCardForm, PersonSearchForm
from portal.access import clinic_view
from portal.access_shown import AccessShown, AccessShownKind
from portal.audit import access_log_record
from portal.forms import add_service_errors


def _render_person(request: HttpRequest, search: PersonSearchForm, free_card_form: FreeCardForm | None = None):
    """The Sök person result: only ever rendered in answer to a POST, so no personnummer is in a URL."""
    pin = search.cleaned_data["personal_identity_number"]
    on_date = search.cleaned_data["on_date"]
    eligibility = eligibility_selectors.eligibility_for(
        personal_identity_number=pin, clinic=request.clinic, on_date=on_date
    )
    access_log_record(request=request, personal_identity_number=pin, shown=AccessShown(AccessShownKind.PERSON_SEARCH))
    free_card_form = free_card_form or FreeCardForm(initial={"personal_identity_number": pin})
    paid = patient_paid_in_year(region=request.region, personal_identity_number=pin, year=on_date.year)
    return render(
        request,
        "billing/person_search.html",
        {"form": search, "eligibility": eligibility, "free_card_form": free_card_form, "paid_this_year": paid},
    )


@clinic_view()
@require_http_methods(["GET", "POST"])
def person_search(request: HttpRequest) -> HttpResponse:
    form = PersonSearchForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        return _render_person(request, form)
    return render(request, "billing/person_search.html", {"form": form})


@clinic_view()
@require_POST
def free_card_register(request: HttpRequest) -> HttpResponse:
    form = FreeCardForm(request.POST)
    search = PersonSearchForm({"personal_identity_number": request.POST.get("personal_identity_number", "")})
    if not search.is_valid():
        return render(request, "billing/person_search.html", {"form": search})
    if form.is_valid():
        try:
            eligibility_services.free_card_register(actor=request.user, clinic=request.clinic, **form.cleaned_data)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Frikortet är registrerat."))
            return _render_person(request, search)
    return _render_person(request, search, free_card_form=form)
