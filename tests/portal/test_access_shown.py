"""Åtkomstlogg in the reader's language: an entry keeps what was shown as a kind and its values (portal.access_shown)
and the page and its Excel file say it in Swedish or in English; entries written before the kinds keep their
Swedish words and are said in English too when they are one of the kinds' words."""

import io

import lxml.html
import openpyxl
import pytest
from django.urls import reverse
from django.utils import translation

from portal.access_shown import AccessShown, AccessShownKind, access_shown_text, legacy_shown
from portal.models import AccessLogEntry
from tests.claims.factories import ClaimFactory

URL = "/region/vg/atkomstlogg/"


@pytest.fixture(autouse=True)
def _back_to_swedish():
    yield
    translation.activate("sv")


def _switch(client, language: str) -> None:
    client.post("/sprak/", {"language": language, "next": "/"})


def _shown_on_page(client, pin: str) -> list[str]:
    response = client.post(URL, {"personal_identity_number": pin})
    assert response.status_code == 200
    doc = lxml.html.document_fromstring(response.content)
    return [row.xpath("string(./td[6])").strip() for row in doc.xpath("//main//table/tbody/tr")]


def _shown_in_excel(client, pin: str) -> list[str]:
    response = client.post(URL, {"personal_identity_number": pin, "export": "1"})
    content = b"".join(response.streaming_content)  # the export streams (issue 16)
    rows = list(openpyxl.load_workbook(io.BytesIO(content)).active.iter_rows(values_only=True))
    header = next(index for index, row in enumerate(rows) if row[0] in ("Tidpunkt", "Time"))
    return [row[5] for row in rows[header + 1 :]]


def test_a_claim_seen_by_the_clinic_is_kept_as_data_and_read_in_either_language(client, world):
    claim = ClaimFactory(invoice__clinic=world.clinic31, reference="LOGG-7")
    pin = claim.patient.personal_identity_number
    client.force_login(world.biller)
    url = reverse("invoice_claim_detail", kwargs={"clinic_pk": world.clinic31.pk, "claim_pk": claim.pk})
    _switch(client, "en")  # the biller reads in English: the entry is the same data whoever looked
    assert client.get(url).status_code == 200

    entry = AccessLogEntry.objects.get(personal_identity_number=pin, user=world.biller)
    assert (entry.shown_kind, entry.shown_params) == ("claim", {"reference": "LOGG-7"})
    assert entry.shown == "Räkning LOGG-7: åtgärder och historik"  # the words as made, in Swedish

    client.force_login(world.coordinator_vg)
    _switch(client, "sv")
    assert _shown_on_page(client, pin) == ["Räkning LOGG-7: åtgärder och historik"]
    assert _shown_in_excel(client, pin)[-1] == "Räkning LOGG-7: åtgärder och historik"
    _switch(client, "en")
    # The coordinator's own searches are logged too, newest first: the claim's entry is the oldest.
    assert _shown_on_page(client, pin)[-1] == "Claim LOGG-7: procedures and history"
    shown = _shown_in_excel(client, pin)
    assert shown[-1] == "Claim LOGG-7: procedures and history"
    assert "Access log: search" in shown and not any("Åtkomstlogg" in text for text in shown)


def test_entries_written_before_the_kinds_are_read_in_english_when_their_words_are_known(client, world):
    pin = "200001012384"
    for words in ("Era fakturor: Utbetalda, sökning på personnummer", "Dalarnas uppslag"):
        AccessLogEntry.objects.create(
            user=world.biller,
            role="biller",
            clinic=world.clinic31,
            region=world.vg,
            personal_identity_number=pin,
            shown=words,
        )
    client.force_login(world.coordinator_vg)
    _switch(client, "en")
    shown = _shown_on_page(client, pin)
    assert "Your invoices: Paid, search by personal identity number" in shown
    assert "Dalarnas uppslag" in shown  # none of the kinds' words: shown as written


EXAMPLES = {"reference": "R-1", "number": "FHB-9", "name": "röntgen.pdf", "tab": "credits", "page": "2"}


@pytest.mark.parametrize("kind", list(AccessShownKind))
def test_every_kind_is_said_in_english_and_its_swedish_words_read_back_to_it(kind):
    with translation.override("sv"):
        template = str(kind.label)
    params = {name: value for name, value in EXAMPLES.items() if f"%({name})s" in template}
    shown = AccessShown(kind, **params)

    assert legacy_shown(shown.swedish()) == (kind.value, params)
    with translation.override("en"):
        english = access_shown_text(kind.value, params, as_made=shown.swedish())
    assert english != shown.swedish() and "%(" not in english
    with translation.override("sv"):
        assert access_shown_text(kind.value, params, as_made="") == shown.swedish()


def test_values_that_do_not_fit_the_kind_show_the_words_as_made():
    assert access_shown_text("claim", {}, as_made="Räkning X") == "Räkning X"
    assert access_shown_text("no_such_kind", {"a": 1}, as_made="Något") == "Något"
