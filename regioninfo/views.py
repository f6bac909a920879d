"""Dokument for the clinics' users (opening one marks it read), and the region's list, form and readers."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from portal.access import Access, clinic_view, region_view
from portal.forms import add_service_errors
from portal.middleware import FORM_OVERHEAD_BYTES, max_body
from portal.uploads import MAX_ATTACHMENT_BYTES, safe_download_name

from . import selectors, services
from .forms import PublicationForm
from .models import Publication


def _file_response(publication: Publication) -> FileResponse:
    """The publication's PDF as a download, never rendered inline by the browser."""
    if not publication.file:
        raise Http404
    try:
        handle = publication.file.open("rb")
    except FileNotFoundError as missing:
        raise Http404 from missing
    response = FileResponse(
        handle, as_attachment=True, filename=safe_download_name(publication.file_name), content_type="application/pdf"
    )
    response["X-Content-Type-Options"] = "nosniff"
    return response


# The clinic's side ------------------------------------------------------------------------------------------------


def _clinic_publication(request: HttpRequest, publication_pk: int) -> Publication:
    try:
        return selectors.clinic_publication_get(
            region=request.region, publication_pk=publication_pk, today=timezone.localdate()
        )
    except Publication.DoesNotExist as missing:
        raise Http404 from missing


@clinic_view(access=Access.CLINIC_ANY)
@require_GET
def documents(request: HttpRequest) -> HttpResponse:
    """Dokument: the region's informationsbrev, lokala anvisningar, documents and forms, unread ones marked."""
    publications = selectors.clinic_publications(region=request.region, user=request.user, today=timezone.localdate())
    return render(request, "regioninfo/documents.html", {"publications": publications})


@clinic_view(access=Access.CLINIC_ANY)
@require_GET
def document(request: HttpRequest, publication_pk: int) -> HttpResponse:
    publication = _clinic_publication(request, publication_pk)
    services.publication_mark_read(user=request.user, publication=publication)
    return render(request, "regioninfo/document.html", {"publication": publication})


@clinic_view(access=Access.CLINIC_ANY)
@require_GET
def document_file(request: HttpRequest, publication_pk: int) -> FileResponse:
    publication = _clinic_publication(request, publication_pk)
    services.publication_mark_read(user=request.user, publication=publication)
    return _file_response(publication)


# The region's side ------------------------------------------------------------------------------------------------


def _region_publication(request: HttpRequest, publication_pk: int) -> Publication:
    try:
        return selectors.region_publication_get(region=request.region, publication_pk=publication_pk)
    except Publication.DoesNotExist as missing:
        raise Http404 from missing


@region_view()
@require_GET
def region_list(request: HttpRequest) -> HttpResponse:
    """Information till klinikerna: everything published, with how many have read each."""
    return render(
        request,
        "regioninfo/region_list.html",
        {
            "publications": selectors.region_publications(region=request.region),
            "readers_possible": selectors.region_readers_possible(region=request.region),
        },
    )


@region_view()
@max_body(MAX_ATTACHMENT_BYTES + FORM_OVERHEAD_BYTES)
@require_http_methods(["GET", "POST"])
def region_new(request: HttpRequest) -> HttpResponse:
    form = PublicationForm(request.POST or None, request.FILES or None, initial={"valid_from": timezone.localdate()})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            publication = services.publication_publish(
                actor=request.user,
                region=request.region,
                kind=data["kind"],
                title=data["title"],
                body=data["body"],
                valid_from=data["valid_from"],
                file=data["file"],
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(
                request, _("%(title)s är publicerad för regionens kliniker.") % {"title": publication.title}
            )
            return redirect("regioninfo_region_list", region_code=request.region.code)
    return render(request, "regioninfo/region_new.html", {"form": form})


@region_view()
@require_GET
def region_detail(request: HttpRequest, publication_pk: int) -> HttpResponse:
    publication = _region_publication(request, publication_pk)
    return render(
        request,
        "regioninfo/region_detail.html",
        {
            "publication": publication,
            "reads": selectors.publication_reads(publication=publication),
            "readers_possible": selectors.region_readers_possible(region=request.region),
        },
    )


@region_view()
@require_GET
def region_file(request: HttpRequest, publication_pk: int) -> FileResponse:
    return _file_response(_region_publication(request, publication_pk))


@region_view()
@require_POST
def region_withdraw(request: HttpRequest, publication_pk: int) -> HttpResponse:
    publication = _region_publication(request, publication_pk)
    services.publication_withdraw(actor=request.user, publication=publication)
    messages.success(request, _("%(title)s visas inte längre för klinikerna.") % {"title": publication.title})
    return redirect("regioninfo_region_detail", region_code=request.region.code, publication_pk=publication.pk)
