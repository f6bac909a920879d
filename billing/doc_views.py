"""The invoice-file format documented for journal-system suppliers: a page, the XSD and an example file."""

from pathlib import Path

from django.conf import settings
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from portal import access

SCHEMA = Path(settings.BASE_DIR) / "billing" / "schemas" / "fakturafil-v1.xsd"
EXAMPLE = Path(settings.BASE_DIR) / "fixtures" / "invoice-files" / "example-v1.xml"


@access.public
@require_GET
def invoice_file_format(request: HttpRequest) -> HttpResponse:
    # Public on purpose: suppliers build against it before any clinic of theirs has an account.
    return render(request, "billing/invoice_file_format.html", {"example": EXAMPLE.read_text(encoding="utf-8")})


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
def invoice_file_example(request: HttpRequest) -> FileResponse:
    return _download(EXAMPLE, "fakturafil-v1-exempel.xml")
