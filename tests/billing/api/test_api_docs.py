"""/dokumentation/api/: the guide for journal-system suppliers names every operation, and its examples are sound."""

import html
import json
import re

import jsonschema
import pytest
from django.conf import settings
from django.utils import timezone

from billing.doc_views import DEMO_PERSONNUMMER, api_examples
from tests.testdata import TEST_PERSONNUMMER

pytestmark = pytest.mark.django_db

BRACES = re.compile(r"\{[^{}/]*\}")


def _page(client) -> str:
    response = client.get("/dokumentation/api/")
    assert response.status_code == 200
    return html.unescape(response.content.decode())


def _schema(client) -> dict:
    return client.get("/api/v1/openapi.json").json()


def test_the_page_names_every_operation_the_schema_has(client):
    """Read from the schema at test time: an operation added to the API (by any issue) without its line in the
    guide fails here. A path parameter may be named otherwise on the page ({id} for {invoice_pk})."""
    page = BRACES.sub("{}", _page(client))
    missing = []
    for path, operations in _schema(client)["paths"].items():
        for method in operations:
            if method in ("get", "post", "put", "patch", "delete"):
                named = f"{method.upper()} {BRACES.sub('{}', path)}"
                # Followed by the end of the path: GET /invoices is not named by GET /invoices/{id}.
                if not re.search(re.escape(named) + r"[?\s<]", page):
                    missing.append(named)
    assert not missing, f"/dokumentation/api/ does not name: {missing}"


def test_the_page_has_its_sections_and_a_place_for_each_parts_include(client):
    page = _page(client)
    for heading in ("Nyckel", "Från kontroll till utbetalning", "Fel", "Idempotency-Key", "Exempel: curl och Python"):
        assert heading in page, heading
    assert "Klinikadministration → API-nycklar" in page and "en enda gång" in page
    # The parts' sections (billing/api/docs/*.html) come before "Det som kommer", which stays last.
    assert page.index("Fakturor och utbetalningsbesked") < page.index('id="det-som-kommer"')
    assert page.rindex("<h2") == page.index('<h2 id="det-som-kommer"')


def test_the_page_in_english(client):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"  # as the language switch sets it
    page = _page(client)
    assert "From check to payout" in page and "Invoices and payout notices" in page
    assert "Retrying safely: Idempotency-Key" in page


def test_the_curl_examples_json_is_valid_and_the_demos(client):
    page = _page(client)
    curl = page[page.index("<h3>curl</h3>") : page.index("<h3>Python</h3>")]
    bodies = [json.loads(body) for body in re.findall(r"-d '(.*?)'", curl, re.S)]
    examples = api_examples(timezone.localdate())
    assert bodies == [examples["check"], examples["claim"]]
    assert bodies[0]["personnummer"] == DEMO_PERSONNUMMER
    assert DEMO_PERSONNUMMER in TEST_PERSONNUMMER  # Skatteverket's published test numbers
    assert "Bearer $KEY" in curl and "KEY=tandportal-demo-31" in curl
    assert f'invoices?claim_reference={examples["claim"]["reference"]}"' in curl


def test_the_python_example_compiles_with_the_standard_library_only(client):
    page = _page(client)
    python = page[page.index("<h3>Python</h3>") :]
    code = re.search(r"<pre class=\"code\"><code>(.*?)</code></pre>", python, re.S).group(1)
    compile(code, "example.py", "exec")
    imported = set(re.findall(r"^import (\w+)", code, re.M)) | set(re.findall(r"^from (\w+)", code, re.M))
    assert imported <= {"json", "urllib", "uuid"}


def test_the_demo_knows_the_examples_patient_and_the_check_answers(client, world):
    body = api_examples(timezone.localdate())["check"]
    answer = client.post(
        "/api/v1/eligibility-checks",
        data=json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION="Bearer tandportal-demo-31",
    ).json()
    assert answer["patient_known"] is True
    assert [c["number"] for c in answer["certificates"]] == [
        api_examples(timezone.localdate())["claim"]["certificate_number"]
    ]


def test_the_claim_example_fits_the_claims_request_schema(client):
    """The guide's claim example is a body POST /claims takes."""
    schema = _schema(client)
    operation = schema["paths"]["/api/v1/claims"]["post"]
    reference = operation["requestBody"]["content"]["application/json"]["schema"]
    validator = jsonschema.Draft202012Validator({**reference, "components": schema["components"]})
    errors = [error.message for error in validator.iter_errors(api_examples(timezone.localdate())["claim"])]
    assert not errors, errors


def test_the_invoice_file_documentation_links_the_api_guide(client):
    page = client.get("/dokumentation/fakturafil/").content.decode()
    assert 'href="/dokumentation/api/"' in page
