"""The invoice-file format and the API documented for journal-system suppliers: pages, the XSD and examples."""

import datetime
import json
from pathlib import Path

from django.conf import settings
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
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


# The demo's clinic 31 and its patient with an N certificate of Västra Götaland (a Skatteverket test number), so
# the examples run as they stand against `make run` with the demo key.
DEMO_KEY = "tandportal-demo-31"
DEMO_PERSONNUMMER = "200001012384"
DEMO_CERTIFICATE = "764153"


def api_examples(today: datetime.date) -> dict:
    """The bodies the page's curl and Python examples send, dated relative to today (a visit yesterday)."""
    visit = today - datetime.timedelta(days=1)
    return {
        "check": {"personnummer": DEMO_PERSONNUMMER, "date": visit.isoformat()},
        "claim": {
            "invoice_reference": f"API{today:%Y%m%d}1",
            "reference": f"R{today:%Y%m%d}1",
            "personnummer": DEMO_PERSONNUMMER,
            "support_form": "N",
            "certificate_number": DEMO_CERTIFICATE,
            "care_model": "K1",
            "visits": [
                {
                    "date": visit.isoformat(),
                    "patient_fee": 20000,
                    "lines": [{"code": "101"}, {"code": "825", "jaw": "UK"}],
                }
            ],
        },
    }


@access.public
@require_GET
def api_documentation(request: HttpRequest) -> HttpResponse:
    # Public as the file format is: a supplier reads it before any clinic of theirs has a key.
    examples = api_examples(timezone.localdate())
    return render(
        request,
        "billing/api_documentation.html",
        {
            "base_url": request.build_absolute_uri("/api/v1/"),
            "rate_limit": settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["api_key"],
            "demo_key": DEMO_KEY,
            "check_json": json.dumps(examples["check"], ensure_ascii=False),
            "claim_json": _one_key_a_line(examples["claim"], indent=2),
            "claim_reference": examples["claim"]["reference"],
            "check_python": _one_key_a_line(examples["check"], indent=4),
            "claim_python": _one_key_a_line(examples["claim"], indent=4),
        },
    )


def _one_key_a_line(body: dict, *, indent: int) -> str:
    """The body as JSON with each top-level field on a line of its own; also a Python dict literal, as no body
    here holds JSON's null, true or false."""
    pad = " " * indent
    fields = [f"{pad}{json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}" for key, value in body.items()]
    return "{\n" + ",\n".join(fields) + "\n}"
