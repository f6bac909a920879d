"""The forms' renderer (settings.FORM_RENDERER): Django's own form templates, drawn with fewer templates.

Django draws a field from about eight small templates that include each other (the field, its label and the
label's attributes, the error list and its `ul`, the widget, `input.html` and the widget's attributes), and a
select one more pair per option. Each include is a template render of its own (a context push, a lookup in the
cached loader, and in tests a signal with a copy of the context): on Registrera räkning 211 of the page's 232
renders were form templates, a third of the page's time. Here the same templates are read with every include of
a fixed name under django/forms/ written out in place (an include of a name shares its context, so the text in
its place draws the same bytes), an empty error list is not drawn at all, and a label, a field (field.html) and
the widgets the portal's forms use (inputs, selects, radio and checkbox lists, text areas) are written in Python
when their templates, as the renderer reads them, are Django's (DRAWN); any other template, an app's own copy of
one of them included, is drawn by itself. The markup is Django's, byte for byte (tests/portal/test_form_rendering.py
compares every widget, label and error list with Django's own renderer). An app's own copy of
django/forms/label.html would not be used."""

import re
from pathlib import Path

import django.forms
from django.forms.renderers import DjangoTemplates
from django.template import Context, TemplateDoesNotExist
from django.template.base import render_value_in_context
from django.template.defaultfilters import stringformat
from django.template.loaders.filesystem import Loader as FilesystemLoader
from django.template.utils import get_app_template_dirs
from django.utils.functional import cached_property
from django.utils.html import conditional_escape
from django.utils.safestring import SafeData, mark_safe

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


# Django's templates, with their fixed includes written out in place (FlatIncludeLoader) and without the whitespace at
# their end, that are drawn in Python below (DRAWN): the source a template must have, as the renderer reads it (an
# app's override included), to be drawn without it. The markup of every field and widget the portal's forms use.
ATTRS_SOURCE = (
    "{% for name, value in widget.attrs.items %}{% if value is not False %} {{ name }}{% if value is not True %}"
    "=\"{{ value|stringformat:'s' }}\"{% endif %}{% endif %}{% endfor %}"
)
# input.html: text, number, e-mail, hidden, date, checkbox, file, …
INPUT_SOURCE = (
    '<input type="{{ widget.type }}" name="{{ widget.name }}"'
    "{% if widget.value != None %} value=\"{{ widget.value|stringformat:'s' }}\"{% endif %}" + ATTRS_SOURCE + ">"
)
# input_option.html, and radio_option.html and checkbox_option.html that include it: an option of a radio or
# checkbox list, or one radio drawn alone (`{{ radio.tag }}`).
INPUT_OPTION_SOURCE = (
    '{% if widget.wrap_label %}<label{% if widget.attrs.id %} for="{{ widget.attrs.id }}"{% endif %}>{% endif %}'
    + INPUT_SOURCE
    + "\n{% if widget.wrap_label %} {{ widget.label }}</label>{% endif %}"
)
SELECT_OPTION_SOURCE = (
    "<option value=\"{{ widget.value|stringformat:'s' }}\"" + ATTRS_SOURCE + ">{{ widget.label }}</option>"
)
SELECT_SOURCE = (
    '<select name="{{ widget.name }}"'
    + ATTRS_SOURCE
    + ">{% for group_name, group_choices, group_index in widget.optgroups %}{% if group_name %}\n"
    '  <optgroup label="{{ group_name }}">{% endif %}{% for option in group_choices %}\n'
    "  {% include option.template_name with widget=option %}{% endfor %}{% if group_name %}\n"
    "  </optgroup>{% endif %}{% endfor %}\n</select>"
)
# multiple_input.html, and radio.html and checkbox_select.html that include it.
MULTIPLE_INPUT_SOURCE = (
    '{% with id=widget.attrs.id %}<div{% if id %} id="{{ id }}"{% endif %}'
    '{% if widget.attrs.class %} class="{{ widget.attrs.class }}"{% endif %}>'
    "{% for group, options, index in widget.optgroups %}{% if group %}\n"
    "  <div><label>{{ group }}</label>{% endif %}{% for option in options %}<div>\n"
    "    {% include option.template_name with widget=option %}</div>{% endfor %}{% if group %}\n"
    "  </div>{% endif %}{% endfor %}\n</div>{% endwith %}"
)
TEXTAREA_SOURCE = (
    '<textarea name="{{ widget.name }}"'
    + ATTRS_SOURCE
    + ">\n{% if widget.value %}{{ widget.value }}{% endif %}</textarea>"
)
# field.html: a field with its label, help text and errors ({{ field.as_field_group }}).
FIELD_SOURCE = (
    "{% if field.use_fieldset %}\n"
    '  <fieldset{% if field.aria_describedby %} aria-describedby="{{ field.aria_describedby }}"{% endif %}>\n'
    "  {% if field.label %}{{ field.legend_tag }}{% endif %}\n"
    "{% else %}\n"
    "  {% if field.label %}{{ field.label_tag }}{% endif %}\n"
    "{% endif %}\n"
    '{% if field.help_text %}<div class="helptext"{% if field.auto_id %} id="{{ field.auto_id }}_helptext"{% endif %}>'
    "{{ field.help_text|safe }}</div>{% endif %}\n"
    "{{ field.errors }}\n"
    "{{ field }}{% if field.use_fieldset %}</fieldset>{% endif %}"
)

# The renderer's templates escape what they show, with the project's localization and time zone (Context's defaults).
_FORM_CONTEXT = Context(autoescape=True)


def _shown(value) -> str:
    """`{{ value }}` in the renderer's templates: localized, and escaped unless it is safe."""
    return render_value_in_context(value, _FORM_CONTEXT)


def _input(context, renderer) -> str:
    """What INPUT_SOURCE draws."""
    widget = context["widget"]
    value = widget["value"]
    shown = "" if value is None else f' value="{conditional_escape(_stringformat(value))}"'
    name, kind = conditional_escape(widget["name"]), conditional_escape(widget["type"])
    return f'<input type="{kind}" name="{name}"{shown}{_attributes(widget["attrs"])}>'


def _input_option(context, renderer) -> str:
    """What INPUT_OPTION_SOURCE draws."""
    widget = context["widget"]
    if not widget["wrap_label"]:
        return f"{_input(context, renderer)}\n"
    label_id = widget["attrs"].get("id")
    label_for = f' for="{_shown(label_id)}"' if label_id else ""
    return f"<label{label_for}>{_input(context, renderer)}\n {_shown(widget['label'])}</label>"


def _select_option(context, renderer) -> str:
    """What SELECT_OPTION_SOURCE draws."""
    option = context["widget"]
    value = conditional_escape(_stringformat(option["value"]))
    return f'<option value="{value}"{_attributes(option["attrs"])}>{_shown(option["label"])}</option>'


def _options(renderer, options) -> list[str] | None:
    """Each option as its template draws it (included, the whitespace at its end too); None if one of them has a
    template not drawn here, and the whole widget is left to its template."""
    drawn = [renderer.draw(option["template_name"], {"widget": option}) for option in options]
    return None if None in drawn else drawn


def _select(context, renderer) -> str | None:
    """What SELECT_SOURCE draws."""
    widget = context["widget"]
    groups = []
    for group_name, group_choices, _index in widget["optgroups"]:
        options = _options(renderer, group_choices)
        if options is None:
            return None
        drawn = "".join(f"\n  {option}" for option in options)
        groups.append(f'\n  <optgroup label="{_shown(group_name)}">{drawn}\n  </optgroup>' if group_name else drawn)
    name = conditional_escape(widget["name"])
    return f'<select name="{name}"{_attributes(widget["attrs"])}>{"".join(groups)}\n</select>'


def _multiple_input(context, renderer) -> str | None:
    """What MULTIPLE_INPUT_SOURCE draws."""
    widget = context["widget"]
    attrs = widget["attrs"]
    div_id, div_class = attrs.get("id"), attrs.get("class")
    groups = []
    for group, options, _index in widget["optgroups"]:
        drawn_options = _options(renderer, options)
        if drawn_options is None:
            return None
        drawn = "".join(f"<div>\n    {option}</div>" for option in drawn_options)
        groups.append(f"\n  <div><label>{_shown(group)}</label>{drawn}\n  </div>" if group else drawn)
    shown_id = f' id="{_shown(div_id)}"' if div_id else ""
    shown_class = f' class="{_shown(div_class)}"' if div_class else ""
    return f"<div{shown_id}{shown_class}>{''.join(groups)}\n</div>"


def _textarea(context, renderer) -> str:
    """What TEXTAREA_SOURCE draws."""
    widget = context["widget"]
    value = _shown(widget["value"]) if widget["value"] else ""
    return f'<textarea name="{conditional_escape(widget["name"])}"{_attributes(widget["attrs"])}>\n{value}</textarea>'


def _field(context, renderer) -> str:
    """What FIELD_SOURCE draws, the field's properties read in the template's order."""
    field = context["field"]
    if field.use_fieldset:
        described_by = field.aria_describedby
        described_by = f' aria-describedby="{_shown(described_by)}"' if described_by else ""
        legend = _shown(field.legend_tag()) if field.label else ""
        top = f"\n  <fieldset{described_by}>\n  {legend}\n"
    else:
        top = f"\n  {_shown(field.label_tag()) if field.label else ''}\n"
    help_text = ""
    if field.help_text:
        help_id = f' id="{_shown(field.auto_id)}_helptext"' if field.auto_id else ""
        help_text = f'<div class="helptext"{help_id}>{mark_safe(str(field.help_text))}</div>'  # noqa: S308 - |safe
    end = "</fieldset>" if field.use_fieldset else ""
    return f"{top}\n{help_text}\n{_shown(field.errors)}\n{_shown(field)}{end}"


DRAWN = {
    INPUT_SOURCE: _input,
    INPUT_OPTION_SOURCE: _input_option,
    SELECT_OPTION_SOURCE: _select_option,
    SELECT_SOURCE: _select,
    MULTIPLE_INPUT_SOURCE: _multiple_input,
    TEXTAREA_SOURCE: _textarea,
    FIELD_SOURCE: _field,
}


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
        drawn = self.draw(template_name, context)
        if drawn is not None:
            return drawn.strip()  # as Django's renderer strips a template's output
        return super().render(template_name, context, request=request)

    def draw(self, template_name, context) -> str | None:
        """What the template draws from the context, written in Python, when its source as this renderer reads it is
        one of DRAWN (the whitespace at its end, which an include of it draws, too); else None."""
        drawing = self._drawings.get(template_name)
        if drawing is None:
            drawing = self._drawings[template_name] = self._drawing(template_name)
        draw, end = drawing
        if draw is None:
            return None
        drawn = draw(context, self)
        return None if drawn is None else drawn + end

    def _drawing(self, template_name) -> tuple:
        """(what draws the template, the whitespace at its end) or (None, "") when it is not drawn here."""
        try:
            source = self.get_template(template_name).template.source
        except TemplateDoesNotExist:
            return None, ""
        body = source.rstrip()
        return DRAWN.get(body), source[len(body) :]

    @cached_property
    def _drawings(self) -> dict[str, tuple]:
        return {}

    @cached_property
    def engine(self):
        dirs = [DJANGO_FORM_TEMPLATES, *get_app_template_dirs("templates")]
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
