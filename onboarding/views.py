"""Ansök om anslutning (public) and the region administrator's Ansökningar."""

from axes.helpers import get_client_ip_address
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from portal.access import public, region_view
from portal.forms import add_service_errors

from . import selectors, services
from .forms import ApplicationForm, ApproveForm, RejectForm
from .models import ApplicationState, ClinicApplication


@public
@require_http_methods(["GET", "POST"])
def apply(request: HttpRequest) -> HttpResponse:
    form = ApplicationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.application_submit(data=form.application_data(), address=get_client_ip_address(request))
        except ValidationError as error:
            if error.code == "throttled":
                return render(
                    request, "onboarding/apply.html", {"form": form, "throttled": error.messages[0]}, status=429
                )
            add_service_errors(form, error)
        else:
            request.session["onboarding_sent_to"] = form.cleaned_data["agreement_owner_email"]
            return redirect("application_sent")
    return render(request, "onboarding/apply.html", {"form": form})


@public
@require_GET
def apply_sent(request: HttpRequest) -> HttpResponse:
    return render(request, "onboarding/apply_sent.html", {"email": request.session.get("onboarding_sent_to", "")})


@public
@require_http_methods(["GET", "POST"])
def confirm(request: HttpRequest, token: str) -> HttpResponse:
    """The link in the confirmation e-mail: a page with a button, so that a mail scanner's GET changes nothing."""
    application = services.application_from_token(token)
    if request.method == "POST" and application is not None:
        application = services.application_confirm(application=application)
        return render(request, "onboarding/confirmed.html", {"application": application})
    return render(request, "onboarding/confirm.html", {"application": application})


@region_view(admin=True)
@require_GET
def region_applications(request: HttpRequest) -> HttpResponse:
    state = request.GET.get("status", ApplicationState.CONFIRMED)
    if state not in selectors.VISIBLE_STATES and state != "":
        state = ApplicationState.CONFIRMED
    return render(
        request,
        "onboarding/region_applications.html",
        {
            "applications": selectors.region_applications(region=request.region, state=state),
            "state": state,
            "states": [(value, ApplicationState(value).label) for value in selectors.VISIBLE_STATES],
        },
    )


def _application_or_404(request: HttpRequest, application_pk: int) -> ClinicApplication:
    try:
        return selectors.region_application_get(region=request.region, application_pk=application_pk)
    except ClinicApplication.DoesNotExist as missing:
        raise Http404 from missing


def _detail(request, application, *, approve_form=None, reject_form=None) -> HttpResponse:
    return render(
        request,
        "onboarding/region_application_detail.html",
        {
            "application": application,
            "approve_form": approve_form or ApproveForm(),
            "reject_form": reject_form or RejectForm(),
            "next_number": services.clinic_number_next(request.region),
            "open": application.state == ApplicationState.CONFIRMED,
        },
    )


@region_view(admin=True)
@require_GET
def region_application_detail(request: HttpRequest, application_pk: int) -> HttpResponse:
    return _detail(request, _application_or_404(request, application_pk))


@region_view(admin=True)
@require_POST
def region_application_approve(request: HttpRequest, application_pk: int) -> HttpResponse:
    application = _application_or_404(request, application_pk)
    form = ApproveForm(request.POST)
    if form.is_valid():
        try:
            clinic = services.application_approve(
                actor=request.user, application=application, clinic_number=form.cleaned_data["clinic_number"]
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(
                request,
                _(
                    "Ansökan är godkänd. Kliniken %(clinic)s är skapad och den lokala administratören och "
                    "avtalsansvariga har fått inbjudningar."
                )
                % {"clinic": clinic},
            )
            return redirect("region_applications", region_code=request.region.code)
    return _detail(request, application, approve_form=form)


@region_view(admin=True)
@require_POST
def region_application_reject(request: HttpRequest, application_pk: int) -> HttpResponse:
    application = _application_or_404(request, application_pk)
    form = RejectForm(request.POST)
    if form.is_valid():
        try:
            services.application_reject(actor=request.user, application=application, reason=form.cleaned_data["reason"])
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Ansökan är avslagen. Den sökande har fått skälet med e-post."))
            return redirect("region_applications", region_code=request.region.code)
    return _detail(request, application, reject_form=form)
