"""The clinic's side of the review: answering the coordinator's question about a claim (from Era fakturor)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from portal.access import clinic_view
from portal.forms import add_service_errors

from . import services
from .forms import AnswerForm
from .models import ClaimQuestion


@clinic_view()
@require_http_methods(["GET", "POST"])
def question_answer(request: HttpRequest, question_pk: int) -> HttpResponse:
    """Svara: the form is on the claim's page in Era fakturor; this page shows it again when it needs correcting."""
    question = (
        ClaimQuestion.objects.of_clinic(request.clinic)
        .select_related("claim", "asked_by", "answered_by")
        .filter(pk=question_pk)
        .first()
    )
    if question is None:
        raise Http404
    form = AnswerForm(request.POST if request.method == "POST" else None)
    if form.is_bound and form.is_valid():
        try:
            services.claim_question_answer(actor=request.user, question=question, answer=form.cleaned_data["answer"])
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Ert svar är skickat till tandvårdssamordningen."))
            return redirect("invoice_claim_detail", clinic_pk=request.clinic.pk, claim_pk=question.claim_id)
    return render(request, "review/question_answer.html", {"question": question, "claim": question.claim, "form": form})
