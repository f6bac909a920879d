"""Every URL of the portal × every kind of user: login redirect, 403 or 404 exactly where they belong.

URLs are discovered from the URL conf, so a page added later is walked too. Each view declares its
access with a decorator from portal.access; a view without one fails this test.
"""

import re
from dataclasses import dataclass

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from claims.models import CreditInvoice, InvoiceFileUpload, TariffVersion
from eligibility.models import Certificate, CertificateImport, PriorAssessment
from payouts.models import PayoutRun, Repayment
from portal.access import Access
from portal.models import ServiceWindow
from review.models import ClaimQuestion, ReviewRule, ReviewRuleKind

from .claims.factories import ClaimFactory, InvoiceFactory
from .conftest import World
from .eligibility.factories import PriorAssessmentAttachmentFactory


def _walk(patterns, prefix=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry


ALL_PATTERNS = sorted(_walk(get_resolver().url_patterns), key=lambda item: item[0])

ROLES = ["anonymous", "biller", "local_admin", "other_clinic_user", "coordinator", "other_coordinator", "region_admin"]


@dataclass
class Actor:
    email: str | None


ACTORS = {
    "anonymous": Actor(None),
    "biller": Actor("fakturerare@demo.test"),  # clinics 31 and 32
    "local_admin": Actor("admin31@demo.test"),
    "other_clinic_user": Actor("dalarna@demo.test"),  # clinic 2001 in Dalarna only
    "coordinator": Actor("samordnare.vg@demo.test"),
    "other_coordinator": Actor("samordnare.dalarna@demo.test"),
    "region_admin": Actor("regionadmin@demo.test"),
}

# What each kind of page answers to each kind of user. "ok" means anything but 302-to-login, 403 and 404.
EXPECTED = {
    Access.PUBLIC: dict.fromkeys(ROLES, "ok"),
    Access.AUTHENTICATED: {**dict.fromkeys(ROLES, "ok"), "anonymous": "login"},
    # The objects in the URLs are clinic 31's.
    Access.CLINIC: {
        "anonymous": "login",
        "biller": "ok",
        "local_admin": "ok",
        "other_clinic_user": 404,
        "coordinator": 404,
        "other_coordinator": 404,
        "region_admin": 404,
    },
    Access.CLINIC_ADMIN: {
        "anonymous": "login",
        "biller": 403,
        "local_admin": "ok",
        "other_clinic_user": 404,
        "coordinator": 404,
        "other_coordinator": 404,
        "region_admin": 404,
    },
    # The objects in the URLs are Västra Götaland's.
    Access.REGION: {
        "anonymous": "login",
        "biller": 404,
        "local_admin": 404,
        "other_clinic_user": 404,
        "coordinator": "ok",
        "other_coordinator": 404,
        "region_admin": "ok",
    },
    Access.REGION_OWN_ADMIN: {
        "anonymous": "login",
        "biller": 404,
        "local_admin": 404,
        "other_clinic_user": 404,
        "coordinator": 403,
        "other_coordinator": 404,
        "region_admin": "ok",
    },
    Access.REGION_ADMIN: {
        "anonymous": "login",
        "biller": 404,
        "local_admin": 404,
        "other_clinic_user": 404,
        "coordinator": 404,
        "other_coordinator": 404,
        "region_admin": "ok",
    },
}


def _kwargs_for(world: World, route: str) -> dict:
    """A value for every URL parameter, pointing at an object of clinic 31 / Västra Götaland.

    A later issue that adds a parameter adds it here; an unknown one fails the test loudly."""
    values = {
        "clinic_pk": lambda: world.clinic31.pk,
        "membership_pk": lambda: world.membership(world.admin31, world.clinic31).pk,
        "region_code": lambda: world.vg.code,
        "window_pk": lambda: (
            ServiceWindow.objects.create(
                starts_at="2099-01-01T00:00Z", ends_at="2099-01-01T06:00Z", message="x", created_by=world.region_admin
            ).pk
        ),
        "certificate_pk": lambda: Certificate.objects.get(region=world.vg, number="764153").pk,
        "assessment_pk": lambda: _vg_assessment(world).pk,
        "attachment_pk": lambda: PriorAssessmentAttachmentFactory(assessment=_vg_assessment(world)).pk,
        "import_pk": lambda: (
            CertificateImport.objects.create(
                region=world.vg, uploaded_by=world.coordinator_vg, original_name="intyg.csv", sha256="0" * 64
            ).pk
        ),
        "version_pk": lambda: TariffVersion.objects.filter(region=world.vg).latest("valid_from").pk,
        "invoice_pk": lambda: InvoiceFactory(clinic=world.clinic31, created_by=world.biller).pk,
        "claim_pk": lambda: ClaimFactory(invoice__clinic=world.clinic31, invoice__created_by=world.biller).pk,
        "upload_pk": lambda: (
            InvoiceFileUpload.objects.create(
                clinic=world.clinic31, uploaded_by=world.biller, original_name="faktura.xml", sha256="0" * 64
            ).pk
        ),
        "run_pk": lambda: _vg_run(world).pk,
        "payment_pk": lambda: _vg_run(world).payments.order_by("pk").first().pk,
        "repayment_pk": lambda: _vg_repayment(world).pk,
        "rule_pk": lambda: _vg_rule(world).pk,
        "question_pk": lambda: (
            ClaimQuestion.objects.create(
                claim=ClaimFactory(invoice__clinic=world.clinic31, invoice__created_by=world.biller),
                question="Varför två röntgen?",
                asked_by=world.coordinator_vg,
            ).pk
        ),
        "uidb64": lambda: "MQ",
        "token": lambda: "set-password",
    }
    names = re.findall(r"<(?:\w+:)?(\w+)>", route)
    missing = set(names) - set(values)
    assert not missing, f"tests/test_permissions.py needs a value for URL parameter(s) {missing}"
    return {name: values[name]() for name in names}


def _vg_assessment(world: World) -> PriorAssessment:
    """The demo's approved prior assessment at clinic 31."""
    return PriorAssessment.objects.get(clinic=world.clinic31, patient__personal_identity_number="200001022383")


def _vg_run(world: World) -> PayoutRun:
    """The demo's paid payout run in Västra Götaland."""
    return PayoutRun.objects.filter(region=world.vg).order_by("pk").first()


def _vg_repayment(world: World) -> Repayment:
    """A repayment owed by clinic 32 (plusgiro) in Västra Götaland."""
    invoice = InvoiceFactory(clinic=world.clinic32, created_by=world.biller)
    credit = CreditInvoice.objects.create(
        clinic=world.clinic32,
        invoice=invoice,
        reference=f"{invoice.reference}_Kredit",
        total=100,
        created_by=world.biller,
    )
    return Repayment.objects.create(region=world.vg, clinic=world.clinic32, credit_invoice=credit, amount=100)


def _vg_rule(world: World) -> ReviewRule:
    return ReviewRule.objects.create(
        region=world.vg, kind=ReviewRuleKind.AMOUNT_ABOVE, amount_limit=5_000_000, created_by=world.region_admin
    )


def _outcome(response) -> object:
    if response.status_code == 302 and response["Location"].startswith("/logga-in/?next="):
        return "login"
    if response.status_code in (403, 404):
        return response.status_code
    return "ok"


@pytest.mark.parametrize("route,pattern", ALL_PATTERNS, ids=[route for route, _ in ALL_PATTERNS])
@pytest.mark.parametrize("role", ROLES)
def test_every_url_answers_each_role_as_declared(client, world, route, pattern, role):
    access = getattr(pattern.callback, "access", None)
    assert access in EXPECTED, f"{route}: the view declares no access (use a decorator from portal.access)"
    actor = ACTORS[role]
    if actor.email:
        client.force_login(world.user(actor.email))
    kwargs = _kwargs_for(world, route)
    url = reverse(pattern.name, kwargs=kwargs)
    for method in ("get", "post"):
        response = getattr(client, method)(url)
        assert _outcome(response) == EXPECTED[access][role], f"{method.upper()} {url} as {role}"


def test_the_walk_covers_the_known_pages():
    names = {pattern.name for _, pattern in ALL_PATTERNS}
    assert {"login", "choose", "clinic_start", "clinic_administration", "region_start", "service_windows"} <= names
    assert {"region_clinics", "report_amounts_by_month_excel", "report_amounts_by_clinic_excel"} <= names


def test_a_dalarna_coordinator_gets_404_for_a_vg_claim_through_their_own_region(client, world):
    """The walk above asks for VG's claims under /region/vg/; the claim is also out of reach under /region/dalarna/."""
    claim = ClaimFactory(invoice__clinic=world.clinic31, invoice__created_by=world.biller)
    client.force_login(world.coordinator_dalarna)
    detail = reverse("review_claim_detail", kwargs={"region_code": world.dalarna.code, "claim_pk": claim.pk})
    approve = reverse("review_claim_approve", kwargs={"region_code": world.dalarna.code, "claim_pk": claim.pk})
    assert client.get(detail).status_code == 404
    assert client.post(approve).status_code == 404
    claim.refresh_from_db()
    assert claim.state == "received"
