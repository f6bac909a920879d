"""Every page of the walk in English holds no Swedish word of our own: what the portal says is translated, and
what the region or the clinic wrote (tariff texts, names, messages) is marked `lang="sv"` for screen readers."""

import re

import lxml.html
import pytest
from django.utils import translation

from .test_accessibility_markup import PAGES, World, walk

# Words of the portal's own Swedish that no English page should hold: the screens' nouns and verbs and the
# little words a Swedish sentence cannot do without. Names (Folktandvården, Västra Götalandsregionen) are none.
SWEDISH_WORDS = {
    "och",
    "eller",
    "inte",
    "för",
    "från",
    "med",
    "att",
    "är",
    "som",
    "har",
    "kan",
    "ska",
    "måste",
    "finns",
    "alla",
    "inga",
    "ingen",
    "inget",
    "visa",
    "sök",
    "spara",
    "avbryt",
    "skicka",
    "tillbaka",
    "nästa",
    "föregående",
    "räkning",
    "räkningar",
    "faktura",
    "fakturor",
    "fakturerat",
    "utbetalning",
    "utbetalningar",
    "utbetald",
    "utbetalda",
    "utbetalt",
    "belopp",
    "datum",
    "åtgärd",
    "åtgärder",
    "tand",
    "käke",
    "patientavgift",
    "kvar",
    "godkänt",
    "godkänd",
    "avslagen",
    "kreditera",
    "kreditfaktura",
    "kreditfakturor",
    "makulera",
    "makulerad",
    "makulerade",
    "radera",
    "granskning",
    "fråga",
    "frågor",
    "svar",
    "svara",
    "besvarad",
    "klinik",
    "kliniker",
    "användare",
    "roll",
    "lösenord",
    "konto",
    "logga",
    "ut",
    "intyg",
    "stödform",
    "förhandsbedömning",
    "förhandsbedömningar",
    "ersättningslista",
    "ersättningslistor",
    "regler",
    "regel",
    "uppgifter",
    "ändra",
    "ändringar",
    "senast",
    "dag",
    "dagar",
    "år",
    "månad",
    "summa",
    "totalt",
    "antal",
    "pris",
    "kommentar",
    "bifoga",
    "bilaga",
    "bilagor",
    "mottagen",
    "återbetalning",
    "återbetalningar",
    "servicefönster",
    "åtkomstlogg",
    "händelse",
    "händelser",
    "historik",
    "skapad",
    "ändrad",
    "beslut",
    "väntar",
    "fel",
    "varning",
}
WORD = re.compile(r"[A-Za-zÅÄÖåäöÉé]+")
NOT_WORDS = re.compile(r"\S+@\S+|\S+\.(?:xml|pdf|xlsx|csv)\b")


@pytest.fixture(autouse=True)
def _back_to_default_language():
    yield
    translation.deactivate()


def _own_text(element) -> list[str]:
    """The text of the page, leaving out what is marked as written in Swedish and what is not shown."""
    if element.tag in ("script", "style", "template") or (element.get("lang") or "").startswith("sv"):
        return [element.tail or ""]
    parts = [element.text or ""]
    for name in ("title", "aria-label", "placeholder", "alt", "value") if element.tag != "html" else ():
        if name == "value" and element.get("type") not in ("submit", "button"):
            continue
        parts.append(element.get(name) or "")
    for child in element:
        if isinstance(child.tag, str):
            parts += _own_text(child)
        else:
            parts.append(child.tail or "")
    parts.append(element.tail or "")
    return parts


def swedish_words(html: bytes) -> list[str]:
    doc = lxml.html.document_fromstring(html)
    # E-mail addresses and file names are no words (klinik31@demo.test, faktura.xml).
    text = NOT_WORDS.sub(" ", " ".join(_own_text(doc.body)))
    found = []
    for match in WORD.finditer(text):
        if match.group().lower() in SWEDISH_WORDS:
            start = max(0, match.start() - 40)
            found.append(" ".join(text[start : match.end() + 40].split()))
    return found


@pytest.mark.parametrize("name,email,url", walk(PAGES))  # a sample in make test-fast
def test_every_page_in_english_says_nothing_in_swedish(client, world, name, email, url):
    client.post("/sprak/", {"language": "en", "next": "/logga-in/"})
    if email:
        client.force_login(World.user(email))
    path = url(world)
    response = client.get(path)
    assert response.status_code == 200
    assert lxml.html.document_fromstring(response.content).get("lang") == "en"
    found = swedish_words(response.content)
    assert not found, f"{path}:\n  " + "\n  ".join(found)
