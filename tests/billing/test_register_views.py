"""Registrera räkning without JavaScript: each step posted as a browser would post the page, the claim it sends."""

import datetime
import re
import threading
from collections import Counter

import lxml.html
import pytest
from django.db import connection, connections
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from billing.register_views import PARTIAL_HEADER
from claims.drafts import Fault, LineDraft
from claims.models import PATIENT_FEE_CODE, Claim, Invoice, TariffRow, TariffVersion
from claims.validation import line_faults
from portal.models import AccessLogEntry
from portal.money import format_kronor
from tests.claims.factories import tariff_for
from tests.eligibility.factories import CertificateFactory

N_PIN = "200001012384"  # VG: N certificate 764153 (N1) tills vidare
ENDED_PIN = "200001012392"  # VG: N certificate that ended last year
FHB_PIN = "200001022383"  # VG: no certificate, an approved S prior assessment (401 tooth 36, 101) at clinic 31
FREE_CARD_PIN = "200001022391"  # VG: N certificate and frikort 55512 for this year
DALARNA_PIN = "200001032390"  # Dalarna: N2 certificate tills vidare, clinic 2001


def _visit_days(*, this_year: bool = False) -> tuple[datetime.date, datetime.date]:
    """Two visits, yesterday and today. `this_year`: both in this calendar year (for the certificate that ended
    last year), which on 1 January makes them the same day."""
    today = timezone.localdate()
    yesterday = today - datetime.timedelta(days=1)
    return (today if this_year and yesterday.year != today.year else yesterday), today


def _price(version: TariffVersion, code: str) -> int:
    return TariffRow.objects.get(version=version, code=code).price


@pytest.fixture
def vg_tariff(world) -> TariffVersion:
    return tariff_for(world.vg, *_visit_days())


class Page:
    """The register page as a browser without JavaScript sees it: the form's fields, posted back with a button."""

    def __init__(self, client, url: str, response):
        self.client = client
        self.url = url
        self.responses = [response]

    @property
    def response(self):
        return self.responses[-1]

    @property
    def doc(self):
        # Parsed once per response: a test reads the same page several times (its text, fields, errors).
        response = self.response
        if getattr(response, "_parsed", None) is None:
            response._parsed = lxml.html.document_fromstring(response.content)
        return response._parsed

    @property
    def text(self) -> str:
        return self.doc.text_content()

    def fields(self) -> dict:
        form = self.doc.get_element_by_id("claim-form")
        return dict(form.form_values())

    def press(self, name: str, value: str, **changes):
        data = {**self.fields(), **{key.replace("__", "-"): value for key, value in changes.items()}}
        data[name] = value
        response = self.client.post(self.url, data)
        self.responses.append(response)
        return response

    def search(self, pin: str):
        return self.press("action", "search", personal_identity_number=pin)

    def add(self, day: datetime.date, code: str, **changes):
        # What the row held after a refused add stays, as in a browser, unless the test types over it.
        values = {"entry-visit_date": day.isoformat(), "entry-code": code}
        values.update({f"entry-{key}": value for key, value in changes.items()})
        data = {**self.fields(), **values, "action": "add_line"}
        response = self.client.post(self.url, data)
        self.responses.append(response)
        return response

    def submit(self, **changes):
        return self.press("action", "submit", **changes)

    def errors(self) -> list[str]:
        return [item.text_content().strip() for item in self.doc.xpath("//ul[@class='errorlist']/li")]

    def summary(self) -> list[str]:
        return [item.text_content().strip() for item in self.doc.xpath("//div[@id='error-summary']//li")]


def _open(client, world, user=None, clinic=None) -> Page:
    client.force_login(user or world.biller)
    url = reverse("claim_register", kwargs={"clinic_pk": (clinic or world.clinic31).pk})
    response = client.get(url)
    assert response.status_code == 200
    return Page(client, url, response)


def _pin_spellings(pin: str) -> list[str]:
    return [pin, pin[2:], f"{pin[:8]}-{pin[8:]}", f"{pin[2:8]}-{pin[8:]}"]


def _assert_no_pin_in_urls(page: Page, pin: str) -> None:
    for response in page.responses:
        urls = [response.wsgi_request.get_full_path()]
        if response.get("Location"):
            urls.append(response["Location"])
        if response.content.strip() and response["Content-Type"].startswith("text/html"):
            urls += lxml.html.document_fromstring(response.content).xpath(
                "//@href | //@action | //@formaction | //@src"
            )
        for url in urls:
            for spelling in _pin_spellings(pin):
                assert spelling not in url, f"{spelling} in {url}"


def _n_claim_up_to_submit(client, world, pin=N_PIN) -> Page:
    first, last = _visit_days(this_year=pin == ENDED_PIN)
    page = _open(client, world)
    page.search(pin)
    page.press("action", "refresh", care_model="K1")
    assert page.add(first, "101").status_code == 200
    page.add(last, "101")
    fees = {f"fee-{day.isoformat()}": "200" for day in {first, last}}
    page.press("action", "refresh", **fees)
    return page


# The whole flow -----------------------------------------------------------------------------------------------


def test_get_shows_only_the_personnummer_step(client, world):
    page = _open(client, world)
    assert page.doc.xpath("//h1")[0].text_content() == "Registrera tandvårdsräkning"
    names = page.doc.xpath("//form[@id='claim-form']//*[self::input or self::select or self::textarea]/@name")
    assert set(names) == {"csrfmiddlewaretoken", "draft", "personal_identity_number"}
    assert page.doc.xpath("//button[@name='action'][@value='search']")[0].text_content() == "Sök person"
    assert "Skicka in tandvårdsräkning" not in page.text
    # The menu leads here.
    assert page.doc.xpath("//nav//a[@aria-current='page']")[0].text_content() == "Registrera räkning"


def test_sok_person_shows_the_support_forms_and_logs_the_look_up(client, world, vg_tariff):
    page = _open(client, world)
    page.search("20000101-2384")
    labels = [label.text_content() for label in page.doc.xpath("//fieldset[contains(@class,'support-forms')]//label")]
    assert labels == [
        "N-tandvård (Intyget giltigt: tills vidare)",
        "F-tandvård – Patienten saknar intyg för F-tandvård.",
        "S-tandvård (som led i sjukdomsbehandling under begränsad tid) - FHB krävs",
    ]
    fields = page.fields()
    assert fields["support_form"] == "N"  # the certificate's form is chosen; S stays possible
    assert fields["patient_category"] == "N1"  # from the certificate's group
    assert "764153" in page.text
    assert [o.text for o in page.doc.xpath("//select[@name='care_model']/option")] == [
        "Välj vårdmodell",
        "Konventionell kliniktandvård",
        "Permanent tandvårdsutrustning",
        "Mobil hemtandvård 1",
        "Mobil hemtandvård 2",
        "Mobil hemtandvård 3",
    ]
    codes = page.doc.xpath("//datalist[@id='tariff-codes']/option")
    assert codes[0].get("value") == PATIENT_FEE_CODE  # "Patientavgift finns överst i åtgärdslistan"
    basic = next(option for option in codes if option.get("value") == "101")
    assert basic.text_content() == "101 Basundersökning och diagnostik, utförd av tandläkare (980\xa0kr)"
    (entry,) = AccessLogEntry.objects.all()
    assert entry.personal_identity_number == N_PIN and entry.clinic == world.clinic31
    assert entry.shown.startswith("Registrera räkning")

    page.search(N_PIN)  # each look-up is logged, even of the same patient
    assert AccessLogEntry.objects.count() == 2


def test_whole_flow_without_javascript_creates_one_claim_with_correct_totals(client, world, vg_tariff):
    first, last = _visit_days()
    before = Claim.objects.count()
    page = _n_claim_up_to_submit(client, world)

    rows = page.doc.xpath("//table[@id='claim-lines-table']/tbody/tr")
    assert [row.xpath("./td")[0].text_content() for row in rows] == (
        [first.isoformat(), first.isoformat(), last.isoformat(), last.isoformat()]
        if first != last
        else [first.isoformat()] * 3
    )
    assert "101 Basundersökning och diagnostik, utförd av tandläkare (980\xa0kr)" in rows[0].text_content()
    price = _price(vg_tariff, "101")
    visits = len({first, last})
    expected_total = 2 * price - visits * 20000
    assert page.doc.xpath("//td[@data-claim-total]")[0].text_content() == format_kronor(expected_total)

    response = page.submit(invoice_reference="4711", reference="REG-1001", comment="Två besök")
    assert response.status_code == 302
    claim = Claim.objects.get(clinic=world.clinic31, reference="REG-1001")
    assert response["Location"] == reverse(
        "claim_register_done", kwargs={"clinic_pk": world.clinic31.pk, "claim_pk": claim.pk}
    )
    assert Claim.objects.count() == before + 1
    assert claim.invoice.reference == "4711"
    assert claim.patient.personal_identity_number == N_PIN
    assert claim.support_form == "N"
    assert claim.certificate.number == "764153"
    assert claim.care_model.code == "K1"
    assert claim.patient_category.code == "N1"
    assert claim.comment == "Två besök"
    assert claim.created_by == world.biller
    assert claim.total == expected_total
    assert claim.patient_fee_total == -visits * 20000
    lines = list(claim.lines.order_by("visit_date", "position"))
    assert [(line.code, line.amount) for line in lines if line.code == "101"] == [("101", price), ("101", price)]
    assert [line.amount for line in lines if line.code == PATIENT_FEE_CODE] == [-20000] * visits

    done = page.client.get(response["Location"])
    page.responses.append(done)
    body = done.content.decode()
    assert "Räkningen är inskickad" in body
    assert "4711" in body and "REG-1001" in body
    doc = lxml.html.document_fromstring(done.content)
    (again,) = doc.xpath("//a[normalize-space()='Registrera en räkning till på samma faktura']")
    _assert_no_pin_in_urls(page, N_PIN)

    # "Registrera en räkning till på samma faktura" keeps the OCR number; both claims share the invoice.
    second = Page(page.client, page.url, page.client.get(again.get("href")))
    assert second.fields()["invoice_reference"] == "4711"
    second.search(N_PIN)
    second.press("action", "refresh", care_model="K1")
    second.add(last, "103")  # not 101 again: the first claim has it on the day (duplicate care)
    second.press("action", "refresh", **{f"fee-{last.isoformat()}": "200"})
    assert second.submit(reference="REG-1002").status_code == 302
    assert Claim.objects.get(clinic=world.clinic31, reference="REG-1002").invoice == claim.invoice


def test_rejected_submit_keeps_the_input_and_shows_each_fault_beside_its_field(client, world, vg_tariff):
    page = _n_claim_up_to_submit(client, world, pin=ENDED_PIN)
    assert page.fields()["support_form"] == "S"  # no valid certificate today: S is the default …
    response = page.submit(support_form="N", invoice_reference="4712", reference="REG-2001")  # … but N is chosen

    assert response.status_code == 200
    assert not Claim.objects.filter(clinic=world.clinic31, reference="REG-2001").exists()
    summary = page.doc.xpath("//div[@id='error-summary']")[0]
    assert summary.get("role") == "alert"
    links = {a.text_content(): a.get("href") for a in summary.xpath(".//a")}
    assert links["Patienten saknar giltigt intyg för N-tandvård."] == "#id_support_form_0"
    assert page.doc.xpath("//*[@id='id_support_form_0']")
    # Beside the field too, and the field is marked invalid.
    errors = page.doc.xpath("//*[@id='id_support_form_error']")[0].text_content()
    assert "Patienten saknar giltigt intyg för N-tandvård." in errors
    assert page.doc.xpath("//input[@id='id_support_form_0']")[0].get("aria-invalid") == "true"
    # Everything typed is still there.
    fields = page.fields()
    assert fields["support_form"] == "N"
    assert fields["care_model"] == "K1"
    assert fields["invoice_reference"] == "4712"
    assert fields["reference"] == "REG-2001"
    assert len(page.doc.xpath("//tr[starts-with(@id, 'line-')]")) == 2
    assert all(fields[name] == "200" for name in fields if name.startswith("fee-"))
    _assert_no_pin_in_urls(page, ENDED_PIN)


def test_faults_of_every_kind_are_listed_with_exact_messages(client, world, vg_tariff):
    first, _last = _visit_days()
    page = _open(client, world)
    page.search(N_PIN)
    page.add(first, "101")
    page.submit(reference="")
    summary = page.summary()
    assert "Ange en räkningsreferens." in summary
    assert "Ange vårdmodell för N-tandvård." in summary
    assert f"Patientavgift saknas för besöket {first.isoformat()}." in summary
    assert "Ange OCR/Fakturanummer." in summary
    links = {a.text_content(): a.get("href") for a in page.doc.xpath("//div[@id='error-summary']//a")}
    assert links["Ange en räkningsreferens."] == "#id_reference"
    assert links["Ange vårdmodell för N-tandvård."] == "#id_care_model"
    assert links[f"Patientavgift saknas för besöket {first.isoformat()}."] == f"#id_fee-{first.isoformat()}"
    assert links["Ange OCR/Fakturanummer."] == "#id_invoice_reference"
    for field_id in ("id_reference", "id_care_model", "id_invoice_reference", f"id_fee-{first.isoformat()}"):
        assert page.doc.xpath("//*[@id=$id]", id=field_id)[0].get("aria-invalid") == "true", field_id


def test_a_used_reference_is_refused_with_the_manuals_words(client, world, vg_tariff):
    page = _n_claim_up_to_submit(client, world)
    assert page.submit(invoice_reference="4713", reference="REG-3001").status_code == 302
    page = _n_claim_up_to_submit(client, world)
    page.submit(invoice_reference="4714", reference="REG-3001")
    assert "Räkningsreferensen har redan använts, använd ett annat" in page.summary()


def test_s_claim_with_the_approved_prior_assessment(client, world, vg_tariff):
    first, _last = _visit_days()
    page = _open(client, world)
    page.search(FHB_PIN)
    fields = page.fields()
    assert fields["support_form"] == "S"
    fhb = page.doc.xpath("//select[@name='prior_assessment']/option[@selected]")[0]
    assert re.match(r"FHB-\d{4}-\d{6} – S-tandvård, godkänt", fhb.text_content())
    assert fields["prior_assessment"] == fhb.get("value")  # the only approved one is chosen by itself

    page.add(first, "401")  # needs a tooth
    assert "Åtgärd 401 kräver tand." in page.errors()
    assert "Tand: Åtgärd 401 kräver tand." in page.summary()
    assert page.fields()["entry-code"] == "401"  # kept to be corrected
    page.add(first, "401", tooth="36")  # the demo's FHB has its 101 billed already
    page.press("action", "refresh", patient_category="S1", **{f"fee-{first.isoformat()}": "200"})
    response = page.submit(invoice_reference="4715", reference="REG-4001")

    assert response.status_code == 302, page.summary()
    claim = Claim.objects.get(clinic=world.clinic31, reference="REG-4001")
    assert claim.support_form == "S"
    assert claim.prior_assessment.number == fhb.get("value")
    assert claim.patient_category.code == "S1"
    assert sorted((line.code, line.tooth) for line in claim.lines.exclude(code=PATIENT_FEE_CODE)) == [("401", "36")]
    version = tariff_for(world.vg, first)
    assert claim.total == _price(version, "401") - 20000
    _assert_no_pin_in_urls(page, FHB_PIN)


def test_the_same_draft_submitted_twice_creates_one_claim(client, world, vg_tariff):
    page = _n_claim_up_to_submit(client, world)
    data = {**page.fields(), "invoice_reference": "4716", "reference": "REG-5001", "action": "submit"}
    first = client.post(page.url, data)
    second = client.post(page.url, data)  # the double click: the same page sent again
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"]
    assert Claim.objects.filter(clinic=world.clinic31, reference="REG-5001").count() == 1
    # Back to the page and on with the same draft: it says the claim is already sent.
    again = client.post(page.url, {**data, "action": "refresh"})
    assert "Den här räkningen är redan inskickad" in again.content.decode()


# The steps ---------------------------------------------------------------------------------------------------


def test_lines_are_removed_and_the_fee_of_an_emptied_visit_goes_with_them(client, world, vg_tariff):
    first, last = _visit_days()
    page = _n_claim_up_to_submit(client, world)
    remove = page.doc.xpath("//tr[@id='line-1']//button[@name='remove_line']")[0]
    assert remove.text_content().strip() == f"Ta bort 101 {last.isoformat()}"
    page.press("remove_line", remove.get("value"))
    assert [row.get("id") for row in page.doc.xpath("//tr[starts-with(@id, 'line-')]")] == ["line-0"]
    assert f"fee-{last.isoformat()}" not in page.fields()
    assert page.fields()[f"fee-{first.isoformat()}"] == "200"
    assert f"Åtgärd 101 den {last.isoformat()} är borttagen." in page.text


def test_the_patient_fee_code_sets_the_visits_fee(client, world, vg_tariff):
    first, _last = _visit_days()
    page = _open(client, world)
    page.search(N_PIN)
    page.add(first, "101")
    page.add(first, PATIENT_FEE_CODE)
    # The validation's words: the entry row no longer has its own ("Ange patientavgiften som pris.").
    assert "Ange pris för åtgärd patAvg." in page.errors()
    page.add(first, PATIENT_FEE_CODE, price="250")
    assert page.fields()[f"fee-{first.isoformat()}"] == "250"
    assert len(page.doc.xpath("//tr[starts-with(@id, 'line-')]")) == 1  # a fee is not a treatment line


def test_the_entry_row_refuses_what_the_tariff_does_not_allow(client, world, vg_tariff):
    first, _last = _visit_days()
    page = _open(client, world)
    page.search(N_PIN)
    page.add(first, "999")
    assert f"Åtgärdskod 999 finns inte i ersättningslistan för {first.isoformat()}." in page.errors()
    page.add(first, "101", tooth="36")
    assert "Åtgärd 101 ska inte ha tand." in page.errors()
    page.add(first, "101", price="100", tooth="")
    assert "Åtgärd 101 har fast pris i ersättningslistan; ange inget pris." in page.errors()
    page.add(first, "")
    assert "Ange åtgärd." in page.errors()
    # A whole suggestion, as a datalist may fill it in, is read by its code.
    page.add(first, "101 Basundersökning och diagnostik, utförd av tandläkare (980\xa0kr)", price="", tooth="")
    assert len(page.doc.xpath("//tr[starts-with(@id, 'line-')]")) == 1


@pytest.mark.parametrize(
    ("code", "typed", "field"),
    [
        ("401", {}, "tooth"),
        ("401", {"tooth": "19"}, "tooth"),  # was "Ange tand med FDI-nummer, t.ex. 36." in the form's own words
        ("401", {"tooth": "36", "jaw": "UK"}, "jaw"),
        ("825", {}, "jaw"),
        ("101", {"tooth": "36"}, "tooth"),
        ("101", {"price": "100"}, "price"),
        ("901", {}, "price"),
    ],
)
def test_the_entry_row_says_what_the_validation_says_beside_the_part_at_fault(
    client, world, vg_tariff, code, typed, field
):
    first, _last = _visit_days()
    page = _open(client, world)
    page.search(N_PIN)
    page.add(first, code, **typed)
    row = TariffRow.objects.get(version=tariff_for(world.vg, first), code=code)
    price = typed.get("price")
    line = LineDraft(first, code, typed.get("tooth", ""), typed.get("jaw", ""), price and int(price) * 100)
    faults = line_faults(line, row)
    assert field in {fault.line_field for fault in faults}
    for fault in faults:
        shown = page.doc.xpath("//*[@id=$id]", id=f"id_entry-{fault.line_field}_error")[0].text_content()
        assert fault.message in shown
    assert not page.doc.xpath("//tr[starts-with(@id, 'line-')]")


def test_lengths_are_the_validations_to_refuse_in_its_words(client, world, vg_tariff):
    first, _last = _visit_days()
    page = _n_claim_up_to_submit(client, world)
    # The browser is told the limits; a longer value posted anyway meets the validation, not Django's words.
    limits = {
        name: page.doc.xpath("//*[@name=$name]", name=name)[0].get("maxlength")
        for name in ("reference", "invoice_reference", "comment", "entry-tooth", "entry-comment")
    }
    assert limits == {
        "reference": "20",
        "invoice_reference": "25",
        "comment": "500",
        "entry-tooth": "2",
        "entry-comment": "200",
    }
    page.add(first, "101", comment="x" * 201)
    assert "Kommentaren till åtgärd 101 får ha högst 200 tecken." in page.errors()
    page.submit(reference="R" * 21, invoice_reference="9" * 26, comment="x" * 501)
    summary = page.summary()
    assert "Räkningsreferensen får ha 1–20 tecken: siffror, bokstäver A–Z och bindestreck." in summary
    assert "OCR/Fakturanumret får ha högst 25 tecken." in summary
    assert "Räkningskommentaren får ha högst 500 tecken." in summary
    # No second complaint of the form's own, which the summary would list under the field's label.
    labels = ("Räkningsreferens:", "OCR/Fakturanr.:", "Räkningskommentar:")
    assert [item for item in summary if item.startswith(labels)] == []


def test_a_frikort_is_filled_in_from_the_register(client, world, vg_tariff):
    page = _open(client, world)
    page.search(FREE_CARD_PIN)
    fields = page.fields()
    assert fields["has_free_card"] == "on"
    assert fields["free_card_number"] == "55512"
    assert fields["free_card_valid_from"] == timezone.localdate().replace(month=1, day=1).isoformat()


def test_a_step_before_sok_person_asks_for_the_patient_first(client, world):
    page = _open(client, world)
    page.press("action", "add_line")
    assert "Personnummer: Sök patienten med personnummer först." in page.summary()


def test_a_changed_personnummer_must_be_looked_up_before_sending(client, world, vg_tariff):
    page = _n_claim_up_to_submit(client, world)
    page.submit(personal_identity_number=FHB_PIN, invoice_reference="4717", reference="REG-6001")
    assert not Claim.objects.filter(reference="REG-6001").exists()
    assert "Personnummer: Du har ändrat personnumret. Klicka på Sök person för att hämta patienten." in page.summary()


def test_fribelopp_box_in_a_region_with_a_free_amount(client, world):
    today = timezone.localdate()
    version = tariff_for(world.dalarna, today)
    row = (
        TariffRow.objects.filter(version=version, price__isnull=False, requires="")
        .exclude(code=PATIENT_FEE_CODE)
        .order_by("-price")
        .first()
    )
    page = _open(client, world, user=world.dalarna_biller, clinic=world.clinic2001)
    page.search(DALARNA_PIN)
    assert f"Fribelopp {today.year}: 0\xa0kr använt, 20\xa0000\xa0kr kvar" in page.text
    assert "går över fribeloppet" not in page.text
    for _ in range(20000_00 // row.price + 1):
        page.add(today, row.code)
    assert "går över fribeloppet på 20\xa0000\xa0kr" in page.text


def test_the_fribelopp_box_and_the_sent_claim_get_one_answer(client, world):
    today = timezone.localdate()
    version = tariff_for(world.dalarna, today)
    row = (
        TariffRow.objects.filter(version=version, price__isnull=False, requires="", support_forms__contains=["N"])
        .exclude(code=PATIENT_FEE_CODE)
        .exclude(requires_prior_assessment=True)
        .order_by("-price")
        .first()
    )
    page = _open(client, world, user=world.dalarna_biller, clinic=world.clinic2001)
    page.search(DALARNA_PIN)
    count = 20000_00 // row.price + 1
    for _ in range(count):
        page.add(today, row.code)
    excess = count * row.price - 20000_00
    assert "går över fribeloppet på 20\xa0000\xa0kr" in page.text
    assert page.doc.xpath("//td[@data-claim-total]")[0].text_content() == format_kronor(count * row.price)
    page.submit(invoice_reference="D-4711", reference="REG-D-1")
    assert (
        f"Fribeloppet på 20\xa0000\xa0kr för {today.year} överskrids med {format_kronor(excess)}; "
        "förhandsbedömning krävs." in page.summary()
    )


# With JavaScript ------------------------------------------------------------------------------------------------


def test_a_script_gets_only_the_lines_part_back(client, world, vg_tariff):
    first, _last = _visit_days()
    page = _open(client, world)
    page.search(N_PIN)
    data = {**page.fields(), "entry-visit_date": first.isoformat(), "entry-code": "101", "action": "add_line"}
    response = client.post(page.url, data, headers={PARTIAL_HEADER: "lines"})
    assert response.status_code == 200
    assert response[PARTIAL_HEADER] == "lines"
    body = response.content.decode()
    assert "<h1" not in body and "<html" not in body
    fragment = lxml.html.fragment_fromstring(body, create_parent="div")
    assert fragment.xpath("//tr[@id='line-0']")
    assert fragment.xpath("//div[@data-announce]")[0].get("data-announce") == (
        f"Åtgärd 101 den {first.isoformat()} är tillagd."
    )
    # Without a patient the script is told to send the page the ordinary way.
    response = client.post(page.url, {"action": "add_line"}, headers={PARTIAL_HEADER: "lines"})
    assert PARTIAL_HEADER not in response


def test_a_validating_step_reads_the_regions_lists_and_the_patient_once(client, world, vg_tariff):
    """The page and the validation of its step share what they read (`ValidationContext(like=…)`): the region's
    rules, care models and patient categories, the patient's records and the tariff are each read once."""
    first, _last = _visit_days()
    page = _open(client, world)
    page.search(N_PIN)
    with CaptureQueriesContext(connection) as captured:
        page.add(first, "101")
    assert page.response.status_code == 200
    tables = Counter(
        found.group(1) for query in captured.captured_queries if (found := re.search(r'FROM "(\w+)"', query["sql"]))
    )
    once = ("clinics_regionrules", "clinics_caremodel", "clinics_patientcategory", "eligibility_patient")
    assert {table: tables[table] for table in (*once, "claims_tariffversion")} == dict.fromkeys(
        (*once, "claims_tariffversion"), 1
    )


def test_the_validate_endpoint_answers_the_faults_as_json(client, world, vg_tariff):
    first, _last = _visit_days(this_year=True)
    page = _open(client, world)
    page.search(ENDED_PIN)
    page.add(first, "101")
    url = reverse("claim_register_validate", kwargs={"clinic_pk": world.clinic31.pk})
    answer = client.post(url, {**page.fields(), "support_form": "N", "reference": "REG-7001"}).json()
    faults = {fault["message"]: fault["target"] for fault in answer["faults"]}
    assert faults["Patienten saknar giltigt intyg för N-tandvård."] == "id_support_form_0"
    assert faults["Ange vårdmodell för N-tandvård."] == "id_care_model"
    assert "Ange en räkningsreferens." not in faults
    empty = client.post(url, {}).json()
    assert (empty["faults"], empty["total"]) == ([], "0\xa0kr")


def test_the_validate_endpoint_says_where_each_inputs_faults_go_and_the_summa(client, world, vg_tariff):
    # The script keeps no field-to-place map and parses no kronor: both come from here.
    first, last = _visit_days()
    page = _n_claim_up_to_submit(client, world)
    url = reverse("claim_register_validate", kwargs={"clinic_pk": world.clinic31.pk})
    answer = client.post(url, {**page.fields(), f"fee-{last.isoformat()}": "150,50"}).json()
    targets = answer["targets"]
    assert targets["support_form"] == "id_support_form_0"
    assert targets["has_free_card"] == targets["free_card_valid_to"] == "id_free_card_number"
    assert targets["invoice_reference"] == "id_invoice_reference"
    assert targets[f"fee-{last.isoformat()}"] == f"id_fee-{last.isoformat()}"
    assert "personal_identity_number" not in targets
    price = _price(vg_tariff, "101")
    fees = 20000 + 15050 if first != last else 15050
    assert answer["total"] == format_kronor(2 * price - fees)
    # A fee that cannot be read: no Summa, so that the script keeps the last one.
    assert client.post(url, {**page.fields(), f"fee-{last.isoformat()}": "15x"}).json()["total"] is None


def test_a_visits_fault_goes_to_its_visits_fee_by_its_date_not_by_its_words(client, world, vg_tariff, monkeypatch):
    _first, last = _visit_days()
    page = _n_claim_up_to_submit(client, world)
    # A message that names no date, as a translation might not: the fault's visit_date places it.
    fault = Fault("patient_fee_missing", "Avgift saknas.", "patient_fees", visit_date=last)
    for where in ("billing.register_views", "claims.services"):
        monkeypatch.setattr(f"{where}.claim_validate", lambda **kwargs: [fault])
    url = reverse("claim_register_validate", kwargs={"clinic_pk": world.clinic31.pk})
    answer = client.post(url, {**page.fields(), "invoice_reference": "4720"}).json()
    assert [f["target"] for f in answer["faults"]] == [f"id_fee-{last.isoformat()}"]
    # And on the page sent without JavaScript, beside that visit's fee.
    page.submit(invoice_reference="4720", reference="REG-7100")
    assert page.doc.xpath("//*[@id=$id]", id=f"id_fee-{last.isoformat()}_error")[0].text_content() == "Avgift saknas."


def test_the_invoice_number_is_checked_as_the_clinic_types_by_the_one_rule(client, world, vg_tariff):
    page = _n_claim_up_to_submit(client, world)
    assert page.submit(invoice_reference="4730", reference="REG-8001").status_code == 302
    url = reverse("claim_register_validate", kwargs={"clinic_pk": world.clinic31.pk})
    page = _n_claim_up_to_submit(client, world)

    def invoice_faults(number):
        answer = client.post(url, {**page.fields(), "invoice_reference": number, "reference": "REG-8002"}).json()
        return [(f["message"], f["target"]) for f in answer["faults"] if f["target"] == "id_invoice_reference"]

    # Today's invoice with its claims still received: this claim may join it, on the page as when it is sent.
    assert invoice_faults("4730") == []
    assert invoice_faults("") == [("Ange OCR/Fakturanummer.", "id_invoice_reference")]
    Invoice.objects.filter(clinic=world.clinic31, reference="4730").update(
        received_at=timezone.now() - datetime.timedelta(days=1)
    )
    assert invoice_faults("4730") == [("OCR/Fakturanumret har redan använts.", "id_invoice_reference")]
    page.submit(invoice_reference="4730", reference="REG-8002")
    assert "OCR/Fakturanumret har redan använts." in page.summary()


def test_page_has_no_inline_script_and_loads_its_own(client, world, vg_tariff):
    page = _open(client, world)
    page.search(N_PIN)
    doc = page.doc
    assert doc.xpath("//script[contains(@src, 'js/claim-form.js')]")
    assert not doc.xpath("//script[not(@src)]")
    assert doc.xpath("//button[@value='submit'][@data-submit-once]")


def test_the_whole_form_after_a_refused_send_has_accessible_markup(client, world, vg_tariff):
    from tests.test_accessibility_markup import assert_accessible_markup

    page = _n_claim_up_to_submit(client, world, pin=FHB_PIN)
    page.add(_visit_days()[0], "401")  # refused: no tooth
    assert_accessible_markup(page.doc, "after a refused line")
    page.submit(support_form="N", reference="")
    assert page.summary()
    assert_accessible_markup(page.doc, "after a refused send")
    # Every link of the summary leads to an element on the page.
    for href in page.doc.xpath("//div[@id='error-summary']//a/@href"):
        assert page.doc.xpath("//*[@id=$id]", id=href[1:]), href


def test_two_sends_of_one_draft_at_the_same_moment_store_one_claim(transactional_small_world):
    """A double click without the script: both requests race; the draft's lock lets one store the claim and
    the other find it and answer with the same result."""
    world = transactional_small_world  # committed for the two requests' threads; no demo to load
    first, _last = _visit_days()
    world.tariff(first)
    CertificateFactory(patient__personal_identity_number=N_PIN, region=world.region, group="N1")
    browser = Client()
    page = _open(browser, world, user=world.biller, clinic=world.clinic)
    page.search(N_PIN)
    page.add(first, "101")
    data = {
        **page.fields(),
        "care_model": "K1",
        f"fee-{first.isoformat()}": "200",
        "invoice_reference": "4718",
        "reference": "REG-8001",
        "action": "submit",
    }
    start = threading.Barrier(2)
    answers = []

    def send():
        other = Client()
        other.cookies = browser.cookies  # the same browser: the same session
        try:
            start.wait(timeout=10)
            answers.append(other.post(page.url, data))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert [answer.status_code for answer in answers] == [302, 302]
    assert answers[0]["Location"] == answers[1]["Location"]
    assert Claim.objects.filter(clinic=world.clinic, reference="REG-8001").count() == 1
