"""E-mails to a clinic about its prior assessments."""

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import gettext as _

from .models import PriorAssessmentEvent


def prior_assessment_notice_send(*, event: PriorAssessmentEvent) -> None:
    """Tell the clinic and the person who asked what happened; no personal data in the e-mail itself."""
    assessment = event.assessment
    recipients = sorted({e for e in (assessment.clinic.email, assessment.created_by.email) if e})
    link = settings.PORTAL_BASE_URL.rstrip("/") + reverse(
        "prior_assessment_detail", kwargs={"clinic_pk": assessment.clinic_id, "assessment_pk": assessment.pk}
    )
    send_mail(
        subject=_("Förhandsbedömning %(number)s: %(state)s")
        % {"number": assessment.number, "state": assessment.get_state_display()},
        message=render_to_string(
            "eligibility/email/prior_assessment_notice.txt", {"assessment": assessment, "event": event, "link": link}
        ),
        from_email=None,
        recipient_list=recipients,
    )
