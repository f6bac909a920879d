"""Template filters used across the portal."""

from django import template

from portal import money, validators

register = template.Library()


@register.filter
def kronor(ore):
    return money.format_kronor(ore)


@register.filter
def personnummer(pin12):
    return validators.format_personal_identity_number(pin12) if pin12 else ""
