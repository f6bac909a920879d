"""portal_tags' `{% url %}` and `{% translate %}`: Django's tags with each URL reversed, and each fixed text's words
looked up, once per process, drawing what Django's draw."""

import re

import polib
import pytest
from django.conf import settings
from django.http import HttpResponse
from django.template import engines
from django.test import override_settings
from django.urls import NoReverseMatch, clear_script_prefix, path, set_script_prefix
from django.utils import translation

from portal.templatetags import portal_tags

# Another URL configuration (ROOT_URLCONF = this module), where the clinic's start page has another address.
urlpatterns = [path("annan/<int:clinic_pk>/", lambda request, clinic_pk: HttpResponse(), name="clinic_start")]


def _both(source: str, context: dict) -> tuple[str, str]:
    """The source drawn with Django's `{% url %}` and with portal_tags' (twice: reversed, then remembered)."""
    django = engines["django"].from_string(source).render(context)
    ours = engines["django"].from_string("{% load portal_tags %}" + source)
    first, second = ours.render(context), ours.render(context)
    assert first == second
    return django, first


@pytest.mark.parametrize(
    ("source", "context"),
    [
        ("{% url 'home' %}", {}),
        ("{% url 'clinic_start' clinic_pk=pk %}", {"pk": 31}),
        ("{% url 'region_start' region_code=code %}", {"code": "vg"}),
        ("{% url name clinic_pk=pk %}", {"name": "invoice_list", "pk": "32"}),
        ("{% url 'region_clinic_detail' code number %}", {"code": "vg", "number": "0501"}),
        ("{% url 'clinic_start' clinic_pk=pk as start %}[{{ start }}]", {"pk": 7}),
        ("{% url 'no_such_page' as missing %}[{{ missing }}]", {}),
        ("{% url 'password_set' uidb64=uid token=token %}", {"uid": "MQ", "token": "a<b>&c"}),
    ],
)
def test_it_draws_what_djangos_url_draws(source, context):
    django, ours = _both(source, context)
    assert ours == django


def test_an_unknown_name_is_an_error_as_in_django():
    with pytest.raises(NoReverseMatch):
        engines["django"].from_string("{% load portal_tags %}{% url 'no_such_page' %}").render({})


def test_a_url_follows_the_script_prefix_and_the_url_configuration():
    source = "{% url 'clinic_start' clinic_pk=31 %}"
    assert _both(source, {}) == ("/klinik/31/", "/klinik/31/")
    set_script_prefix("/tandportal/")
    try:
        assert _both(source, {}) == ("/tandportal/klinik/31/", "/tandportal/klinik/31/")
    finally:
        clear_script_prefix()
    with override_settings(ROOT_URLCONF=__name__):
        assert _both(source, {}) == ("/annan/31/", "/annan/31/")
    assert _both(source, {}) == ("/klinik/31/", "/klinik/31/")


class _Region:
    """An argument whose URL text is its str(), not its identity (as a model's)."""

    def __init__(self, code):
        self.code = code

    def __str__(self):
        return self.code


def test_only_integers_and_texts_are_kept_as_keys():
    before = portal_tags._remembered.cache_info().currsize
    for code in ("vg", "dalarna"):
        django, ours = _both("{% url 'region_start' region_code=region %}", {"region": _Region(code)})
        assert ours == django == f"/region/{code}/"
    assert portal_tags._remembered.cache_info().currsize == before


@pytest.mark.parametrize("language", ["sv", "en"])
@pytest.mark.parametrize("autoescape", ["on", "off"])
@pytest.mark.parametrize(
    "source",
    [
        "{% translate 'Startsida' %}",
        '{% translate "Huvudmeny" %}',
        "{% translate 'Startsida' as start %}[{{ start }}]",
        "{% translate 'Startsida' noop %}",
        "{% translate 'Inte översatt <b>&</b> 100 %' %}",
        "{% translate 'Maj' context 'månad' %}",
        "{% translate word %}",
        "{% translate 'Startsida'|upper %}",
    ],
)
def test_translate_draws_what_djangos_translate_draws(source, autoescape, language):
    source = f"{{% autoescape {autoescape} %}}{source}{{% endautoescape %}}"
    context = {"word": "Startsida"}
    with translation.override(language):
        django = engines["django"].from_string("{% load i18n %}" + source).render(context)
        ours = engines["django"].from_string("{% load i18n portal_tags %}" + source)
        assert ours.render(context) == ours.render(context) == django


def test_a_text_follows_the_language_and_the_catalogues(tmp_path):
    start = engines["django"].from_string("{% load i18n portal_tags %}{% translate 'Startsida' %}")
    with translation.override("en"):
        assert start.render({}) == "Start page"
    with translation.override("sv"):
        assert start.render({}) == "Startsida"
    catalogue = polib.POFile()
    catalogue.metadata = {"Content-Type": "text/plain; charset=UTF-8"}
    catalogue.append(polib.POEntry(msgid="Startsida", msgstr="Home"))
    (tmp_path / "en" / "LC_MESSAGES").mkdir(parents=True)
    catalogue.save_as_mofile(str(tmp_path / "en" / "LC_MESSAGES" / "django.mo"))
    with override_settings(LOCALE_PATHS=[str(tmp_path)]), translation.override("en"):
        assert start.render({}) == "Home"
    with translation.override("en"):
        assert start.render({}) == "Start page"


# A `{% load %}` that takes i18n and, after it, portal_tags: `{% translate %}` and `{% url %}` are then portal_tags'.
_LOADS_PORTAL_TAGS_AFTER_I18N = re.compile(r"\{% load [^%]*\bi18n\b[^%]*\bportal_tags\b[^%]*%\}")
# What portal_tags remembers: a fixed text's translate, a URL.
_REMEMBERED = re.compile(r"""\{% (translate ['"]|url )""")


def test_the_portals_templates_translate_and_draw_urls_with_portal_tags():
    """A page template that loads i18n also loads portal_tags after it when it translates a fixed text or draws a URL
    (the words and URLs of every page looked up once per process, not only the header's)."""
    templates = [path for root in settings.TEMPLATES[0]["DIRS"] for path in root.rglob("*.*")]
    assert len(templates) > 100
    missing = [
        str(path)
        for path in templates
        if _REMEMBERED.search(text := path.read_text(encoding="utf-8"))
        and not _LOADS_PORTAL_TAGS_AFTER_I18N.search(text)
    ]
    assert missing == []
