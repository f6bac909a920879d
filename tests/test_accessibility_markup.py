"""The markup of every kind of page, as each demo role sees it: landmarks, skip link, labels, table headers, no
inline script or style (the Content-Security-Policy forbids them), and error summaries that lead to the field.

The browser tests (tests/browser/test_accessibility.py) check the same things as a keyboard user meets them;
these check the HTML of many more pages, quickly.
"""

import datetime
from urllib.parse import urlsplit

import lxml.html
import pytest
from django.urls import resolve
from django.utils import timezone, translation

from agreements.models import AgreementVersion
from claims.models import Claim, InvoiceFileState, InvoiceFileUpload, TariffVersion
from clinics.models import Organisation
from onboarding.models import ClinicApplication
from portal.models import ServiceWindow

from .conftest import World
from .identity import totp_code
from .payouts.factories import ready_preview

PASSWORD = "tandvard-demo"
UNLABELLED_INPUT_TYPES = {"hidden", "submit", "button", "reset", "image"}
FOCUSABLE_TAGS = {"button", "input", "select", "textarea", "iframe", "summary"}


# (name, e-mail of the user or None, URL built from the world)
PAGES = [
    ("login", None, lambda w: "/logga-in/"),
    ("choose", "fakturerare@demo.test", lambda w: "/valj-klinik/"),
    ("clinic_start", "admin31@demo.test", lambda w: f"/klinik/{w.clinic31.pk}/"),
    ("clinic_start_biller", "fakturerare@demo.test", lambda w: f"/klinik/{w.clinic31.pk}/"),
    ("clinic_payouts", "fakturerare@demo.test", lambda w: f"/klinik/{w.clinic31.pk}/utbetalningsbesked/"),
    ("administration", "admin31@demo.test", lambda w: f"/klinik/{w.clinic31.pk}/klinikadministration/"),
    ("details_form", "admin31@demo.test", lambda w: f"/klinik/{w.clinic31.pk}/klinikadministration/uppgifter/"),
    ("user_new", "admin31@demo.test", lambda w: f"/klinik/{w.clinic31.pk}/klinikadministration/anvandare/ny/"),
    (
        "user_role",
        "admin31@demo.test",
        lambda w: f"/klinik/{w.clinic31.pk}/klinikadministration/anvandare/{_biller31(w).pk}/roll/",
    ),
    (
        "user_remove",
        "admin31@demo.test",
        lambda w: f"/klinik/{w.clinic31.pk}/klinikadministration/anvandare/{_biller31(w).pk}/ta-bort/",
    ),
    ("region_start", "samordnare.vg@demo.test", lambda w: "/region/vg/"),
    ("region_start_dalarna", "samordnare.dalarna@demo.test", lambda w: "/region/dalarna/"),
    ("region_clinics", "samordnare.vg@demo.test", lambda w: "/region/vg/kliniker/"),
    ("region_clinic_detail", "samordnare.vg@demo.test", lambda w: "/region/vg/kliniker/32/"),  # a change waits
    ("administration_pending_change", "admin32@demo.test", lambda w: f"/klinik/{w.clinic32.pk}/klinikadministration/"),
    ("invitations", "admin2001@demo.test", lambda w: "/inbjudningar/"),
    ("access_log", "samordnare.vg@demo.test", lambda w: "/region/vg/atkomstlogg/"),
    ("service_windows", "regionadmin@demo.test", lambda w: "/region/vg/servicefonster/"),
    ("service_windows_portal", "system@demo.test", lambda w: "/servicefonster/"),
    ("support", "fakturerare@demo.test", lambda w: "/support/"),
    ("support_coordinator", "samordnare.vg@demo.test", lambda w: "/support/"),
    ("claim_register", "fakturerare@demo.test", lambda w: f"/klinik/{w.clinic31.pk}/registrera-rakning/"),
    (
        "claim_register_done",
        "fakturerare@demo.test",
        lambda w: f"/klinik/{w.clinic31.pk}/registrera-rakning/inskickad/{_demo_claim(w, 'DEMO-A1').pk}/",
    ),
    ("invoices", "fakturerare@demo.test", lambda w: f"/klinik/{w.clinic31.pk}/fakturor/"),
    ("invoices_paid", "fakturerare@demo.test", lambda w: f"/klinik/{w.clinic31.pk}/fakturor/utbetalda/"),
    ("invoices_credits", "fakturerare@demo.test", lambda w: f"/klinik/{w.clinic31.pk}/fakturor/kreditfakturor/"),
    ("invoices_voided", "fakturerare@demo.test", lambda w: f"/klinik/{w.clinic31.pk}/fakturor/makulerade/"),
    (
        "invoice_claim",
        "fakturerare@demo.test",
        lambda w: f"/klinik/{w.clinic31.pk}/fakturor/rakningar/{_demo_claim(w, 'DEMO-D2').pk}/",
    ),
    (
        "invoice_claim_credit",
        "fakturerare@demo.test",
        lambda w: f"/klinik/{w.clinic31.pk}/fakturor/rakningar/{_demo_claim(w, 'DEMO-D2').pk}/kreditera/",
    ),
    (
        "invoice_claim_delete",
        "fakturerare@demo.test",
        lambda w: f"/klinik/{w.clinic31.pk}/fakturor/rakningar/{_demo_claim(w, 'DEMO-A1').pk}/radera/",
    ),
    ("tariff_list", "samordnare.vg@demo.test", lambda w: "/region/vg/ersattningslistor/"),
    ("tariff_import", "samordnare.vg@demo.test", lambda w: "/region/vg/ersattningslistor/import/"),
    ("tariff_detail", "samordnare.vg@demo.test", lambda w: f"/region/vg/ersattningslistor/{_tariff_this_year(w).pk}/"),
    ("clinic_tariff", "fakturerare@demo.test", lambda w: f"/klinik/{w.clinic31.pk}/ersattningslista/?q=protes"),
    (
        "clinic_tariff_changes",
        "fakturerare@demo.test",
        lambda w: f"/klinik/{w.clinic31.pk}/ersattningslista/{_tariff_this_year(w).pk}/andringar/?visa=andringar",
    ),
    ("payout_run_list", "samordnare.vg@demo.test", lambda w: "/region/vg/utbetalningar/"),
    ("payout_run_new", "samordnare.vg@demo.test", lambda w: "/region/vg/utbetalningar/ny/"),
    ("payout_run_detail", "samordnare.vg@demo.test", lambda w: f"/region/vg/utbetalningar/{_vg_run(w).pk}/"),
    (
        "payout_preview_detail",
        "samordnare.vg@demo.test",
        lambda w: f"/region/vg/utbetalningar/forhandsgranskning/{_vg_preview(w).pk}/",
    ),
    ("repayment_list", "samordnare.vg@demo.test", lambda w: "/region/vg/aterbetalningar/"),
    (
        "repayment_receive",
        "samordnare.vg@demo.test",
        lambda w: f"/region/vg/aterbetalningar/{_vg_repayment(w).pk}/mottagen/",
    ),
    ("invoice_file_upload", "fakturerare@demo.test", lambda w: f"/klinik/{w.clinic31.pk}/fakturafil/"),
    (
        "invoice_file_detail",
        "fakturerare@demo.test",
        lambda w: f"/klinik/{w.clinic31.pk}/fakturafil/{_checked_invoice_file(w).pk}/",
    ),
    ("review_claims", "samordnare.vg@demo.test", lambda w: "/region/vg/rakningar/?state=under_review"),
    ("review_claims_error", "samordnare.vg@demo.test", lambda w: "/region/vg/rakningar/?amount_from=x"),
    (
        "review_claim",
        "samordnare.vg@demo.test",
        lambda w: f"/region/vg/rakningar/{_demo_claim(w, 'DEMO-A2').pk}/",
    ),
    (
        "review_invoice_void",
        "samordnare.vg@demo.test",
        lambda w: f"/region/vg/rakningar/fakturor/{_demo_claim(w, 'DEMO-A2').invoice_id}/makulera/",
    ),
    ("review_rules", "samordnare.vg@demo.test", lambda w: "/region/vg/rakningar/regler/"),
    ("review_rules_admin", "regionadmin@demo.test", lambda w: "/region/vg/rakningar/regler/"),
    ("review_rule_new", "regionadmin@demo.test", lambda w: "/region/vg/rakningar/regler/ny/"),
    # Umbrella organisations: the region administrator's Organisationer and the organisation's own pages.
    ("region_organisations", "regionadmin@demo.test", lambda w: "/region/vg/organisationer/"),
    ("region_organisation", "regionadmin@demo.test", lambda w: f"/region/vg/organisationer/{_demo_org(w).pk}/"),
    ("organisation_start", "organisation@demo.test", lambda w: f"/organisation/{_demo_org(w).pk}/"),
    ("organisation_invoices", "organisation@demo.test", lambda w: f"/organisation/{_demo_org(w).pk}/fakturor/"),
    (
        "organisation_invoices_paid",
        "organisation@demo.test",
        lambda w: f"/organisation/{_demo_org(w).pk}/fakturor/utbetalda/",
    ),
    (
        "organisation_payouts",
        "organisation@demo.test",
        lambda w: f"/organisation/{_demo_org(w).pk}/utbetalningsbesked/",
    ),
    (
        "invoice_claim_question",
        "dalarna@demo.test",
        lambda w: f"/klinik/{w.clinic2001.pk}/fakturor/rakningar/{_dalarna_a2(w).pk}/",
    ),
    (
        "review_question_answer",
        "dalarna@demo.test",
        lambda w: f"/klinik/{w.clinic2001.pk}/fakturor/fragor/{_dalarna_a2(w).questions.get().pk}/svara/",
    ),
    (
        "invoice_file_print",
        "fakturerare@demo.test",
        lambda w: f"/klinik/{w.clinic31.pk}/fakturafil/{_checked_invoice_file(w).pk}/?utskrift=1",
    ),
    # Identity: Glömt lösenord, Mitt konto, enrolling an authenticator app.
    ("password_reset", None, lambda w: "/glomt-losenord/"),
    ("password_reset_done", None, lambda w: "/glomt-losenord/skickat/"),
    ("account", "fakturerare@demo.test", lambda w: "/konto/"),
    ("account_coordinator", "samordnare.vg@demo.test", lambda w: "/konto/"),  # with the app and recovery codes
    ("account_password", "fakturerare@demo.test", lambda w: "/konto/losenord/"),
    ("account_email", "fakturerare@demo.test", lambda w: "/konto/e-post/"),
    ("account_email_confirm", None, lambda w: "/konto/e-post/ogiltig-lank/"),
    ("two_factor_enrol", "fakturerare@demo.test", lambda w: "/logga-in/tvastegsverifiering/"),
    ("region_clinics_admin", "regionadmin@demo.test", lambda w: "/region/vg/kliniker/"),  # the 2FA setting
    # Issue 15: Ansök om anslutning, the region administrator's Ansökningar (the demo's open one), Samtycke.
    ("application_new", None, lambda w: "/ansok-om-anslutning/"),
    ("region_applications", "regionadmin@demo.test", lambda w: "/region/dalarna/ansokningar/"),
    (
        "region_application_detail",
        "regionadmin@demo.test",
        lambda w: f"/region/dalarna/ansokningar/{ClinicApplication.objects.of_region(w.dalarna).get().pk}/",
    ),
    ("account_privacy", "fakturerare@demo.test", lambda w: "/konto/personuppgifter/"),
    # Avtal: clinic 32 has Västra Götaland's version 2 to sign (the start page's banner, the page's sign button).
    ("clinic_start_agreement_waiting", "admin32@demo.test", lambda w: f"/klinik/{w.clinic32.pk}/"),
    ("clinic_agreements", "admin32@demo.test", lambda w: f"/klinik/{w.clinic32.pk}/avtal/"),
    ("clinic_agreements_signed", "kamrer31@demo.test", lambda w: f"/klinik/{w.clinic31.pk}/avtal/"),
    ("region_agreements", "samordnare.vg@demo.test", lambda w: "/region/vg/avtal/"),
    ("region_agreement_new", "regionadmin@demo.test", lambda w: "/region/vg/avtal/ny/"),
    (
        "region_agreement",
        "samordnare.vg@demo.test",
        lambda w: f"/region/vg/avtal/{AgreementVersion.objects.of_region(w.vg).get(number=2).pk}/",
    ),
]


# What `make test-fast` walks: the first page of each app (the view's package) for each user, and for nobody signed
# in; the whole walk, here and in English (tests/test_english_walk.py), is marked `slow` and runs in `make test` and
# CI. test_the_fast_sample_is_the_first_page_of_each_app_for_each_user keeps the list true as pages are added.
FAST_PAGES = {
    "access_log",
    "account_privacy",
    "administration",
    "administration_pending_change",
    "application_new",
    "choose",
    "clinic_agreements",
    "clinic_agreements_signed",
    "clinic_payouts",
    "clinic_start",
    "clinic_start_agreement_waiting",
    "clinic_start_biller",
    "clinic_tariff",
    "invitations",
    "invoice_claim_question",
    "login",
    "organisation_start",
    "password_reset_done",
    "payout_run_list",
    "region_agreement_new",
    "region_agreements",
    "region_applications",
    "region_clinics",
    "region_organisations",
    "region_start",
    "region_start_dalarna",
    "review_claims",
    "review_question_answer",
    "review_rules_admin",
    "service_windows",
    "service_windows_portal",
    "tariff_list",
}


def walk(pages) -> list:
    """PAGES as parameters, those outside FAST_PAGES marked slow."""
    return [
        pytest.param(*page, id=page[0], marks=() if page[0] in FAST_PAGES else (pytest.mark.slow,)) for page in pages
    ]


@pytest.fixture(autouse=True)
def _back_to_default_language():
    # LocaleMiddleware activates the request's language in this thread; leave none behind for the next test.
    yield
    translation.deactivate()


def _biller31(world: World):
    return world.membership(world.biller, world.clinic31)


def _demo_claim(world: World, reference: str) -> Claim:
    return Claim.objects.get(clinic=world.clinic31, reference=reference)


def _dalarna_a2(world: World) -> Claim:
    """The demo's claim under review at clinic 2001, with a question not answered yet."""
    return Claim.objects.get(clinic=world.clinic2001, reference="DEMO-A2")


def _checked_invoice_file(world: World) -> InvoiceFileUpload:
    """A checked invoice file of clinic 31 with one claim in fault, as the error list shows it."""
    upload = InvoiceFileUpload.objects.create(
        clinic=world.clinic31,
        uploaded_by=world.biller,
        original_name="faktura.xml",
        sha256="0" * 64,
        state=InvoiceFileState.CHECKED,
        invoice_reference="212962",
        claim_count=2,
        processed_count=2,
        faulty_count=1,
    )
    upload.faults.create(
        claim_index=2,
        clinic_number="31",
        claim_reference="980891",
        personal_identity_number="200001022383",
        code="invalid_pin",
        message="Personnumret är ogiltigt.",
        message_id="Personnumret är ogiltigt.",  # as the check stores it: said again in the reader's language
        message_params={},
    )
    return upload


def _demo_org(world):
    return Organisation.objects.get(organisation_number="5566778899", region=world.vg)


def _vg_run(world: World):
    from payouts.models import PayoutRun

    return PayoutRun.objects.filter(region=world.vg).order_by("pk").first()


def _vg_preview(world: World):
    """A computed preview of Västra Götaland's next run (the demo's claims under behandling, and those left out)."""
    return ready_preview(region=world.vg, actor=world.coordinator_vg)


def _vg_repayment(world: World):
    """Clinic 32 (plusgiro) credits the demo's paid claim: a repayment the region waits for."""
    from billing.services import claim_credit
    from payouts.models import Repayment

    paid = Claim.objects.filter(clinic=world.clinic32, state="paid").first()
    return Repayment.objects.get(credit_invoice=claim_credit(actor=world.biller, claim=paid))


def _tariff_this_year(world: World) -> TariffVersion:
    """The demo's list for this year (it has last year's too, so the page has changes to show)."""
    return TariffVersion.objects.get(region=world.vg, valid_from=datetime.date(timezone.localdate().year, 1, 1))


@pytest.fixture
def planned_window(world):
    """A window of the whole portal ten days ahead: every page shows the banner, and the system administrator's
    service-window page has its table."""
    starts_at = timezone.now() + datetime.timedelta(days=10)
    return ServiceWindow.objects.create(
        starts_at=starts_at,
        ends_at=starts_at + datetime.timedelta(hours=2),
        message="Uppgradering av databasen.",
        created_by=world.region_admin,
    )


def _get(client, world: World, email: str | None, url: str):
    if email:
        client.force_login(World.user(email))
    response = client.get(url)
    assert response.status_code == 200, f"{url} as {email}: {response.status_code}"
    return lxml.html.document_fromstring(response.content)


def _is_focusable(element) -> bool:
    tabindex = element.get("tabindex")
    if tabindex is not None and tabindex.strip().lstrip("-").isdigit():
        return int(tabindex) >= 0
    if element.tag == "a":
        return element.get("href") is not None
    if element.tag == "input":
        return (element.get("type") or "text").lower() != "hidden" and element.get("disabled") is None
    return element.tag in FOCUSABLE_TAGS and element.get("disabled") is None


def _labelled(doc, control) -> bool:
    if (control.get("aria-label") or "").strip():
        return True
    if labelledby := (control.get("aria-labelledby") or "").split():
        return all(doc.xpath("//*[@id=$id]", id=ref) for ref in labelledby)
    control_id = control.get("id")
    has_label_for = bool(control_id) and bool(doc.xpath("//label[@for=$id]", id=control_id))
    return has_label_for


def _visible_controls(doc):
    for control in doc.xpath("//input | //select | //textarea"):
        if control.tag == "input" and (control.get("type") or "text").lower() in UNLABELLED_INPUT_TYPES:
            continue
        yield control


def _describe(element) -> str:
    return lxml.html.tostring(element, encoding="unicode").split(">", 1)[0] + ">"


def assert_accessible_markup(doc, where: str) -> None:
    problems: list[str] = []

    lang = doc.get("lang") or ""
    if not lang.strip():
        problems.append("<html> has no lang")

    mains = doc.xpath("//main")
    if len(mains) != 1 or mains[0].get("id") != "main":
        problems.append(f"expected exactly one <main id=main>, found {[m.get('id') for m in mains]}")

    body = doc.body
    focusable = [element for element in body.iter() if isinstance(element.tag, str) and _is_focusable(element)]
    if not focusable or focusable[0].tag != "a" or focusable[0].get("href") != "#main":
        first = _describe(focusable[0]) if focusable else "nothing"
        problems.append(f"the first focusable element is {first}, not the skip link to #main")

    if len(doc.xpath("//h1")) != 1:
        problems.append(f"expected one <h1>, found {len(doc.xpath('//h1'))}")
    if len(doc.xpath("/html/body/header")) != 1:
        problems.append("expected one <header> directly in <body> (the banner)")
    if len(doc.xpath("/html/body/footer")) != 1:
        problems.append("expected one <footer> directly in <body> (the contentinfo)")

    ids = doc.xpath("//@id")
    duplicates = sorted({value for value in ids if ids.count(value) > 1})
    if duplicates:
        problems.append(f"duplicate ids: {duplicates}")

    for control in _visible_controls(doc):
        if not _labelled(doc, control):
            problems.append(f"no label for {_describe(control)}")
        if control.get("type") == "radio" and control.get("value") == "":
            problems.append(f"a radio button without a value, like an empty choice: {_describe(control)}")

    for table in doc.xpath("//table"):
        headers = table.xpath(".//th")
        if not headers:
            problems.append("a <table> without <th> headers")
        for header in headers:
            if header.get("scope") not in {"col", "row", "colgroup", "rowgroup"}:
                problems.append(f"<th> without scope: {_describe(header)}")
        if not table.xpath("./caption") and not table.get("aria-label") and not table.get("aria-labelledby"):
            problems.append("a <table> without a caption or accessible name")

    for script in doc.xpath("//script[not(@src)]"):
        problems.append(f"inline script: {(script.text or '').strip()[:60]!r}")
    if doc.xpath("//style"):
        problems.append("an inline <style> element")
    for element in doc.iter():
        if not isinstance(element.tag, str):
            continue
        for name in element.attrib:
            if name == "style":
                problems.append(f"inline style attribute on {_describe(element)}")
            elif name.lower().startswith("on"):
                problems.append(f"inline event handler {name} on {_describe(element)}")

    for image in doc.xpath("//img[not(@alt)]"):
        problems.append(f"<img> without alt: {_describe(image)}")

    assert problems == [], f"{where}:\n  " + "\n  ".join(problems)


def test_the_fast_sample_is_the_first_page_of_each_app_for_each_user(world):
    first = {}
    for name, email, url in PAGES:
        app = resolve(urlsplit(url(world)).path).func.__module__.split(".")[0]
        first.setdefault((app, email), name)
    assert set(first.values()) == FAST_PAGES


@pytest.mark.parametrize("name,email,url", walk(PAGES))
def test_page_markup_is_accessible(client, world, planned_window, name, email, url):
    path = url(world)
    doc = _get(client, world, email, path)

    assert_accessible_markup(doc, f"{path} as {email or 'anonymous'}")
    # The planned window is announced on every page, as a status message.
    assert doc.xpath("//div[contains(@class, 'service-banner')][@role='status']")


def test_service_window_page_lists_the_planned_window_in_a_table(client, world, planned_window):
    doc = _get(client, world, "system@demo.test", "/servicefonster/")
    assert doc.xpath("//main//table//td[contains(., 'Uppgradering av databasen.')]")


def test_pages_in_english_are_accessible_too(client, world):
    client.post("/sprak/", {"language": "en", "next": "/logga-in/"})
    for email, path in [
        (None, "/logga-in/"),
        ("admin31@demo.test", f"/klinik/{world.clinic31.pk}/klinikadministration/"),
    ]:
        doc = _get(client, world, email, path)
        assert doc.get("lang") == "en"
        assert doc.xpath("//a[@href='#main']")[0].text_content().strip() == "Skip to main content"
        assert_accessible_markup(doc, f"{path} in English")


# (name, e-mail, URL, posted data, field name of the field in error)
INVALID_POSTS = [
    (
        "claim_register",
        "fakturerare@demo.test",
        lambda w: f"/klinik/{w.clinic31.pk}/registrera-rakning/",
        {"action": "search", "personal_identity_number": "20000101-2385"},
        "personal_identity_number",
    ),
    (
        "user_new",
        "admin31@demo.test",
        lambda w: f"/klinik/{w.clinic31.pk}/klinikadministration/anvandare/ny/",
        {"name": "Ny Person", "email": "x", "role": "biller"},
        "email",
    ),
    ("login", None, lambda w: "/logga-in/", {"username": "x", "password": PASSWORD}, "username"),
    ("password_reset", None, lambda w: "/glomt-losenord/", {"email": "x"}, "email"),
    (
        "account_password",
        "fakturerare@demo.test",
        lambda w: "/konto/losenord/",
        {"old_password": "fel"},
        "old_password",
    ),
    ("account_email", "fakturerare@demo.test", lambda w: "/konto/e-post/", {"email": "x", "password": "x"}, "email"),
    ("two_factor_enrol", "fakturerare@demo.test", lambda w: "/logga-in/tvastegsverifiering/", {"code": ""}, "code"),
    (
        "details_form",
        "admin31@demo.test",
        lambda w: f"/klinik/{w.clinic31.pk}/klinikadministration/uppgifter/",
        {
            "street_address": "Tandgatan 1",
            "postal_code": "123",
            "city": "Göteborg",
            "phone": "",
            "email": "",
            "payment_method": "bankgiro",
            "account_number": "555-1239",
            "payout_email": "ekonomi31@demo.test",
        },
        "postal_code",
    ),
    (
        "service_windows",
        "regionadmin@demo.test",
        lambda w: "/region/vg/servicefonster/",
        {"starts_at": "", "ends_at": "2030-01-01T10:00", "message": "Uppgradering."},
        "starts_at",
    ),
]


def _post(client, email: str | None, url: str, data: dict):
    if email:
        client.force_login(World.user(email))
    response = client.post(url, data)
    assert response.status_code == 200, f"{url}: expected the form again, got {response.status_code}"
    return lxml.html.document_fromstring(response.content)


@pytest.mark.parametrize("name,email,url,data,field", INVALID_POSTS, ids=[invalid[0] for invalid in INVALID_POSTS])
def test_invalid_form_has_an_error_summary_leading_to_the_field(client, world, name, email, url, data, field):
    doc = _post(client, email, url(world), data)
    field_id = f"id_{field}"

    summaries = doc.xpath("//main//*[contains(concat(' ', @class, ' '), ' error-summary ')]")
    assert len(summaries) == 1
    summary = summaries[0]
    assert summary.get("role") == "alert"
    # The summary is named by its title and comes before the form's fields.
    assert doc.xpath("//*[@id=$id]", id=summary.get("aria-labelledby"))
    links = summary.xpath(".//a[@href=$href]", href=f"#{field_id}")
    assert len(links) == 1, f"the summary does not link to #{field_id}"

    (control,) = doc.xpath("//*[@id=$id]", id=field_id)
    in_order = list(doc.iter())
    assert in_order.index(summary) < in_order.index(control), "the error summary comes after the field"
    assert control.tag in {"input", "select", "textarea"}
    # What Django 5.2 renders for a field in error: aria-invalid and the error list referenced by aria-describedby.
    assert control.get("aria-invalid") == "true"
    described_by = (control.get("aria-describedby") or "").split()
    assert f"{field_id}_error" in described_by
    (error_list,) = doc.xpath("//*[@id=$id]", id=f"{field_id}_error")
    assert error_list.text_content().strip()
    assert error_list.text_content().strip() in links[0].text_content()

    assert_accessible_markup(doc, f"{url(world)} after an invalid post")


def test_invalid_radio_group_is_described_by_its_errors(client, world):
    """Radio buttons sit in a fieldset: the fieldset points at the errors and every button is marked invalid."""
    url = f"/klinik/{world.clinic31.pk}/klinikadministration/anvandare/{_biller31(world).pk}/roll/"
    doc = _post(client, "admin31@demo.test", url, {"role": "no_such_role"})

    summary = doc.xpath("//*[contains(@class, 'error-summary')]")[0]
    assert summary.get("role") == "alert"
    assert summary.xpath(".//a[@href='#id_role']")
    assert doc.xpath("//*[@id='id_role']"), "the summary link leads nowhere"
    (fieldset,) = doc.xpath("//fieldset[.//input[@name='role']]")
    assert fieldset.get("aria-describedby") == "id_role_error"
    assert doc.xpath("//*[@id='id_role_error']")[0].text_content().strip()
    radios = fieldset.xpath(".//input[@type='radio']")
    assert radios and all(radio.get("aria-invalid") == "true" for radio in radios)
    assert fieldset.xpath("./legend")
    assert_accessible_markup(doc, f"{url} after an invalid post")


def test_the_pages_of_logging_in_are_accessible(client, world):
    """The second step, the recovery codes shown once and the lockout page, which only a login reaches."""
    coordinator = world.coordinator_vg
    response = client.post("/logga-in/", {"username": coordinator.email, "password": PASSWORD})
    verify = lxml.html.document_fromstring(client.get(response["Location"]).content)
    assert_accessible_markup(verify, "/logga-in/kod/")
    codes = client.post("/logga-in/kod/", {"code": totp_code(coordinator)})
    assert codes.status_code == 302
    assert_accessible_markup(
        lxml.html.document_fromstring(client.post("/konto/reservkoder/").content), "/konto/reservkoder/"
    )
    client.logout()
    for _attempt in range(5):
        locked = client.post("/logga-in/", {"username": "admin31@demo.test", "password": "fel"})
    assert locked.status_code == 429
    assert_accessible_markup(lxml.html.document_fromstring(locked.content), "the lockout page")
