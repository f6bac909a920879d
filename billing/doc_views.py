"""The invoice-file format documented for journal-system suppliers: a page, the XSD and an example file."""

from pathlib import Path

from django.conf import settings
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from billing import invoice_file_examples
from portal import access

SCHEMA = Path(settings.BASE_DIR) / "billing" / "schemas" / "fakturafil-v1.xsd"


@access.public
@require_GET
def invoice_file_format(request: HttpRequest) -> HttpResponse:
    # Public on purpose: suppliers build against it before any clinic of theirs has an account.
    example = invoice_file_examples.invoice_file_example()
    return render(request, "billing/invoice_file_format.html", {"example": example})


def _download(path: Path, name: str) -> FileResponse:
    response = FileResponse(path.open("rb"), as_attachment=True, filename=name, content_type="application/xml")
    response["X-Content-Type-Options"] = "nosniff"
    return response


@access.public
@require_GET
def invoice_file_schema(request: HttpRequest) -> FileResponse:
    return _download(SCHEMA, "fakturafil-v1.xsd")


@access.public
@require_GET
def invoice_file_example(request: HttpRequest) -> HttpResponse:
    # Dated relative to today, so the file downloaded is one the demo clinic 31 can send as it is.
    response = HttpResponse(invoice_file_examples.invoice_file_example().encode(), content_type="application/xml")
    response["Content-Disposition"] = 'attachment; filename="fakturafil-v1-exempel.xml"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


@access.public
@require_GET
def api_documentation(request: HttpRequest) -> HttpResponse:
    # Public as the file format is: a supplier reads it before any clinic of theirs has a key.
    return render(
        request,
        "billing/api_documentation.html",
        {
            "base_url": request.build_absolute_uri("/api/v1/"),
            "rate_limit": settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["api_key"],
        },
    )
