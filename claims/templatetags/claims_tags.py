"""Template tags of claims for pages of other apps: the prior assessment's page (eligibility) shows what is billed
against it without eligibility's views reading claims."""

from django import template

from claims.selectors import PriorAssessmentUse, prior_assessment_use

register = template.Library()


@register.inclusion_tag("claims/includes/prior_assessment_use.html")
def prior_assessment_meter(assessment, use: PriorAssessmentUse | None = None) -> dict:
    """Godkänt · Fakturerat · Kvar of an approved FHB, read now unless its `use` is given."""
    return {"assessment": assessment, "use": use or prior_assessment_use(assessment)}
