"""Template filters and tags used across the portal."""

import functools

from django import template
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.template import Context, Variable, defaulttags
from django.templatetags import i18n
from django.urls import NoReverseMatch, get_script_prefix, get_urlconf, reverse
from django.utils import translation
from django.utils.html import conditional_escape, format_html

from portal import money, validators

register = template.Library()


@register.filter
def kronor(ore):
    return money.format_kronor(ore)


@register.filter
def personnummer(pin12):
    return validators.format_personal_identity_number(pin12) if pin12 else ""


@register.filter
def sv(text):
    """Words someone wrote in Swedish (a region's tariff text, a coordinator's question), marked as Swedish for screen
    readers and translators on a page in another language: `{{ version.name|sv }}`."""
    return format_html('<span lang="sv">{}</span>', text) if text not in (None, "") else ""


# `{% url %}` as Django's tag, each URL reversed once per process. reverse() walks the URL patterns anew on every call
# (about 20 µs of CPU), and the header and the menu of every page ask it about 20 times, always for the same few
# names and ids. A URL depends only on the URL configuration, the script prefix, the name and the arguments: the
# key. Arguments other than integers and texts (a model, say, whose URL text is not its identity) are not kept.
@functools.lru_cache(maxsize=4096)
def _remembered(urlconf, prefix, view_name, args, kwargs, current_app) -> str:
    return reverse(view_name, urlconf=urlconf, args=args, kwargs=dict(kwargs), current_app=current_app)


def _keyable(value) -> bool:
    return isinstance(value, str) or type(value) is int  # not True, which is 1 as a key and "True" in a URL


def _reverse(view_name, args: tuple, kwargs: tuple, current_app) -> str:
    if isinstance(view_name, str) and all(_keyable(value) for value in (*args, *dict(kwargs).values())):
        urlconf = get_urlconf() or settings.ROOT_URLCONF
        return _remembered(urlconf, get_script_prefix(), view_name, args, kwargs, current_app)
    return reverse(view_name, args=args, kwargs=dict(kwargs), current_app=current_app)


class RememberedURLNode(defaulttags.URLNode):
    def render(self, context):
        args = tuple(arg.resolve(context) for arg in self.args)
        kwargs = tuple((name, value.resolve(context)) for name, value in self.kwargs.items())
        view_name = self.view_name.resolve(context)
        try:
            current_app = context.request.current_app
        except AttributeError:
            try:
                current_app = context.request.resolver_match.namespace
            except AttributeError:
                current_app = None
        url = ""
        try:
            url = _reverse(view_name, args, kwargs, current_app)
        except NoReverseMatch:
            if self.asvar is None:
                raise
        if self.asvar:
            context[self.asvar] = url
            return ""
        return conditional_escape(url) if context.autoescape else url


@register.tag
def url(parser, token):
    """Django's `{% url %}` (the same arguments, `as`, errors and escaping), remembered as above."""
    node = defaulttags.url(parser, token)
    return RememberedURLNode(node.view_name, node.args, node.kwargs, node.asvar)


# `{% translate "…" %}` of a fixed text, as Django's tag (loaded after i18n), its words looked up once per process,
# language and escaping: Django's node makes a lazy translation, casts, localizes and escapes it on every call (about
# 10 µs), and the header and the menu have about 30. Texts from variables or with filters are translated as before.
_TRANSLATED: dict[tuple, str] = {}


def _literal(expression) -> str | None:
    """The text of a constant `"…"` without filters, else None."""
    var = getattr(expression, "var", None)
    if expression is None or expression.filters or not isinstance(var, Variable) or not isinstance(var.literal, str):
        return None
    return var.literal


class RememberedTranslateNode(i18n.TranslateNode):
    def __init__(self, filter_expression, noop, asvar=None, message_context=None):
        super().__init__(filter_expression, noop, asvar, message_context)
        text = _literal(self.filter_expression)
        context_text = _literal(message_context) if message_context is not None else ""
        self.key = (text, context_text, noop) if text is not None and context_text is not None else None

    def render(self, context):
        if self.key is None:
            return super().render(context)
        key = (translation.get_language(), context.autoescape, *self.key)
        value = _TRANSLATED.get(key)
        if value is None:
            scratch = Context(autoescape=context.autoescape)  # what Django's node draws from the text alone
            shown = super().render(scratch)
            value = _TRANSLATED[key] = scratch[self.asvar] if self.asvar else shown
        if self.asvar:
            context[self.asvar] = value
            return ""
        return value


@register.tag("translate")
def translate(parser, token):
    """Django's `{% translate %}` (the same arguments and output), a fixed text's words remembered as above."""
    node = i18n.do_translate(parser, token)
    return RememberedTranslateNode(node.filter_expression, node.noop, node.asvar, node.message_context)


@receiver(setting_changed)
def _translations_changed(*, setting, **kwargs) -> None:
    """The catalogues Django reloads after a test changes these settings (django.test.signals.language_changed)."""
    if setting in {"LANGUAGES", "LANGUAGE_CODE", "LOCALE_PATHS", "INSTALLED_APPS"}:
        _TRANSLATED.clear()
