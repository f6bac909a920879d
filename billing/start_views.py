"""The clinic's start page: the region's rules for the clinic, and what waits for it, each line leading to the list
that shows exactly what it counts (billing.selectors.clinic_waiting). It crosses apps, so it is billing's."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from clinics.rules import region_rules
from clinics.selectors import account_change_pending
from portal.access import clinic_view

from . import selectors


@clinic_view()
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
        },
    )
