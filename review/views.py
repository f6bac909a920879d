"""The coordinator's review (granskning): the region's incoming claims, one claim with its history, the actions on
it (approve, ask the clinic, void; void a whole invoice), and the region's review rules.

Pages that show a personnummer write the access log, one entry per patient shown.
"""

from __future__ import annotations

import secrets
from dataclasses import replace
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from claims import services as claim_services
from claims.models import OPEN_STATES, Claim, ClaimState
from claims.selectors import claim_status
from portal.access import is_region_admin, region_view
from portal.access_shown import AccessShown, AccessShownKind
from portal.audit import access_log_record, access_log_record_many
from portal.forms import add_service_errors
from portal.keyset import LAST, capped_count, keyset_page_or_last
from portal.row_urls import row_url

from . import selectors, services
from .forms import ClaimFilterForm, PersonSearchForm, QuestionForm, RuleForm, VoidForm
from .selectors import ClaimFilter, ClaimQueue

PAGE_SIZE = 50
# Each page counts up to here; beyond, the list says "fler än 1 000" and offers Räkna alla. Counting up to 10 000
# on every page read every open claim of a region for Att hantera (each one's question looked up): 18–34 ms at a
# million claims, ten times the page's own query, on each page of the coordinator's day.
COUNT_CAP = 1_000
# Räkna alla, when asked (?antal=alla): the count goes this far (the whole list of a region is a scan).
COUNT_ASKED_CAP = 100_000


# The list -------------------------------------------------------------------------------------------------


SEARCHES_KEPT = 10
PERSON_SEARCHES = "review_person_searches"  # session key: opaque token -> personnummer


def _person_search_keep(request: HttpRequest, personal_identity_number: str) -> str:
    """Keep a search by personnummer in the session under an opaque token: the URL carries the token only."""
    searches = dict(request.session.get(PERSON_SEARCHES, {}))
    token = secrets.token_urlsafe(12)
    searches[token] = personal_identity_number
    request.session[PERSON_SEARCHES] = dict(list(searches.items())[-SEARCHES_KEPT:])
    return token


@region_view()
@require_http_methods(["GET", "POST"])
@never_cache
def claim_list(request: HttpRequest) -> HttpResponse:
    """Inkomna räkningar: the region's claims, newest first; att hantera unless filtered (by GET). A search by
    personnummer is posted, kept in the session and shown under a token (`?sok=`), never in the URL."""
    if request.method == "POST":
        person_form = PersonSearchForm(request.POST)
        if person_form.is_valid():
            token = _person_search_keep(request, person_form.cleaned_data["personal_identity_number"])
            return redirect(f"{_list_url(request)}?{urlencode({'sok': token})}")
        form = ClaimFilterForm(region=request.region)
        return render(request, "review/claim_list.html", {"form": form, "person_form": person_form})
    token = request.GET.get("sok", "")
    pin = request.session.get(PERSON_SEARCHES, {}).get(token, "") if token else ""
    if token and not pin:
        messages.info(request, _("Sökningen på personnummer har gått ut. Sök igen."))
        return redirect(_list_url(request))
    data = {name: value for name, value in request.GET.items() if name not in ("sok", "cursor", "antal")}
    form = ClaimFilterForm(data or None, region=request.region)
    context = {"form": form, "person_form": PersonSearchForm(), "person_searched": bool(pin)}
    if form.is_bound and not form.is_valid():
        return render(request, "review/claim_list.html", context)
    if form.is_bound:
        claim_filter = form.claim_filter()
    else:
        # Unfiltered: att hantera; a patient's claims: all of them.
        claim_filter = ClaimFilter(queue=ClaimQueue.ALL if pin else ClaimQueue.TO_HANDLE)
    if pin:
        claim_filter = replace(claim_filter, personal_identity_number=pin)
    # By cursor, never by offset, the last page too (read from the other end); counted only up to a cap.
    page = keyset_page_or_last(
        selectors.region_claims(region=request.region, claim_filter=claim_filter),
        cursor=request.GET.get("cursor"),
        size=PAGE_SIZE,
        stamp_field="created_at",
    )
    count_asked = request.GET.get("antal") == "alla"
    count = capped_count(
        selectors.region_claims_matching(region=request.region, claim_filter=claim_filter),
        cap=COUNT_ASKED_CAP if count_asked else COUNT_CAP,
    )
    count_all_query = ""
    if count.capped and not count_asked:
        # The same page, filter and search, counted further.
        asked = request.GET.copy()
        asked["antal"] = "alla"
        count_all_query = asked.urlencode()
    claims = list(page.object_list)
    # The state's words once a page, not per row (a model's get_FOO_display rebuilds its choices on every call).
    state_labels = {state: str(label) for state, label in ClaimState.choices}
    # Each row's link from one reverse (the claim's page is rakningar/<pk>/ under the list), not one per row.
    review_url = row_url("review_claim_detail", "claim_pk", region_code=request.region.code)
    for claim in claims:
        claim.status_text = claim_status(claim) if claim.state == ClaimState.APPROVED else state_labels[claim.state]
        claim.review_url = review_url(claim_pk=claim.pk)
    pins = {claim.patient.personal_identity_number for claim in claims}
    if pin:
        # The search itself shows whether the patient has claims in the region, found or not.
        access_log_record_many(
            request=request,
            personal_identity_numbers=pins | {pin},
            shown=AccessShown(AccessShownKind.REVIEW_CLAIMS_PIN_SEARCH),
        )
    elif pins:
        access_log_record_many(
            request=request, personal_identity_numbers=pins, shown=AccessShown(AccessShownKind.REVIEW_CLAIMS)
        )
    query = form.query_string() if form.is_bound else ""
    if token:
        query = f"{query}&{urlencode({'sok': token})}" if query else urlencode({"sok": token})
    context.update(
        page=page,
        count=count,
        count_all_query=count_all_query,
        last_cursor=LAST,
        claims=claims,
        query_string=query,
        queue=claim_filter.queue,
    )
    return render(request, "review/claim_list.html", context)


# One claim ------------------------------------------------------------------------------------------------


def _region_claim(request: HttpRequest, claim_pk: int) -> Claim:
    claim = selectors.region_claim(region=request.region, claim_pk=claim_pk)
    if claim is None:
        raise Http404
    return claim


def _render_claim(
    request: HttpRequest,
    claim: Claim,
    *,
    question_form: QuestionForm | None = None,
    void_form: VoidForm | None = None,
    errors: list[str] | None = None,
) -> HttpResponse:
    access_log_record(
        request=request,
        personal_identity_number=claim.patient.personal_identity_number,
        shown=AccessShown(AccessShownKind.REVIEW_CLAIM, reference=claim.reference),
    )
    return render(
        request,
        "review/claim_detail.html",
        {
            "claim": claim,
            "status": claim_status(claim),
            "events": list(claim.events.all()),
            "possible_duplicates": selectors.possible_duplicates(region=request.region, claim=claim),
            "questions": list(claim.questions.all()),
            "question_form": question_form or QuestionForm(),
            "void_form": void_form or VoidForm(),
            "errors": errors or [],
            "can_approve": claim.can_move_to(ClaimState.APPROVED),
            "can_ask": claim.state in OPEN_STATES,
            "can_void": claim.can_move_to(ClaimState.VOIDED),
            "can_void_invoice": any(c.can_move_to(ClaimState.VOIDED) for c in claim.invoice.claims.all()),
        },
    )


@region_view()
@require_GET
def claim_detail(request: HttpRequest, claim_pk: int) -> HttpResponse:
    """Everything the clinic sent with the claim, its questions and its history; the coordinator's actions."""
    return _render_claim(request, _region_claim(request, claim_pk))


def _back_to_claim(request: HttpRequest, claim: Claim) -> HttpResponse:
    return redirect("review_claim_detail", region_code=request.region.code, claim_pk=claim.pk)


@region_view()
@require_POST
def claim_approve(request: HttpRequest, claim_pk: int) -> HttpResponse:
    """Godkänn: the claim waits for the next payout run, which gives it its payout date."""
    claim = _region_claim(request, claim_pk)
    try:
        claim_services.claim_approve(actor=request.user, claim=claim)
    except ValidationError as error:
        return _render_claim(request, claim, errors=error.messages)
    messages.success(
        request, _("Räkning %(reference)s är godkänd och väntar på utbetalning.") % {"reference": claim.reference}
    )
    return _back_to_claim(request, claim)


@region_view()
@require_POST
def claim_question(request: HttpRequest, claim_pk: int) -> HttpResponse:
    """Ställ en fråga till kliniken: the claim stays under review until the coordinator decides."""
    claim = _region_claim(request, claim_pk)
    form = QuestionForm(request.POST)
    if form.is_valid():
        try:
            services.claim_question_ask(actor=request.user, claim=claim, question=form.cleaned_data["question"])
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Frågan är skickad till kliniken."))
            return _back_to_claim(request, claim)
    return _render_claim(request, _region_claim(request, claim_pk), question_form=form)


@region_view()
@require_POST
def claim_void(request: HttpRequest, claim_pk: int) -> HttpResponse:
    """Makulera: the clinic sees the claim, with the reason, under Makulerade."""
    claim = _region_claim(request, claim_pk)
    form = VoidForm(request.POST)
    if form.is_valid():
        try:
            claim_services.claim_void(actor=request.user, claim=claim, reason=form.cleaned_data["reason"])
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Räkning %(reference)s är makulerad.") % {"reference": claim.reference})
            return _back_to_claim(request, claim)
    return _render_claim(request, _region_claim(request, claim_pk), void_form=form)


@region_view()
@require_http_methods(["GET", "POST"])
def invoice_void(request: HttpRequest, invoice_pk: int) -> HttpResponse:
    """Makulera a whole invoice: every claim of it that is not paid yet, with one reason."""
    invoice, claims = selectors.invoice_claims_in_region(region=request.region, invoice_pk=invoice_pk)
    if invoice is None:
        raise Http404
    form = VoidForm(request.POST if request.method == "POST" else None)
    if form.is_bound and form.is_valid():
        try:
            claim_services.invoice_void(actor=request.user, invoice=invoice, reason=form.cleaned_data["reason"])
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Faktura %(reference)s är makulerad.") % {"reference": invoice.reference})
            return redirect(
                f"{_list_url(request)}?clinic={invoice.clinic_id}&state={ClaimState.VOIDED}",
            )
    for claim in claims:
        claim.status_text = claim_status(claim)
        claim.voidable = claim.can_move_to(ClaimState.VOIDED)
    pins = {claim.patient.personal_identity_number for claim in claims}
    if pins:
        access_log_record_many(
            request=request,
            personal_identity_numbers=pins,
            shown=AccessShown(AccessShownKind.REVIEW_INVOICE_VOID, reference=invoice.reference),
        )
    return render(
        request,
        "review/invoice_void.html",
        {"invoice": invoice, "claims": claims, "form": form, "voidable": any(c.voidable for c in claims)},
    )


def _list_url(request: HttpRequest) -> str:
    return reverse("review_claim_list", kwargs={"region_code": request.region.code})


# Rules ----------------------------------------------------------------------------------------------------


@region_view()
@require_GET
def rule_list(request: HttpRequest) -> HttpResponse:
    """Granskningsregler: coordinators see them; the region's administrators add and deactivate them."""
    rules = list(selectors.region_rules(region=request.region))
    return render(
        request,
        "review/rules.html",
        {
            "active_rules": [rule for rule in rules if rule.is_active],
            "inactive_rules": [rule for rule in rules if not rule.is_active],
            "is_admin": is_region_admin(request),
        },
    )


@region_view(admin=True)
@require_http_methods(["GET", "POST"])
def rule_new(request: HttpRequest) -> HttpResponse:
    form = RuleForm(request.POST or None, region=request.region)
    if request.method == "POST" and form.is_valid():
        try:
            rule = services.review_rule_create(actor=request.user, region=request.region, **form.service_arguments())
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Regeln %(rule)s gäller från nu.") % {"rule": rule.description})
            return redirect("review_rule_list", region_code=request.region.code)
    return render(request, "review/rule_new.html", {"form": form})


@region_view(admin=True)
@require_POST
def rule_deactivate(request: HttpRequest, rule_pk: int) -> HttpResponse:
    rule = selectors.region_rule(region=request.region, rule_pk=rule_pk)
    if rule is None:
        raise Http404
    services.review_rule_deactivate(actor=request.user, rule=rule)
    messages.success(request, _("Regeln %(rule)s är avaktiverad.") % {"rule": rule.description})
    return redirect("review_rule_list", region_code=request.region.code)
