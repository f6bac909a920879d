"""Avtal: the clinic's page (sign the version in force, see every signature) and the region's (publish versions,
see which clinics signed)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from portal.access import Access, clinic_role_may, clinic_view, is_region_admin, region_view
from portal.forms import add_service_errors
from portal.middleware import FORM_OVERHEAD_BYTES, max_body
from portal.uploads import MAX_ATTACHMENT_BYTES, safe_download_name

from . import selectors, services
from .forms import AgreementPublishForm
from .models import AgreementVersion


def _file_response(version: AgreementVersion) -> FileResponse:
    if not version.file:
        raise Http404
    try:
        handle = version.file.open("rb")
    except FileNotFoundError as missing:
        raise Http404 from missing
    response = FileResponse(
        handle, as_attachment=True, filename=safe_download_name(version.original_name), content_type="application/pdf"
    )
    response["X-Content-Type-Options"] = "nosniff"
    return response


# The clinic --------------------------------------------------------------------------------------------------


@clinic_view(access=Access.CLINIC_ANY)
@require_GET
def clinic_agreements(request: HttpRequest) -> HttpResponse:
    standing = selectors.agreement_standing(clinic=request.clinic, today=timezone.localdate())
    return render(
        request,
        "agreements/clinic.html",
        {
            "standing": standing,
            "signatures": selectors.clinic_signatures(clinic=request.clinic),
            "may_sign": clinic_role_may(request.membership.role, Access.CLINIC_AGREEMENT),
        },
    )


def _clinic_version(request: HttpRequest, agreement_pk: int) -> AgreementVersion:
    return get_object_or_404(AgreementVersion.objects.of_region(request.region), pk=agreement_pk)


@clinic_view(access=Access.CLINIC_AGREEMENT)
@require_POST
def clinic_agreement_sign(request: HttpRequest, agreement_pk: int) -> HttpResponse:
    version = _clinic_version(request, agreement_pk)
    try:
        services.agreement_sign(actor=request.user, clinic=request.clinic, version=version)
    except ValidationError as error:
        for message in error.messages:
            messages.error(request, message)
    else:
        messages.success(
            request,
            _("Avtalet %(title)s (version %(number)s) är signerat.")
            % {"title": version.title, "number": version.number},
        )
    return redirect("clinic_agreements", clinic_pk=request.clinic.pk)


@clinic_view(access=Access.CLINIC_ANY)
@require_GET
def clinic_agreement_file(request: HttpRequest, agreement_pk: int) -> FileResponse:
    return _file_response(_clinic_version(request, agreement_pk))


# The region --------------------------------------------------------------------------------------------------


@region_view()
@require_GET
def region_agreements(request: HttpRequest) -> HttpResponse:
    versions = selectors.region_versions(region=request.region)
    current = next((v for v in versions if v.valid_from <= timezone.localdate()), None)
    return render(
        request,
        "agreements/region/list.html",
        {
            "versions": versions,
            "current": current,
            "rows": selectors.version_signatures(region=request.region, version=current) if current else [],
            "may_publish": is_region_admin(request),
        },
    )


@max_body(MAX_ATTACHMENT_BYTES + FORM_OVERHEAD_BYTES)
@region_view(admin=True)
@require_http_methods(["GET", "POST"])
def region_agreement_new(request: HttpRequest) -> HttpResponse:
    form = AgreementPublishForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            version = services.agreement_publish(actor=request.user, region=request.region, **form.cleaned_data)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(
                request,
                _("Version %(number)s av avtalet är publicerad och klinikerna har fått en avisering.")
                % {"number": version.number},
            )
            return redirect("region_agreement", region_code=request.region.code, agreement_pk=version.pk)
    return render(request, "agreements/region/new.html", {"form": form})


def _region_version(request: HttpRequest, agreement_pk: int) -> AgreementVersion:
    return get_object_or_404(
        AgreementVersion.objects.of_region(request.region).select_related("published_by"), pk=agreement_pk
    )


@region_view()
@require_GET
def region_agreement(request: HttpRequest, agreement_pk: int) -> HttpResponse:
    version = _region_version(request, agreement_pk)
    rows = selectors.version_signatures(region=request.region, version=version)
    return render(
        request,
        "agreements/region/detail.html",
        {"version": version, "rows": rows, "signed_count": sum(1 for row in rows if row.signature)},
    )


@region_view()
@require_GET
def region_agreement_file(request: HttpRequest, agreement_pk: int) -> FileResponse:
    return _file_response(_region_version(request, agreement_pk))
