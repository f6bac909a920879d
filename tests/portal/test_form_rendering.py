"""The portal's form renderer (portal.form_rendering): Django's markup byte for byte, from fewer template renders."""

import datetime
import re

from django import forms
from django.conf import settings
from django.forms.renderers import DjangoTemplates, get_default_renderer
from django.test.signals import template_rendered
from django.utils.safestring import mark_safe

from portal.form_rendering import DJANGO_FORM_TEMPLATES, FlatIncludeLoader, FormRenderer
from portal.forms import DATE_WIDGET, DateField, KronorField, PersonalIdentityNumberField

CHOICES = [("", "Välj"), ("a", "Ett <a>"), (1, "Två & tre"), (None, "Inget"), (12345, 12345)]
GROUPED = [
    ("Norr", [("n1", "N1"), ("n2", "N2")]),
    ("Söder", [("s1", "S1")]),
    ("x", "Utan grupp"),
    ("Öst & <väst>", [("o1", mark_safe("<i>Ö1</i>"))]),
]


class EveryWidgetForm(forms.Form):
    """One field of each widget Django draws from templates, with attributes true, false and with values."""

    text = forms.CharField(label="Text <b>", help_text="Hjälp & text", max_length=5)
    optional = forms.CharField(required=False, widget=forms.TextInput(attrs={"disabled": True, "data-x": False}))
    number = forms.IntegerField(min_value=1)
    email = forms.EmailField(required=False)
    url = forms.URLField(required=False, assume_scheme="https")
    password = forms.CharField(widget=forms.PasswordInput(render_value=True))
    hidden = forms.CharField(widget=forms.HiddenInput, initial="dolt")
    multiple_hidden = forms.MultipleChoiceField(choices=CHOICES[1:3], widget=forms.MultipleHiddenInput)
    date = forms.DateField(widget=DATE_WIDGET)
    portal_date = DateField(required=False)
    time = forms.TimeField(required=False, widget=forms.TimeInput(attrs={"step": 60}))
    datetime = forms.DateTimeField(required=False, widget=forms.DateTimeInput)
    split = forms.SplitDateTimeField(required=False)
    select_date = forms.DateField(required=False, widget=forms.SelectDateWidget(years=[2025, 2026]))
    textarea = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    checkbox = forms.BooleanField(required=False)
    null_boolean = forms.NullBooleanField(required=False)
    select = forms.ChoiceField(choices=CHOICES)
    grouped = forms.ChoiceField(choices=GROUPED, required=False)
    multiple = forms.MultipleChoiceField(choices=CHOICES, required=False)
    radio = forms.ChoiceField(choices=CHOICES, widget=forms.RadioSelect)
    grouped_radio = forms.ChoiceField(choices=GROUPED, widget=forms.RadioSelect, required=False)
    checkboxes = forms.MultipleChoiceField(choices=GROUPED, widget=forms.CheckboxSelectMultiple, required=False)
    file = forms.FileField(required=False)
    clearable = forms.FileField(required=False, widget=forms.ClearableFileInput)
    personal_identity_number = PersonalIdentityNumberField(required=False)
    kronor = KronorField(required=False)

    def clean(self):
        raise forms.ValidationError("Fel för hela formuläret <i>")


BOUND = {
    "text": "för långt <script>",
    "number": "0",
    "password": "hemligt",
    "multiple_hidden": ["a", "1"],
    "date": "2026-13-01",
    "portal_date": "1800-01-01",
    "time": "12:30",
    "split_0": "2026-01-02",
    "split_1": "10:00",
    "select_date_year": "2026",
    "select_date_month": "2",
    "select_date_day": "30",
    "textarea": "rad ett\nrad två & <tre>",
    "checkbox": "on",
    "null_boolean": "true",
    "select": "1",
    "grouped": "n2",
    "multiple": ["a", "1"],
    "radio": "a",
    "grouped_radio": "s1",
    "checkboxes": ["n1", "x"],
    "kronor": "12,5",
}


# A label's attributes: true, false, text to escape, a number, safe text, a tuple (which formats to nothing).
LABEL_ATTRIBUTES = {
    "data-a": True,
    "data-b": False,
    "title": 'a "b" <c> & d',
    "data-n": 5,
    "data-s": mark_safe("<i>"),
    "data-t": (1, 2),
}


class RequiredForm(EveryWidgetForm):
    required_css_class = "obligatorisk"
    label_suffix = ":"


class AnotherSelect(forms.Select):
    option_template_name = "django/forms/widgets/radio_option.html"  # an option template of its own is kept


def _drawings(form: forms.Form) -> list[str]:
    drawn = [form.as_div(), form.as_p(), form.as_table(), form.as_ul(), str(form.errors), str(form.non_field_errors())]
    drawn += [form.non_field_errors().as_ul(), form.errors.as_ul(), form.errors.as_text()]
    for field in form:
        drawn += [field.as_field_group(), str(field), field.label_tag(), field.legend_tag(), str(field.errors)]
        drawn += [field.errors.as_ul(), field.errors.as_text()]
        drawn += [
            field.label_tag(attrs=dict(LABEL_ATTRIBUTES)),  # label_tag may add to the dict
            field.label_tag(contents="Egen <b>", label_suffix=" →", tag="span"),
            field.legend_tag(contents=mark_safe("<b>fet</b>"), attrs={"class": "a"}),
        ]
        drawn += [subwidget.tag() for subwidget in field.subwidgets]
    return drawn


def _formset_drawings(form_class: type[forms.Form], renderer) -> list[str]:
    """A formset of the form class drawn by the renderer (given to the formset: its forms take the formset's)."""
    formset = forms.formset_factory(form_class, extra=2, renderer=renderer)(prefix="rader")
    return [str(formset), formset.as_p(), formset.as_table(), formset.as_ul()]


def _forms(renderer) -> list[forms.Form]:
    initial = {"date": datetime.date(2026, 1, 2), "select": "a", "checkboxes": ["s1"], "null_boolean": False}
    bound = EveryWidgetForm(BOUND, renderer=renderer)
    bound.is_valid()
    custom = forms.Form(renderer=renderer)
    custom.fields["custom"] = forms.ChoiceField(choices=CHOICES, widget=AnotherSelect)
    without_ids = EveryWidgetForm(auto_id=False, renderer=renderer)  # labels without a tag
    required = RequiredForm(BOUND, renderer=renderer)
    return [
        EveryWidgetForm(renderer=renderer),
        EveryWidgetForm(initial=initial, renderer=renderer),
        bound,
        custom,
        without_ids,
        required,
    ]


def test_the_markup_is_djangos_byte_for_byte():
    ours, djangos = FormRenderer(), DjangoTemplates()
    our_forms = _forms(ours)
    for mine, theirs in zip(our_forms, _forms(djangos), strict=True):
        assert _drawings(mine) == _drawings(theirs)
    # A formset of each class of form above, drawn once: it draws the same whichever form of the class it came from.
    for form_class in dict.fromkeys(type(form) for form in our_forms):
        assert _formset_drawings(form_class, ours) == _formset_drawings(form_class, djangos), form_class.__name__


def _rendered(form: forms.Form) -> list[str]:
    names = []

    def count(sender, template, context, **kwargs):
        names.append(template.name)

    template_rendered.connect(count)
    try:
        form.as_div()
    finally:
        template_rendered.disconnect(count)
    return names


def _renders(form: forms.Form) -> int:
    return len(_rendered(form))


class InputsForm(forms.Form):
    text, email, url = forms.CharField(), forms.EmailField(), forms.URLField(assume_scheme="https")
    number, password = forms.IntegerField(), forms.CharField(widget=forms.PasswordInput)
    hidden, checkbox = forms.CharField(widget=forms.HiddenInput), forms.BooleanField()
    date, time = forms.DateField(widget=DATE_WIDGET), forms.TimeField()
    file = forms.FileField(widget=forms.FileInput)
    textarea, select = forms.CharField(widget=forms.Textarea), forms.ChoiceField(choices=GROUPED)
    radio = forms.ChoiceField(choices=GROUPED, widget=forms.RadioSelect)
    checkboxes = forms.MultipleChoiceField(choices=CHOICES, widget=forms.CheckboxSelectMultiple)
    # Drawn by a template of its own: not written here.
    clearable = forms.FileField()


def test_the_portals_widgets_and_fields_are_drawn_without_a_template_and_anything_else_with_its_own():
    assert _rendered(InputsForm(renderer=FormRenderer())) == [
        "django/forms/div.html",
        "django/forms/widgets/clearable_file_input.html",
    ]


class UnknownOptionSelect(forms.Select):
    option_template_name = "django/forms/widgets/attrs.html"  # a template not written in Python here


def test_a_widget_with_an_option_template_not_written_here_is_drawn_by_its_template():
    def form(renderer) -> forms.Form:
        form = forms.Form(renderer=renderer)
        form.fields["select"] = forms.ChoiceField(
            choices=GROUPED, widget=UnknownOptionSelect(attrs={"class": "a", "data-x": "<b>"})
        )
        return form

    ours = form(FormRenderer())
    assert _drawings(ours) == _drawings(form(DjangoTemplates()))
    assert "django/forms/widgets/select.html" in _rendered(ours)


def test_a_template_of_its_own_is_drawn_by_it(tmp_path):
    """An app's template in place of Django's (here a directory read first) is drawn, not Django's markup."""
    widgets = tmp_path / "django" / "forms" / "widgets"
    widgets.mkdir(parents=True)
    (widgets / "textarea.html").write_text('<textarea class="egen" name="{{ widget.name }}"></textarea>\n')
    renderer = FormRenderer()
    renderer.engine.engine.template_loaders[0].loaders[0].dirs.insert(0, tmp_path)
    form = InputsForm(renderer=renderer)
    assert str(form["textarea"]) == '<textarea class="egen" name="textarea"></textarea>'
    assert str(form["select"]) == str(InputsForm(renderer=DjangoTemplates())["select"])


def test_fewer_templates_are_rendered():
    ours, djangos = _forms(FormRenderer())[1], _forms(DjangoTemplates())[1]
    # A select draws its options in its own loop and an input its attributes in place: no template per option.
    assert _renders(ours) * 2 < _renders(djangos)


def test_no_fixed_include_of_a_form_template_is_left():
    engine = FormRenderer().engine
    assert isinstance(engine.engine.template_loaders[0].loaders[0], FlatIncludeLoader)
    for path in DJANGO_FORM_TEMPLATES.rglob("*.html"):
        name = path.relative_to(DJANGO_FORM_TEMPLATES).as_posix()
        source = engine.get_template(name).template.source
        assert not re.search(r"""\{%\s*include\s+["']django/forms/""", source), name


def test_the_portal_renders_its_forms_with_it():
    assert settings.FORM_RENDERER == "portal.form_rendering.FormRenderer"
    assert isinstance(get_default_renderer(), FormRenderer)
