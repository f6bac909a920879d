"""The clinic's start page: the region's rules for the clinic, and what waits for it, each line leading to the list
that shows exactly what it counts (billing.selectors.clinic_waiting). It crosses apps, so it is billing's."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from agreements.selectors import agreement_standing
from clinics.rules import region_rules
from clinics.selectors import account_change_pending
from portal.access import Access, clinic_view
from regioninfo.selectors import clinic_unread

from . import selectors


@clinic_view(access=Access.CLINIC_ANY)
@require_GET
def clinic_start(request: HttpRequest) -> HttpResponse:
    waiting = selectors.clinic_waiting(clinic=request.clinic)
    today = timezone.localdate()
    for repayment in waiting.repayments:
        repayment.age_days = (today - timezone.localdate(repayment.created_at)).days
    return render(
        request,
        "clinics/start.html",
        {
            "pending_change": account_change_pending(clinic=request.clinic),
            "rules": region_rules(request.region),
            "waiting": waiting,
            "questions_oldest": timezone.localdate(waiting.questions_oldest) if waiting.questions_oldest else None,
            # Nytt från regionen: the region's information this user has not opened yet.
            "unread_publications": clinic_unread(region=request.region, user=request.user, today=today),
            "agreement_standing": agreement_standing(clinic=request.clinic, today=today),
        },
    )
