"""Every URL of the portal × every kind of user: login redirect, 403 or 404 exactly where they belong.

URLs are discovered from the URL conf, so a page added later is walked too. Each view declares its
access with a decorator from portal.access; a view without one fails this test.

The foreign walk asks every URL with an object id again, each user under their own clinic or region but with
the ids of another's objects: that is a 404, so a view that forgets to scope a query fails here.
"""

import datetime
import re
from dataclasses import dataclass

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from agreements.models import AgreementVersion
from claims.models import CreditInvoice, InvoiceFileUpload, TariffVersion
from clinics.models import (
    AccountChange,
    CareModel,
    Clinic,
    ClinicMembership,
    ClinicRole,
    Organisation,
    OrganisationMembership,
    PatientCategory,
    Region,
    RegionMembership,
    RegionRules,
)
from clinics.rules import region_rules
from clinics.services import api_key_create
from eligibility.models import Certificate, CertificateImport, FreeCard, PriorAssessment, PriorAssessmentAttachment
from onboarding.models import ApplicationState, ClinicApplication
from payouts.models import PayoutPayment, PayoutRun, Repayment
from portal.access import Access
from portal.models import ServiceWindow
from regioninfo.models import Publication
from review.models import ClaimQuestion, ReviewRule, ReviewRuleKind

from .claims.factories import ClaimFactory, InvoiceFactory
from .clinics.factories import UserFactory
from .conftest import World
from .eligibility.factories import FreeCardFactory, PriorAssessmentAttachmentFactory, PriorAssessmentFactory
from .payouts.factories import ready_preview


def _walk(patterns, prefix=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry


ALL_PATTERNS = sorted(_walk(get_resolver().url_patterns), key=lambda item: item[0])

ROLES = [
    "anonymous",
    "biller",
    "local_admin",
    "avtalsansvarig",
    "ekonomi",
    "other_clinic_user",
    "coordinator",
    "other_coordinator",
    "region_admin",
    "organisation_user",
]


@dataclass
class Actor:
    email: str | None


ACTORS = {
    "anonymous": Actor(None),
    "biller": Actor("fakturerare@demo.test"),  # clinics 31 and 32
    "local_admin": Actor("admin31@demo.test"),
    "avtalsansvarig": Actor("avtal31@demo.test"),  # clinic 31's Avtalsansvarig
    "ekonomi": Actor("kamrer31@demo.test"),  # clinic 31's Ekonomi (read-only)
    "other_clinic_user": Actor("dalarna@demo.test"),  # clinic 2001 in Dalarna only
    "coordinator": Actor("samordnare.vg@demo.test"),
    "other_coordinator": Actor("samordnare.dalarna@demo.test"),
    "region_admin": Actor("regionadmin@demo.test"),
    # A biller of the umbrella organisation Folktandvården Demo (clinics 31 and 32), with no clinic membership.
    "organisation_user": Actor("organisation@demo.test"),
}

# The organisation user is a biller at clinic 31 through Folktandvården Demo.
CLINIC_31_ROLES = {"biller", "local_admin", "avtalsansvarig", "ekonomi", "organisation_user"}


def _clinic(*, ok: set[str]) -> dict:
    """A clinic page of clinic 31: "ok" for the roles given, 403 for clinic 31's other roles, 404 for the rest."""
    outcomes = {**dict.fromkeys(ROLES, 404), "anonymous": "login"}
    outcomes.update(dict.fromkeys(CLINIC_31_ROLES, 403))
    outcomes.update(dict.fromkeys(ok, "ok"))
    return outcomes


# What each kind of page answers to each kind of user. "ok" means anything but 302-to-login, 403 and 404.
EXPECTED = {
    Access.PUBLIC: dict.fromkeys(ROLES, "ok"),
    Access.AUTHENTICATED: {**dict.fromkeys(ROLES, "ok"), "anonymous": "login"},
    # The objects in the URLs are clinic 31's. The clinic's work: billers and local administrators.
    Access.CLINIC: _clinic(ok={"biller", "local_admin", "organisation_user"}),
    # Era fakturor and Utbetalningsbesked: also Ekonomi, read-only.
    Access.CLINIC_FINANCE: _clinic(ok={"biller", "local_admin", "ekonomi", "organisation_user"}),
    # The start page, the tariff, Avtal: every role of the clinic.
    Access.CLINIC_ANY: _clinic(ok={"biller", "local_admin", "avtalsansvarig", "ekonomi", "organisation_user"}),
    # Signing the agreement and appointing users: the Avtalsansvarig and local administrators.
    Access.CLINIC_AGREEMENT: _clinic(ok={"local_admin", "avtalsansvarig"}),
    Access.CLINIC_ADMIN: _clinic(ok={"local_admin"}),
    # The objects in the URLs are Västra Götaland's.
    Access.REGION: {
        "anonymous": "login",
        "biller": 404,
        "local_admin": 404,
        "avtalsansvarig": 404,
        "ekonomi": 404,
        "other_clinic_user": 404,
        "coordinator": "ok",
        "other_coordinator": 404,
        "region_admin": "ok",
        "organisation_user": 404,
    },
    Access.REGION_OWN_ADMIN: {
        "anonymous": "login",
        "biller": 404,
        "local_admin": 404,
        "avtalsansvarig": 404,
        "ekonomi": 404,
        "other_clinic_user": 404,
        "coordinator": 403,
        "other_coordinator": 404,
        "region_admin": "ok",
        "organisation_user": 404,
    },
    # An umbrella organisation's own pages: the object is Folktandvården Demo (over clinics 31 and 32).
    Access.ORGANISATION: {**dict.fromkeys(ROLES, 404), "anonymous": "login", "organisation_user": "ok"},
    # The systemadministratör's pages (portal-wide service windows); none of these users is one.
    Access.SYSTEM_ADMIN: {**dict.fromkeys(ROLES, 404), "anonymous": "login"},
    # The journal-system API takes a key, never a session: 401 for everyone here (tests/billing/api).
    Access.API_KEY: dict.fromkeys(ROLES, "ok"),
    # /metrics answers a scraper's token or network, never a person, signed in or not (tests/portal/test_metrics.py).
    Access.SCRAPER: dict.fromkeys(ROLES, 403),
}


@dataclass(frozen=True)
class Owner:
    """Whose objects a URL's ids point at: a clinic's (claims, invoices …) and a region's (tariffs, runs …).

    On a region's page the clinic is one of the region's; on a clinic's page the region may be another than the
    clinic's, so that both kinds of object are someone else's in the foreign walk."""

    clinic: Clinic
    region: Region


# How each URL parameter names an object of an owner: the demo's where it has one for every clinic or region
# (memberships, certificates, tariffs) or for some (prior assessments, payouts), otherwise one made for the owner.
# A later issue that adds a parameter adds it here; an unknown one fails the test loudly.
OBJECT_IDS = {
    "membership_pk": lambda world, owner: (
        ClinicMembership.objects.of_clinic(owner.clinic).get(role=ClinicRole.LOCAL_ADMIN).pk
    ),
    "certificate_pk": lambda world, owner: Certificate.objects.of_region(owner.region).order_by("number").first().pk,
    "assessment_pk": lambda world, owner: _assessment(world, owner.clinic).pk,
    "attachment_pk": lambda world, owner: _attachment(world, owner.clinic).pk,
    "import_pk": lambda world, owner: (
        CertificateImport.objects.create(
            region=owner.region, uploaded_by=world.coordinator_vg, original_name="intyg.csv", sha256="0" * 64
        ).pk
    ),
    "version_pk": lambda world, owner: TariffVersion.objects.of_region(owner.region).latest("valid_from").pk,
    "invoice_pk": lambda world, owner: InvoiceFactory(clinic=owner.clinic, created_by=world.biller).pk,
    "claim_pk": lambda world, owner: ClaimFactory(invoice__clinic=owner.clinic, invoice__created_by=world.biller).pk,
    "upload_pk": lambda world, owner: (
        InvoiceFileUpload.objects.create(
            clinic=owner.clinic, uploaded_by=world.biller, original_name="faktura.xml", sha256="0" * 64
        ).pk
    ),
    # On a region's page a payment comes with its run (…/utbetalningar/<run>/besked/<payment>.pdf).
    "run_pk": lambda world, owner: _payment(world, owner.clinic).run_id,
    "payment_pk": lambda world, owner: _payment(world, owner.clinic).pk,
    # A computed preview of the region's next run (its clinics, set-offs and the claims it leaves out).
    "preview_pk": lambda world, owner: ready_preview(region=owner.region, actor=world.coordinator_vg).pk,
    "repayment_pk": lambda world, owner: _repayment(world, owner.clinic).pk,
    "rule_pk": lambda world, owner: (
        ReviewRule.objects.create(
            region=owner.region,
            kind=ReviewRuleKind.AMOUNT_ABOVE,
            amount_limit=5_000_000,
            created_by=world.region_admin,
        ).pk
    ),
    "clinic_number": lambda world, owner: owner.clinic.number,
    "free_card_pk": lambda world, owner: _free_card(world, owner.region).pk,
    "change_pk": lambda world, owner: _account_change(owner.clinic).pk,
    # The region's agreement version (the demo has one in each region; the newest).
    "agreement_pk": lambda world, owner: (
        AgreementVersion.objects.of_region(owner.region).order_by("-number").first().pk
    ),
    "key_pk": lambda world, owner: api_key_create(actor=None, clinic=owner.clinic, name="Walk")[0].pk,
    "window_pk": lambda world, owner: (
        ServiceWindow.objects.create(
            region=owner.region,
            starts_at="2099-01-01T00:00Z",
            ends_at="2099-01-01T06:00Z",
            message="x",
            created_by=world.region_admin,
        ).pk
    ),
    # The region's information, valid from today with a PDF: opened by its region's clinics and coordinators.
    "publication_pk": lambda world, owner: _publication(world, owner.region).pk,
    "application_pk": lambda world, owner: _application(owner.region).pk,
    # Region administration (issue 15): the region's people, a planned version of its rules, its code lists.
    "region_membership_pk": lambda world, owner: (
        RegionMembership.objects.of_region(owner.region).filter(is_active=True).order_by("pk").first().pk
    ),
    "rules_pk": lambda world, owner: _rules_version(world, owner.region).pk,
    "care_model_pk": lambda world, owner: (
        (
            CareModel.objects.of_region(owner.region).order_by("pk").first()
            or CareModel.objects.create(region=owner.region, code="WALK", name="Walk")
        ).pk
    ),
    "category_pk": lambda world, owner: PatientCategory.objects.of_region(owner.region).order_by("pk").first().pk,
    "organisation_pk": lambda world, owner: _organisation(owner).pk,
    "organisation_membership_pk": lambda world, owner: (
        OrganisationMembership.objects.create(user=UserFactory(), organisation=_organisation(owner), role="biller").pk
    ),
    "question_pk": lambda world, owner: (
        ClaimQuestion.objects.create(
            claim=ClaimFactory(invoice__clinic=owner.clinic, invoice__created_by=world.biller),
            question="Varför två röntgen?",
            asked_by=world.coordinator_vg,
        ).pk
    ),
}

# Parameters that name no clinic's or region's object, so the foreign walk has nothing to swap.
NOT_OWNED = {
    "portal_window_pk": lambda world: (
        ServiceWindow.objects.create(
            starts_at="2099-01-01T00:00Z", ends_at="2099-01-01T06:00Z", message="x", created_by=world.region_admin
        ).pk
    ),  # a service window of the whole portal (no region)
    "uidb64": lambda world: "MQ",  # a password link names a user
    "token": lambda world: "set-password",
    "year": lambda world: 2026,  # the API's tariffs of a year: the key's region's (tests/billing/api)
}


def _names(route: str) -> list[str]:
    return re.findall(r"<(?:\w+:)?(\w+)>", route)


def _kwargs_for(world: World, route: str, *, home: Owner, objects: Owner) -> dict:
    """A value for every URL parameter: the clinic or region of the page is `home`'s, the ids are `objects`'s."""
    places = {"clinic_pk": lambda: home.clinic.pk, "region_code": lambda: home.region.code}
    names = _names(route)
    missing = set(names) - set(places) - set(OBJECT_IDS) - set(NOT_OWNED)
    assert not missing, f"tests/test_permissions.py needs a value for URL parameter(s) {missing}"
    kwargs = {}
    for name in names:
        if name in places:
            kwargs[name] = places[name]()
        elif name in NOT_OWNED:
            kwargs[name] = NOT_OWNED[name](world)
        else:
            kwargs[name] = OBJECT_IDS[name](world, objects)
    return kwargs


def _organisation(owner: Owner) -> Organisation:
    """The owner's clinic's umbrella organisation (the demo's over 31 and 32), or one made for it in its region."""
    clinic = Clinic.objects.get(pk=owner.clinic.pk)
    if clinic.organisation_id is not None and clinic.region_id == owner.region.pk:
        return clinic.organisation
    organisation, _created = Organisation.objects.get_or_create(
        region=owner.region, organisation_number="5590001110", defaults={"name": "Walk"}
    )
    if clinic.region_id == owner.region.pk:
        clinic.organisation = organisation
        clinic.save(update_fields=["organisation"])
    return organisation


def _assessment(world: World, clinic: Clinic) -> PriorAssessment:
    """The clinic's prior assessment in the demo (clinic 31 has an approved one), or a new one."""
    found = PriorAssessment.objects.of_clinic(clinic).order_by("pk").first()
    return found or PriorAssessmentFactory(clinic=clinic, region=clinic.region, created_by=world.biller)


def _free_card(world: World, region: Region) -> FreeCard:
    """A frikort of the region: the demo's (Västra Götaland has one), or one registered at a clinic of the region."""
    found = FreeCard.objects.of_region(region).order_by("pk").first()
    return found or FreeCardFactory(region=region)


def _attachment(world: World, clinic: Clinic) -> PriorAssessmentAttachment:
    assessment = _assessment(world, clinic)
    return assessment.attachments.order_by("pk").first() or PriorAssessmentAttachmentFactory(assessment=assessment)


def _payment(world: World, clinic: Clinic) -> PayoutPayment:
    """The clinic's payment in the demo's paid run (Västra Götaland), or one in a new run of its region."""
    found = PayoutPayment.objects.of_clinic(clinic).order_by("pk").first()
    if found is not None:
        return found
    # Its file downloaded: a clinic sees only the payouts sent to the bank.
    run = PayoutRun.objects.create(
        region=clinic.region,
        payout_date=datetime.date(2099, 1, 5),
        created_by=world.coordinator_vg,
        file_downloaded_at=timezone.now(),
    )
    return PayoutPayment.objects.create(
        run=run,
        clinic=clinic,
        payment_method=clinic.payment_method,
        account_number=clinic.account_number,
        gross=0,
        net=0,
    )


def _account_change(clinic: Clinic) -> AccountChange:
    """The clinic's change of account waiting for confirmation (the demo has one at clinic 32), or a new one."""
    found = AccountChange.objects.of_clinic(clinic).filter(state="pending").first()
    if found is not None:
        return found
    admin = ClinicMembership.objects.of_clinic(clinic).filter(role=ClinicRole.LOCAL_ADMIN).first().user
    new = ("bankgiro", "5559877") if clinic.account_number != "5559877" else ("bankgiro", "5551239")
    return AccountChange.objects.create(
        clinic=clinic,
        old_payment_method=clinic.payment_method,
        old_account_number=clinic.account_number,
        new_payment_method=new[0],
        new_account_number=new[1],
        requested_by=admin,
    )


def _publication(world: World, region: Region) -> Publication:
    from django.core.files.base import ContentFile

    publication = Publication(
        region=region,
        kind="letter",
        title="Informationsbrev",
        body="Text",
        valid_from=timezone.localdate(),
        published_by=world.region_admin,
        file_name="brev.pdf",
    )
    publication.file.save("brev.pdf", ContentFile(b"%PDF-1.4\n%%EOF\n"), save=False)
    publication.save()
    return publication


def _application(region: Region) -> ClinicApplication:
    """A confirmed application to join the region, waiting for its administrator."""
    n = ClinicApplication.objects.count()
    return ClinicApplication.objects.create(
        region=region,
        state=ApplicationState.CONFIRMED,
        clinic_name=f"Walkkliniken {n}",
        street_address="Gatan 1",
        postal_code="11122",
        city="Stad",
        organisation_number="5566778899",
        gln="7350000000016",
        payment_method="bankgiro",
        account_number="5551239",
        payout_email=f"walk{n}@walk.test",
        agreement_owner_name="Avtal Walk",
        agreement_owner_email=f"avtal{n}@walk.test",
        local_admin_name="Admin Walk",
        local_admin_email=f"admin{n}@walk.test",
        confirmed_at=timezone.now(),
    )


def _repayment(world: World, clinic: Clinic) -> Repayment:
    """A repayment the clinic owes its region for a credit invoice."""
    invoice = InvoiceFactory(clinic=clinic, created_by=world.biller)
    credit = CreditInvoice.objects.create(
        clinic=clinic,
        invoice=invoice,
        reference=f"{invoice.reference}_Kredit",
        total=100,
        created_by=world.biller,
    )
    return Repayment.objects.create(region=clinic.region, clinic=clinic, credit_invoice=credit, amount=100)


def _rules_version(world: World, region: Region) -> RegionRules:
    """A planned version of the region's rules (from a day far ahead), as its administrator would make one."""
    day = datetime.date(2099, 1, 1)
    found = RegionRules.objects.of_region(region).filter(valid_from=day).first()
    return found or RegionRules.objects.create(
        region=region, valid_from=day, created_by=world.region_admin, **region_rules(region).values()
    )


def _outcome(response) -> object:
    if response.status_code == 302 and response["Location"].startswith("/logga-in/?next="):
        return "login"
    if response.status_code in (403, 404):
        return response.status_code
    return "ok"


# What `make test-fast` walks ----------------------------------------------------------------------------------
# The whole walks ask every page as every user, 3 000 tests and half of the suite's time: they are marked `slow` and
# run in `make test` and CI. The fast run keeps a sample that still fails on a broken access rule or an unscoped
# query: every role on one page of each kind of access (the rules of portal.access), every URL with an id asked for
# another's object by a user who may open the page (test_every_url_with_an_id_…), and every view's declaration.


def _first_of_each_access(patterns) -> set[str]:
    """One route of each kind of access: the first in the walk's order."""
    first = {}
    for route, pattern in patterns:
        first.setdefault(getattr(pattern.callback, "access", None), route)
    return set(first.values())


SAMPLE_ROUTES = _first_of_each_access(ALL_PATTERNS)


def _fast_unless(sampled: bool) -> tuple:
    return () if sampled else (pytest.mark.slow,)


def test_every_view_declares_its_access():
    """The walks' first assertion for every URL at once: a view without a decorator from portal.access fails here."""
    undeclared = [route for route, pattern in ALL_PATTERNS if getattr(pattern.callback, "access", None) not in EXPECTED]
    assert undeclared == []


def test_the_fast_sample_has_every_kind_of_access_and_every_url_with_an_id_by_a_user_who_opens_it():
    patterns = dict(ALL_PATTERNS)
    assert {patterns[route].callback.access for route in SAMPLE_ROUTES} == set(EXPECTED)
    for route, pattern in FOREIGN_ROUTES:
        role = FOREIGN_SAMPLE_ROLE[route.split("/")[0]]
        assert EXPECTED[pattern.callback.access][role] == "ok", f"{route}: {role} does not open it"


@pytest.mark.parametrize(
    "role,route,pattern",
    [
        pytest.param(role, route, pattern, id=f"{role}-{route}", marks=_fast_unless(route in SAMPLE_ROUTES))
        for role in ROLES
        for route, pattern in ALL_PATTERNS
    ],
)
def test_every_url_answers_each_role_as_declared(client, world, route, pattern, role):
    access = getattr(pattern.callback, "access", None)
    assert access in EXPECTED, f"{route}: the view declares no access (use a decorator from portal.access)"
    actor = ACTORS[role]
    if actor.email:
        client.force_login(world.user(actor.email))
    vg = Owner(world.clinic31, world.vg)
    url = reverse(pattern.name, kwargs=_kwargs_for(world, route, home=vg, objects=vg))
    for method in ("get", "post"):
        response = getattr(client, method)(url)
        assert _outcome(response) == EXPECTED[access][role], f"{method.upper()} {url} as {role}"


# The foreign walk ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Standing:
    """Where a user works (the clinic and region in the URL) and whose objects they ask for."""

    works_at: str  # the URL prefix of their pages: "klinik/" or "region/"
    home: str  # their clinic's number (clinic users) or a clinic of their region
    home_region: str
    foreign_clinic: str
    foreign_region: str


# Each user asks under their own clinic / region for another clinic's and another region's objects. The biller of
# clinics 31 and 32 asks /klinik/32/ for 31's objects (which they may see at /klinik/31/), and for Dalarna's
# tariffs; clinic 31's administrator asks for 32's. The Dalarna coordinator asks /region/dalarna/ for VG's.
# Nobody is anonymous here: an anonymous request never reaches an object (the walk above shows the login).
STANDINGS = {
    "biller": Standing("klinik/", "32", "vg", foreign_clinic="31", foreign_region="dalarna"),
    "local_admin": Standing("klinik/", "31", "vg", foreign_clinic="32", foreign_region="dalarna"),
    "avtalsansvarig": Standing("klinik/", "31", "vg", foreign_clinic="32", foreign_region="dalarna"),
    "ekonomi": Standing("klinik/", "31", "vg", foreign_clinic="32", foreign_region="dalarna"),
    "other_clinic_user": Standing("klinik/", "2001", "dalarna", foreign_clinic="31", foreign_region="vg"),
    "coordinator": Standing("region/", "31", "vg", foreign_clinic="2001", foreign_region="dalarna"),
    "other_coordinator": Standing("region/", "2001", "dalarna", foreign_clinic="31", foreign_region="vg"),
    "region_admin": Standing("region/", "2001", "dalarna", foreign_clinic="31", foreign_region="vg"),
    # The organisation's biller works at clinic 32 through the organisation and asks for 2001's objects (and for
    # the organisation of 2001, which is not theirs).
    "organisation_user": Standing("klinik/", "32", "vg", foreign_clinic="2001", foreign_region="dalarna"),
}

# Users whose role may not use a kind of page even in their own clinic / region: refused (403) before any object
# is looked at, so the answer cannot tell whether the object exists. Every other answer is 404.
REFUSED_BY_ROLE = {
    Access.CLINIC: {"avtalsansvarig", "ekonomi"},
    Access.CLINIC_FINANCE: {"avtalsansvarig"},
    Access.CLINIC_AGREEMENT: {"biller", "other_clinic_user", "ekonomi", "organisation_user"},
    Access.CLINIC_ADMIN: {"biller", "other_clinic_user", "avtalsansvarig", "ekonomi", "organisation_user"},
    Access.REGION_OWN_ADMIN: {"coordinator", "other_coordinator"},
}

FOREIGN_ROUTES = [
    (route, pattern)
    for route, pattern in ALL_PATTERNS
    if set(_names(route)) & set(OBJECT_IDS) and pattern.callback.access != Access.API_KEY
]
# The API's URLs with an id take a key, never a session: their own foreign walk, with keys (below).
API_ROUTES = [
    (route, pattern)
    for route, pattern in ALL_PATTERNS
    if set(_names(route)) & set(OBJECT_IDS) and pattern.callback.access == Access.API_KEY
]


def _outcome_or_405(response) -> object:
    return 405 if response.status_code == 405 else _outcome(response)


def _clinic(world: World, number: str) -> Clinic:
    """The demo's clinic of that number, as the test's world holds it (read once per process, not per test)."""
    return {"31": world.clinic31, "32": world.clinic32, "2001": world.clinic2001}[number]


def _region(world: World, code: str) -> Region:
    return {"vg": world.vg, "dalarna": world.dalarna}[code]


# The fast run asks each URL with an id as the one user of its part of the portal who opens such pages in their
# own clinic or region (so the 404 is the object's, not the role's): clinic 31's administrator for 32's objects,
# Dalarna's region administrator for Västra Götaland's, the organisation's biller for clinic 2001's.
FOREIGN_SAMPLE_ROLE = {"klinik": "local_admin", "region": "region_admin", "organisation": "organisation_user"}


@pytest.mark.parametrize(
    "role,route,pattern",
    [
        pytest.param(
            role,
            route,
            pattern,
            id=f"{role}-{route}",
            marks=_fast_unless(FOREIGN_SAMPLE_ROLE.get(route.split("/")[0]) == role),
        )
        for role in STANDINGS
        for route, pattern in FOREIGN_ROUTES
    ],
)
def test_every_url_with_an_id_answers_404_for_another_clinics_or_regions_object(client, world, route, pattern, role):
    standing = STANDINGS[role]
    home_clinic = _clinic(world, standing.home)
    home = Owner(home_clinic, _region(world, standing.home_region))
    if route.startswith("region/"):  # a region's page asks for the objects of a clinic of the other region
        foreign_clinic = Clinic.objects.filter(region__code=standing.foreign_region).order_by("number").first()
        foreign = Owner(foreign_clinic, foreign_clinic.region)
    else:
        foreign = Owner(_clinic(world, standing.foreign_clinic), _region(world, standing.foreign_region))
    client.force_login(world.user(ACTORS[role].email))
    access = pattern.callback.access
    if access == Access.API_KEY:
        # The API takes no session: a key of the home clinic asks for the foreign object, with every method.
        _key, secret = api_key_create(actor=None, clinic=home_clinic, name="Walk")
        foreign_url = reverse(pattern.name, kwargs=_kwargs_for(world, route, home=home, objects=foreign))
        outcomes = {
            method: _outcome_or_405(getattr(client, method)(foreign_url, HTTP_AUTHORIZATION=f"Bearer {secret}"))
            for method in ("get", "post", "delete")
        }
        assert set(outcomes.values()) in ({404}, {404, 405}), f"{foreign_url} as {role}'s clinic's key: {outcomes}"
        return
    expected = 403 if role in REFUSED_BY_ROLE.get(access, ()) else 404
    own_url = reverse(pattern.name, kwargs=_kwargs_for(world, route, home=home, objects=home))
    foreign_url = reverse(pattern.name, kwargs=_kwargs_for(world, route, home=home, objects=foreign))
    if expected == 404 and route.startswith(standing.works_at):
        # Their own object on the same page opens: the 404 below is the foreign object's, not the page's.
        for method in ("get", "post"):
            assert _outcome(getattr(client, method)(own_url)) == "ok", f"{method.upper()} {own_url} as {role}"
    # A method the view does not take is refused (405) before any object is looked at; the one it takes is 404.
    outcomes = {method: _outcome_or_405(getattr(client, method)(foreign_url)) for method in ("get", "post")}
    assert set(outcomes.values()) in ({expected}, {expected, 405}), f"{foreign_url} as {role}: {outcomes}"


def test_the_foreign_walk_covers_every_url_with_an_id():
    """Every URL parameter is an owned object's id, a place (clinic, region) or declared not owned; so a new URL
    with an id is in the foreign walk, and a new kind of id must say whose it is before any walk runs."""
    names = {name for route, _ in ALL_PATTERNS for name in _names(route)}
    assert names <= {"clinic_pk", "region_code"} | set(OBJECT_IDS) | set(NOT_OWNED)
    with_ids = {route for route, _ in ALL_PATTERNS if set(_names(route)) - {"clinic_pk", "region_code"}}
    not_owned = {route for route in with_ids if set(_names(route)) <= {"clinic_pk", "region_code", *NOT_OWNED}}
    assert {route for route, _ in FOREIGN_ROUTES + API_ROUTES} == with_ids - not_owned
    assert not_owned == {
        "servicefonster/<int:portal_window_pk>/ta-bort/",
        "servicefonster/<int:portal_window_pk>/avsluta/",
        "valj-losenord/<uidb64>/<token>/",
        "konto/e-post/<str:token>/",  # a signed e-mail change names a user
        "ansok-om-anslutning/bekrafta/<str:token>/",  # a signed link names an application, before any login
        "api/v1/tariffs/<signed:year>",
    }
    assert all(route.startswith(("klinik/", "region/", "organisation/", "api/v1/")) for route, _ in FOREIGN_ROUTES)
    assert {"api_claim", "api_invoice_file", "api_prior_assessment", "api_invoice", "api_payout_notice_pdf"} <= {
        p.name for _, p in API_ROUTES
    }
    assert {"invoice_claim_detail", "review_claim_detail", "payout_notice_pdf", "clinic_payout_notice_pdf"} <= {
        pattern.name for _, pattern in FOREIGN_ROUTES
    }
    assert set(STANDINGS) == set(ROLES) - {"anonymous"}


def test_the_walk_covers_the_known_pages():
    names = {pattern.name for _, pattern in ALL_PATTERNS}
    assert {"login", "choose", "clinic_start", "clinic_administration", "region_start", "service_windows"} <= names
    assert {"region_clinics", "report_amounts_by_month_excel", "report_amounts_by_clinic_excel"} <= names
    assert {"region_service_windows", "region_service_window_delete", "region_service_window_end"} <= names
    assert {"notification_inbox", "notification_mark_read", "notification_mark_all_read"} <= names
    assert "account_notifications" in names
    assert {"application_new", "application_confirm", "region_applications", "region_application_approve"} <= names
    assert {"account_privacy", "account_extract"} <= names


@pytest.mark.parametrize(
    "route,pattern",
    [
        pytest.param(route, pattern, id=route, marks=_fast_unless(route in SAMPLE_ROUTES))
        for route, pattern in ALL_PATTERNS
    ],
)
def test_the_system_administrator_opens_only_the_system_pages(client, world, route, pattern):
    """system@demo.test works for no clinic or region: their own pages open, every clinic's or region's is 404."""
    client.force_login(world.user("system@demo.test"))
    vg = Owner(world.clinic31, world.vg)
    url = reverse(pattern.name, kwargs=_kwargs_for(world, route, home=vg, objects=vg))
    access = pattern.callback.access
    expected = "ok" if access in (Access.PUBLIC, Access.AUTHENTICATED, Access.SYSTEM_ADMIN, Access.API_KEY) else 404
    expected = 403 if access == Access.SCRAPER else expected
    for method in ("get", "post"):
        assert _outcome(getattr(client, method)(url)) == expected, f"{method.upper()} {url}"


def test_a_dalarna_coordinator_gets_404_for_a_vg_claim_through_their_own_region(client, world):
    """The foreign walk shows the 404; here also that the refused approval leaves the claim as it was."""
    claim = ClaimFactory(invoice__clinic=world.clinic31, invoice__created_by=world.biller)
    client.force_login(world.coordinator_dalarna)
    detail = reverse("review_claim_detail", kwargs={"region_code": world.dalarna.code, "claim_pk": claim.pk})
    approve = reverse("review_claim_approve", kwargs={"region_code": world.dalarna.code, "claim_pk": claim.pk})
    assert client.get(detail).status_code == 404
    assert client.post(approve).status_code == 404
    claim.refresh_from_db()
    assert claim.state == "received"


@pytest.mark.parametrize("route,pattern", API_ROUTES, ids=[route for route, _ in API_ROUTES])
@pytest.mark.parametrize("clinic_number", ["32", "2001"])
def test_every_api_url_with_an_id_answers_404_to_another_clinics_key(client, world, route, pattern, clinic_number):
    """A key acts for its one clinic: clinic 31's objects open with 31's key, and are 404 for a key of clinic 32
    (the same region) and of 2001 (another region). A method the view does not take is 405 before any lookup."""
    owner = Owner(world.clinic31, world.vg)
    url = reverse(pattern.name, kwargs=_kwargs_for(world, route, home=owner, objects=owner))
    own = api_key_create(actor=None, clinic=world.clinic31, name="Walk 31")[1]
    foreign = api_key_create(actor=None, clinic=_clinic(world, clinic_number), name="Walk")[1]
    for method in ("get", "post"):
        mine = getattr(client, method)(url, HTTP_AUTHORIZATION=f"Bearer {own}")
        assert mine.status_code not in (401, 403, 404), f"{method.upper()} {url} with 31's key: {mine.status_code}"
    outcomes = {
        method: getattr(client, method)(url, HTTP_AUTHORIZATION=f"Bearer {foreign}").status_code
        for method in ("get", "post")
    }
    assert set(outcomes.values()) in ({404}, {404, 405}), f"{url} with {clinic_number}'s key: {outcomes}"
