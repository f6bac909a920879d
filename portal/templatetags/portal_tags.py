"""Template filters used across the portal."""

from django import template
from django.utils.html import format_html

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
