"""The forms' renderer (settings.FORM_RENDERER): Django's own form templates, drawn with fewer templates.

Django draws a field from about eight small templates that include each other (the field, its label and the
label's attributes, the error list and its `ul`, the widget, `input.html` and the widget's attributes), and a
select one more pair per option. Each include is a template render of its own (a context push, a lookup in the
cached loader, and in tests a signal with a copy of the context): on Registrera räkning 211 of the page's 232
renders were form templates, a third of the page's time. Here the same templates are read with every include of
a fixed name under django/forms/ written out in place (an include of a name shares its context, so the text in
its place draws the same bytes), a select's or a radio list's options are drawn in the loop
(portal/form_templates/), an empty error list is not drawn at all, and a label, and an <input> whose template is
Django's, are written in Python (49 renders before the inputs were, fewer now). The markup is Django's, byte for
byte (tests/portal/test_form_rendering.py compares every widget, label and error list with Django's own renderer).
An app's own copy of django/forms/label.html would not be used."""

import re
from pathlib import Path

import django.forms
from django.forms.renderers import DjangoTemplates
from django.template import TemplateDoesNotExist
from django.template.defaultfilters import stringformat
from django.template.loaders.filesystem import Loader as FilesystemLoader
from django.template.utils import get_app_template_dirs
from django.utils.functional import cached_property
from django.utils.html import conditional_escape
from django.utils.safestring import SafeData, mark_safe

FORM_TEMPLATES = Path(__file__).resolve().parent / "form_templates"
DJANGO_FORM_TEMPLATES = Path(django.forms.__file__).resolve().parent / "templates"

# `{% include "django/forms/…" %}` with a fixed name and nothing else (no `with`, no `only`).
_FIXED_INCLUDE = re.compile(r"""\{%\s*include\s+(["'])(django/forms/[^"']+)\1\s*%\}""")
_MAX_DEPTH = 10


class FlatIncludeLoader(FilesystemLoader):
    """Reads a template with its fixed includes of django/forms/ templates written out in place."""

    def get_contents(self, origin) -> str:
        return self._flatten(super().get_contents(origin), depth=0)

    def _flatten(self, source: str, depth: int) -> str:
        if depth >= _MAX_DEPTH:
            return source

        def inline(match: re.Match) -> str:
            for origin in self.get_template_sources(match.group(2)):
                try:
                    return self._flatten(super(FlatIncludeLoader, self).get_contents(origin), depth + 1)
                except TemplateDoesNotExist:
                    continue
            return match.group(0)  # not found here: left to the include, which says so as before

        return _FIXED_INCLUDE.sub(inline, source)


# A field's error list is drawn for every field, with errors or not; without any, these templates draw nothing.
EMPTY_WITHOUT_ERRORS = frozenset({"django/forms/errors/list/default.html", "django/forms/errors/list/ul.html"})
# Every field's label (BoundField.label_tag, legend_tag): Django's label.html, drawn by _label below.
LABEL_TEMPLATE = "django/forms/label.html"


def _attributes(attrs) -> str:
    """What django/forms/attrs.html and django/forms/widgets/attrs.html write for `attrs`."""
    return "".join(
        f" {conditional_escape(name)}" + ("" if value is True else f'="{conditional_escape(_stringformat(value))}"')
        for name, value in (attrs or {}).items()
        if value is not False
    )


def _label(context) -> str:
    """What django/forms/label.html draws (`{% if use_tag %}<{{ tag }} attrs>{{ label }}</{{ tag }}>{% else %}
    {{ label }}{% endif %}`, its attributes as django/forms/attrs.html writes them), without a template."""
    label = conditional_escape(context["label"])
    if not context["use_tag"]:
        return label
    tag = conditional_escape(context["tag"])
    return f"<{tag}{_attributes(context['attrs'])}>{label}</{tag}>"


# Django's django/forms/widgets/input.html with its attrs.html written in place (FlatIncludeLoader): the whole of
# every <input> widget's template (text, number, email, hidden, date, checkbox, file, …), which _input draws.
INPUT_SOURCE = (
    """<input type="{{ widget.type }}" name="{{ widget.name }}"{% if widget.value != None %} value="{{ widget.value|"""
    """stringformat:'s' }}"{% endif %}{% for name, value in widget.attrs.items %}{% if value is not False %} """
    """{{ name }}{% if value is not True %}="{{ value|stringformat:'s' }}"{% endif %}{% endif %}{% endfor %}>"""
)


def _input(context) -> str:
    """What INPUT_SOURCE draws, without a template."""
    widget = context["widget"]
    value = widget["value"]
    shown = "" if value is None else f' value="{conditional_escape(_stringformat(value))}"'
    name, kind = conditional_escape(widget["name"]), conditional_escape(widget["type"])
    return f'<input type="{kind}" name="{name}"{shown}{_attributes(widget["attrs"])}>'


def _stringformat(value) -> str:
    """`{{ value|stringformat:'s' }}`: Django's filter, whose result stays safe when the value was (is_safe)."""
    text = stringformat(value, "s")
    return mark_safe(text) if isinstance(value, SafeData) else text  # noqa: S308 - safe only if it already was


class FormRenderer(DjangoTemplates):
    """Django's DjangoTemplates renderer (the same templates and apps' overrides), read by FlatIncludeLoader."""

    def render(self, template_name, context, request=None):
        if template_name in EMPTY_WITHOUT_ERRORS and not context.get("errors"):
            return ""
        if template_name == LABEL_TEMPLATE:
            return _label(context).strip()
        if self._draws_an_input(template_name):
            return _input(context)
        return super().render(template_name, context, request=request)

    def _draws_an_input(self, template_name) -> bool:
        """Whether the template, as this renderer reads it (an app's override included), is INPUT_SOURCE."""
        known = self._inputs.get(template_name)
        if known is None:
            try:
                template = self.get_template(template_name).template
                known = template.source.strip() == INPUT_SOURCE
            except TemplateDoesNotExist:
                known = False
            self._inputs[template_name] = known
        return known

    @cached_property
    def _inputs(self) -> dict[str, bool]:
        return {}

    @cached_property
    def engine(self):
        dirs = [FORM_TEMPLATES, DJANGO_FORM_TEMPLATES, *get_app_template_dirs("templates")]
        return self.backend(
            {
                "APP_DIRS": False,
                "DIRS": [],
                "NAME": "portalforms",
                "OPTIONS": {
                    "loaders": [
                        ("django.template.loaders.cached.Loader", [("portal.form_rendering.FlatIncludeLoader", dirs)])
                    ]
                },
            }
        )
