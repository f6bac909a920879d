"""Mitt konto → Samtycke och personuppgifter: the consent to other use of the e-mail address, its history, and the
extract of everything the portal holds about the person."""

import json

from django.contrib import messages
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from portal.access import authenticated

from . import selectors, services
from .forms import EmailConsentForm
from .models import EmailConsent


@authenticated
@require_http_methods(["GET", "POST"])
def consent(request: HttpRequest) -> HttpResponse:
    current = services.email_consent_current(request.user)
    initial = {"consent": "yes" if current.given else "no"} if current else {}
    form = EmailConsentForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        services.email_consent_set(actor=request.user, user=request.user, given=form.cleaned_data["consent"])
        messages.success(request, _("Ditt svar är sparat."))
        return redirect("account_privacy")
    history = EmailConsent.objects.filter(user=request.user).select_related("recorded_by")
    return render(request, "privacy/consent.html", {"form": form, "current": current, "history": history})


@authenticated
@require_GET
def extract(request: HttpRequest) -> HttpResponse:
    """Mina uppgifter: everything the portal holds about the person, as one JSON file (privacy.selectors)."""
    data = selectors.personal_data_extract(user=request.user)
    services.extract_downloaded_record(user=request.user)
    response = HttpResponse(
        json.dumps(data, cls=DjangoJSONEncoder, ensure_ascii=False, indent=2), content_type="application/json"
    )
    filename = f"tandportalen-mina-uppgifter-{timezone.localdate():%Y-%m-%d}.json"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
