"""Swedish by default, English through the language switch, and no untranslated string in the English catalogue."""

import io
import re
import shutil
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import override_settings
from django.utils import translation

EN_PO = Path(settings.BASE_DIR) / "locale" / "en" / "LC_MESSAGES" / "django.po"
PLACEHOLDER = re.compile(r"%\(\w+\)s")
# What makemessages is told to leave out: manage.py makemessages -l en --no-obsolete
# --ignore=.venv --ignore=var --ignore=tests --ignore=bench
NOT_SCANNED = {".venv", "var", "tests", "bench", "locale", "node_modules", "__pycache__"}


@pytest.fixture(autouse=True)
def _back_to_default_language():
    # LocaleMiddleware activates the request's language in this thread; leave none behind for the next test.
    yield
    translation.deactivate()


def _switch(client, language: str, next_url: str = "/logga-in/"):
    return client.post("/sprak/", {"language": language, "next": next_url})


def test_login_page_is_swedish_by_default(client, world):
    body = client.get("/logga-in/").content.decode()
    assert '<html lang="sv">' in body
    assert "E-postadress" in body and "Lösenord" in body and "Logga in" in body
    assert "Email address" not in body


def test_language_switch_turns_the_following_pages_english(client, world):
    response = _switch(client, "en")
    assert response.status_code == 302
    assert response["Location"] == "/logga-in/"

    body = client.get("/logga-in/").content.decode()
    assert '<html lang="en">' in body
    assert "Email address" in body and "Password" in body and "Log in" in body
    assert "E-postadress" not in body and "Logga in" not in body


def test_english_clinic_start_page_has_an_english_menu(client, world):
    client.force_login(world.biller)
    _switch(client, "en", next_url=f"/klinik/{world.clinic31.pk}/")

    body = client.get(f"/klinik/{world.clinic31.pk}/").content.decode()
    assert '<html lang="en">' in body
    for words in (
        "Register claim",
        "Upload invoice file",
        "Your invoices",
        "Skip to main content",
    ):
        assert words in body
    assert "Registrera räkning" not in body and "Era fakturor" not in body


def test_switching_back_to_swedish_restores_swedish(client, world):
    _switch(client, "en")
    assert "Email address" in client.get("/logga-in/").content.decode()

    _switch(client, "sv")
    body = client.get("/logga-in/").content.decode()
    assert '<html lang="sv">' in body
    assert "E-postadress" in body and "Logga in" in body
    assert "Email address" not in body


def test_language_form_offers_both_languages_and_marks_the_current_one(client, world):
    _switch(client, "en")
    body = client.get("/logga-in/").content.decode()
    assert '<option value="en" selected lang="en">English</option>' in body
    assert '<option value="sv" lang="sv">Svenska</option>' in body


def _entries():
    return [entry for entry in polib.pofile(str(EN_PO)) if not entry.obsolete]


def test_every_swedish_string_has_an_english_translation():
    entries = _entries()
    assert entries, f"{EN_PO} has no messages"
    untranslated = [
        entry.msgid
        for entry in entries
        if (entry.msgid_plural and not all(entry.msgstr_plural.get(n) for n in (0, 1)))
        or (not entry.msgid_plural and not entry.msgstr)
    ]
    assert untranslated == [], "untranslated in locale/en: " + "; ".join(untranslated)
    fuzzy = [entry.msgid for entry in entries if "fuzzy" in entry.flags]
    assert fuzzy == [], "fuzzy (ignored at run time) in locale/en: " + "; ".join(fuzzy)


def test_translations_keep_every_placeholder():
    for entry in _entries():
        expected = sorted(PLACEHOLDER.findall(entry.msgid))
        translations = entry.msgstr_plural.values() if entry.msgid_plural else [entry.msgstr]
        for text in translations:
            assert sorted(PLACEHOLDER.findall(text)) == expected, entry.msgid


def _source_copy(destination: Path) -> None:
    """The files makemessages reads, so that extracting runs away from the checkout (it writes beside them)."""

    def ignore(directory, names):
        return {
            name
            for name in names
            if name.startswith(".")
            or name in NOT_SCANNED
            or ((Path(directory) / name).is_file() and Path(name).suffix not in {".py", ".html", ".txt"})
        }

    shutil.copytree(settings.BASE_DIR, destination, ignore=ignore)


def test_catalogue_has_every_string_of_the_code_and_templates(tmp_path, monkeypatch):
    """A Swedish string added to the code but never extracted would show in Swedish to English users."""
    assert shutil.which("xgettext"), "needs GNU gettext (scripts/ensure_test_tools.sh installs it)"
    source, locale = tmp_path / "src", tmp_path / "locale"
    _source_copy(source)
    (locale / "en" / "LC_MESSAGES").mkdir(parents=True)
    monkeypatch.chdir(source)
    with override_settings(LOCALE_PATHS=[str(locale)]):
        call_command("makemessages", locale=["en"], no_obsolete=True, verbosity=0, stdout=io.StringIO())

    def keys(path):
        return {(entry.msgctxt, entry.msgid) for entry in polib.pofile(str(path)) if not entry.obsolete}

    extracted, catalogue = keys(locale / "en" / "LC_MESSAGES" / "django.po"), keys(EN_PO)
    advice = "run makemessages (see NOT_SCANNED above) and translate in locale/en/LC_MESSAGES/django.po: "
    assert sorted(extracted - catalogue, key=str) == [], "not in locale/en yet; " + advice
    assert sorted(catalogue - extracted, key=str) == [], "no longer in the code; " + advice


def test_the_browsers_language_does_not_override_swedish(client, db):
    # An English-language browser still gets the manual's Swedish words until the user switches.
    body = client.get("/logga-in/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9").content.decode()
    assert 'lang="sv"' in body and "E-postadress" in body
