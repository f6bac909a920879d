"""Template tags of claims: for pages of other apps (the prior assessment's page in eligibility shows what is billed
against it without eligibility's views reading claims), and a tariff row's values."""

from django import template
from django.utils.html import format_html
from django.utils.translation import gettext as _

from claims.selectors import PriorAssessmentUse, prior_assessment_use
from portal import money

register = template.Library()


@register.inclusion_tag("claims/includes/prior_assessment_use.html")
def prior_assessment_meter(assessment, use: PriorAssessmentUse | None = None) -> dict:
    """Godkänt · Fakturerat · Kvar of an approved FHB, read now unless its `use` is given."""
    return {"assessment": assessment, "use": use or prior_assessment_use(assessment)}


@register.simple_tag
def tariff_value(row, field: str) -> str:
    """One field of a tariff row as shown (`{% tariff_value row field %}`), in a cell of Ersättningslista and the
    comparison of two versions: a tag, not a template included per cell (six per row, hundreds of rows a page)."""
    if field == "price":
        return _("Anges av kliniken") if row.price is None else money.format_kronor(row.price)
    if field == "description":
        return format_html('<span lang="sv">{}</span>', row.description)
    if field == "requires":
        return row.get_requires_display() if row.requires else "–"
    if field == "support_forms":
        return ", ".join(row.support_forms)
    if field in ("requires_prior_assessment", "repeatable"):
        return _("Ja") if getattr(row, field) else _("Nej")
    return ""
