"""Klinikadministration; the region's rules and clinics. (The clinic's start page crosses apps: billing.)"""

import datetime

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from portal.access import Access, authenticated, clinic_view, is_region_admin, region_view
from portal.audit import audit_action_label
from portal.forms import add_service_errors
from portal.row_urls import row_url

from . import selectors, services
from .forms import ApiKeyForm, ClinicDetailsForm, NewUserForm, RoleForm, WebhookForm
from .models import AccountChange, ApiKey, Clinic, ClinicInvitation, ClinicMembership, RegionRole, account_display
from .region_views import history_rows
from .rules import region_rules

ACCOUNT_PENDING_NOTICE = gettext_lazy(
    "Ändringen av kontot väntar på bekräftelse av en annan lokal administratör eller regionens samordnare. "
    "Utbetalningar går till det gamla kontot tills dess."
)


@clinic_view(access=Access.CLINIC_AGREEMENT)
@require_GET
def administration(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "clinics/administration.html",
        {
            "memberships": selectors.clinic_memberships(clinic=request.clinic),
            "invitations": selectors.clinic_invitations_pending(clinic=request.clinic),
            "pending_change": selectors.account_change_pending(clinic=request.clinic),
        },
    )


@clinic_view(admin=True)
@require_http_methods(["GET", "POST"])
def details_edit(request: HttpRequest) -> HttpResponse:
    form = ClinicDetailsForm(request.POST or None, instance=request.clinic)
    if request.method == "POST" and form.is_valid():
        try:
            services.clinic_update_details(
                actor=request.user, clinic=request.clinic, **{f: form.cleaned_data[f] for f in form.Meta.fields}
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Klinikens uppgifter är sparade."))
            if selectors.account_change_pending(clinic=request.clinic) is not None:
                messages.warning(request, ACCOUNT_PENDING_NOTICE)
            return redirect("clinic_administration", clinic_pk=request.clinic.pk)
    return render(
        request,
        "clinics/details_form.html",
        {"form": form, "pending_change": selectors.account_change_pending(clinic=request.clinic)},
    )


@clinic_view(access=Access.CLINIC_AGREEMENT)
@require_http_methods(["GET", "POST"])
def user_new(request: HttpRequest) -> HttpResponse:
    form = NewUserForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            added = services.membership_invite(actor=request.user, clinic=request.clinic, **form.cleaned_data)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            if isinstance(added, ClinicInvitation):
                message = _("%(name)s har fått en inbjudan och blir klinikens användare först när hen tackar ja.")
            else:
                message = _("%(name)s har lagts till och får ett e-postmeddelande.")
            messages.success(request, message % {"name": added.user})
            return redirect("clinic_administration", clinic_pk=request.clinic.pk)
    return render(request, "clinics/user_new.html", {"form": form})


def _membership_or_404(request: HttpRequest, membership_pk: int) -> ClinicMembership:
    try:
        return selectors.clinic_membership_get(clinic=request.clinic, membership_pk=membership_pk)
    except ClinicMembership.DoesNotExist as missing:
        raise Http404 from missing


@clinic_view(access=Access.CLINIC_AGREEMENT)
@require_http_methods(["GET", "POST"])
def user_role(request: HttpRequest, membership_pk: int) -> HttpResponse:
    membership = _membership_or_404(request, membership_pk)
    form = RoleForm(request.POST or None, initial={"role": membership.role})
    if request.method == "POST" and form.is_valid():
        try:
            services.membership_change_role(actor=request.user, membership=membership, role=form.cleaned_data["role"])
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Rollen för %(name)s är ändrad.") % {"name": membership.user})
            return redirect("clinic_administration", clinic_pk=request.clinic.pk)
    return render(request, "clinics/user_role.html", {"form": form, "membership": membership})


@clinic_view(access=Access.CLINIC_AGREEMENT)
@require_http_methods(["GET", "POST"])
def user_remove(request: HttpRequest, membership_pk: int) -> HttpResponse:
    membership = _membership_or_404(request, membership_pk)
    errors: list[str] = []
    if request.method == "POST":
        try:
            services.membership_remove(actor=request.user, membership=membership)
        except ValidationError as error:
            errors = error.messages
        else:
            messages.success(
                request, _("%(name)s har inte längre behörighet till kliniken.") % {"name": membership.user}
            )
            if membership.user_id == request.user.pk:
                return redirect("home")
            return redirect("clinic_administration", clinic_pk=request.clinic.pk)
    return render(request, "clinics/user_remove.html", {"membership": membership, "errors": errors})


@region_view()
@require_GET
def region_clinics(request: HttpRequest) -> HttpResponse:
    """The region's rules and its clinics (the start page itself is reports.views.region_start)."""
    clinics = list(selectors.region_clinics(region=request.region))
    # Each row's link from one reverse (a clinic's number is digits only), not one per clinic: a region has hundreds.
    detail_url = row_url("region_clinic_detail", "clinic_number", region_code=request.region.code)
    for clinic in clinics:
        clinic.detail_url = detail_url(clinic_number=clinic.number)
    context = {
        "clinics": clinics,
        "is_region_admin": is_region_admin(request),
        "rules": region_rules(request.region),
    }
    return render(request, "clinics/region_clinics.html", context)


@region_view(admin=True)
@require_POST
def region_two_factor(request: HttpRequest) -> HttpResponse:
    """The region administrator requires two-factor authentication of the clinics' users, or makes it optional."""
    required = request.POST.get("required") == "1"
    services.region_clinic_two_factor_set(actor=request.user, region=request.region, required=required)
    if required:
        messages.success(request, _("Klinikernas användare måste nu ha tvåstegsverifiering när de loggar in."))
    else:
        messages.success(request, _("Tvåstegsverifiering är nu frivillig för klinikernas användare."))
    return redirect("region_clinics", region_code=request.region.code)


# The clinic's account: a change waits for a second person ---------------------------------------------------------


def _decide(request: HttpRequest, decide, success: str) -> None:
    try:
        decide()
    except ValidationError as error:
        for message in error.messages:
            messages.error(request, message)
    else:
        messages.success(request, success)


def _clinic_change_or_404(request: HttpRequest, change_pk: int) -> AccountChange:
    try:
        return selectors.clinic_account_change_get(clinic=request.clinic, change_pk=change_pk)
    except AccountChange.DoesNotExist as missing:
        raise Http404 from missing


@clinic_view(admin=True)
@require_POST
def account_change_confirm(request: HttpRequest, change_pk: int) -> HttpResponse:
    change = _clinic_change_or_404(request, change_pk)
    _decide(
        request,
        lambda: services.account_change_confirm(actor=request.user, change=change),
        _("Ändringen är bekräftad: utbetalningar går nu till %(account)s.") % {"account": change.new_display},
    )
    return redirect("clinic_administration", clinic_pk=request.clinic.pk)


@clinic_view(admin=True)
@require_POST
def account_change_reject(request: HttpRequest, change_pk: int) -> HttpResponse:
    change = _clinic_change_or_404(request, change_pk)
    _decide(
        request,
        lambda: services.account_change_reject(
            actor=request.user, change=change, reason=request.POST.get("reason", "")[:1000]
        ),
        _("Ändringen är avvisad. Kliniken behåller %(account)s.") % {"account": change.old_display},
    )
    return redirect("clinic_administration", clinic_pk=request.clinic.pk)


@clinic_view(admin=True)
@require_POST
def account_change_withdraw(request: HttpRequest, change_pk: int) -> HttpResponse:
    change = _clinic_change_or_404(request, change_pk)
    _decide(
        request,
        lambda: services.account_change_withdraw(actor=request.user, change=change),
        _("Ändringen är tillbakadragen. Kliniken behåller %(account)s.") % {"account": change.old_display},
    )
    return redirect("clinic_administration", clinic_pk=request.clinic.pk)


@region_view()
@require_GET
def region_clinic_detail(request: HttpRequest, clinic_number: str) -> HttpResponse:
    """One clinic of the region: its account, the change waiting for confirmation and every change before."""
    try:
        clinic = selectors.region_clinic_get(region=request.region, number=clinic_number)
    except Clinic.DoesNotExist as missing:
        raise Http404 from missing
    history = [
        {"event": event, "label": audit_action_label(event.action), "accounts": _accounts_of(event)}
        for event in selectors.account_change_history(clinic=clinic)
    ]
    # region_view prefers the coordinator's role when the person has one here.
    is_coordinator = request.membership.role == RegionRole.COORDINATOR
    return render(
        request,
        "clinics/region_clinic_detail.html",
        {
            "clinic": clinic,
            "pending_change": selectors.account_change_pending(clinic=clinic),
            "history": history,
            "may_decide": is_coordinator,
            "is_region_admin": is_region_admin(request),
            "details_history": history_rows(selectors.clinic_details_history(clinic=clinic)),
        },
    )


def _accounts_of(event) -> str:
    """ "PG 41 23 45-1 → BG 555-9877" from the recorded data of a request or confirmation; a decision's reason else."""
    before, after = event.before or {}, event.after or {}
    if "account_number" in before and "account_number" in after:
        old = account_display(before.get("payment_method", ""), before["account_number"])
        new = account_display(after.get("payment_method", ""), after["account_number"])
        return f"{old} → {new}"
    return after.get("reason", "")


def _region_change_or_404(request: HttpRequest, change_pk: int) -> AccountChange:
    try:
        return selectors.region_account_change_get(region=request.region, change_pk=change_pk)
    except AccountChange.DoesNotExist as missing:
        raise Http404 from missing


@region_view()
@require_POST
def region_account_change_confirm(request: HttpRequest, change_pk: int) -> HttpResponse:
    change = _region_change_or_404(request, change_pk)
    _decide(
        request,
        lambda: services.account_change_confirm(actor=request.user, change=change),
        _("Ändringen är bekräftad: utbetalningar går nu till %(account)s.") % {"account": change.new_display},
    )
    return redirect("region_clinic_detail", region_code=request.region.code, clinic_number=change.clinic.number)


@region_view()
@require_POST
def region_account_change_reject(request: HttpRequest, change_pk: int) -> HttpResponse:
    change = _region_change_or_404(request, change_pk)
    _decide(
        request,
        lambda: services.account_change_reject(
            actor=request.user, change=change, reason=request.POST.get("reason", "")[:1000]
        ),
        _("Ändringen är avvisad. Kliniken behåller %(account)s.") % {"account": change.old_display},
    )
    return redirect("region_clinic_detail", region_code=request.region.code, clinic_number=change.clinic.number)


# Invitations -----------------------------------------------------------------------------------------------------


@authenticated
@require_http_methods(["GET", "POST"])
def invitations(request: HttpRequest) -> HttpResponse:
    """Inbjudningar: the person's invitations to clinics, each accepted or declined here (by POST)."""
    pending = selectors.user_invitations(user=request.user)
    if request.method == "POST":
        invitation = next((i for i in pending if str(i.pk) == request.POST.get("invitation", "")), None)
        if invitation is None:  # someone else's, or answered already: the same answer for both
            messages.error(request, _("Inbjudan finns inte eller är redan besvarad."))
        elif request.POST.get("answer") == "accept":
            _decide(
                request,
                lambda: services.invitation_accept(actor=request.user, invitation=invitation),
                _("Du är nu användare på %(clinic)s.") % {"clinic": invitation.clinic},
            )
        else:
            _decide(
                request,
                lambda: services.invitation_decline(actor=request.user, invitation=invitation),
                _("Du har tackat nej till %(clinic)s.") % {"clinic": invitation.clinic},
            )
        return redirect("invitations")
    return render(request, "clinics/invitations.html", {"invitations": pending})


# API keys (issue 13) ----------------------------------------------------------------------------------------


@clinic_view(admin=True)
@require_GET
def api_keys(request: HttpRequest) -> HttpResponse:
    return render(request, "clinics/api_keys.html", {"keys": selectors.clinic_api_keys(clinic=request.clinic)})


@clinic_view(admin=True)
@require_http_methods(["GET", "POST"])
def api_key_new(request: HttpRequest) -> HttpResponse:
    form = ApiKeyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        expires_on = form.cleaned_data["expires_on"]
        # Valid through the whole of the last day named.
        expires_at = (
            timezone.make_aware(datetime.datetime.combine(expires_on + datetime.timedelta(days=1), datetime.time.min))
            if expires_on
            else None
        )
        try:
            key, secret = services.api_key_create(
                actor=request.user, clinic=request.clinic, name=form.cleaned_data["name"], expires_at=expires_at
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            # Shown in the answer to the POST, never stored: a reload does not show it again.
            return render(request, "clinics/api_key_created.html", {"key": key, "secret": secret})
    return render(request, "clinics/api_key_new.html", {"form": form})


@clinic_view(admin=True)
@require_http_methods(["GET", "POST"])
def api_key_revoke(request: HttpRequest, key_pk: int) -> HttpResponse:
    try:
        key = selectors.clinic_api_key_get(clinic=request.clinic, key_pk=key_pk)
    except ApiKey.DoesNotExist as missing:
        raise Http404 from missing
    errors: list[str] = []
    if request.method == "POST":
        try:
            services.api_key_revoke(actor=request.user, key=key)
        except ValidationError as error:
            errors = error.messages
        else:
            messages.success(request, _("Nyckeln %(name)s är återkallad.") % {"name": key.name})
            return redirect("clinic_api_keys", clinic_pk=request.clinic.pk)
    return render(request, "clinics/api_key_revoke.html", {"key": key, "errors": errors})


def _key_or_404(request: HttpRequest, key_pk: int) -> ApiKey:
    try:
        return selectors.clinic_api_key_get(clinic=request.clinic, key_pk=key_pk)
    except ApiKey.DoesNotExist as missing:
        raise Http404 from missing


@clinic_view(admin=True)
@require_GET
def api_key_detail(request: HttpRequest, key_pk: int) -> HttpResponse:
    """The key and its webhook: address, kinds, whether it works, and its latest attempts."""
    key = _key_or_404(request, key_pk)
    return render(
        request,
        "clinics/api_key_detail.html",
        {"key": key, **selectors.api_key_webhook_overview(key=key)},
    )


@clinic_view(admin=True)
@require_http_methods(["GET", "POST"])
def api_key_webhook(request: HttpRequest, key_pk: int) -> HttpResponse:
    key = _key_or_404(request, key_pk)
    initial = {"webhook_url": key.webhook_url, "kinds": key.webhook_kinds}
    form = WebhookForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            key, secret = services.api_key_webhook_set(
                actor=request.user, key=key, url=form.cleaned_data["webhook_url"], kinds=form.cleaned_data["kinds"]
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            if secret:
                # Shown in the answer to the POST, never again: a reload does not show it.
                return render(request, "clinics/api_key_webhook_secret.html", {"key": key, "secret": secret})
            messages.success(request, _("Webhooken är sparad."))
            return redirect("clinic_api_key", clinic_pk=request.clinic.pk, key_pk=key.pk)
    return render(request, "clinics/api_key_webhook.html", {"key": key, "form": form})


@clinic_view(admin=True)
@require_http_methods(["GET", "POST"])
def api_key_webhook_secret(request: HttpRequest, key_pk: int) -> HttpResponse:
    """Byt hemlighet: asked first, then the new secret shown once."""
    key = _key_or_404(request, key_pk)
    errors: list[str] = []
    if request.method == "POST":
        try:
            key, secret = services.api_key_webhook_secret_rotate(actor=request.user, key=key)
        except ValidationError as error:
            errors = error.messages
        else:
            return render(request, "clinics/api_key_webhook_secret.html", {"key": key, "secret": secret})
    return render(request, "clinics/api_key_webhook_rotate.html", {"key": key, "errors": errors})


@clinic_view(admin=True)
@require_http_methods(["GET", "POST"])
def api_key_webhook_remove(request: HttpRequest, key_pk: int) -> HttpResponse:
    key = _key_or_404(request, key_pk)
    if request.method == "POST":
        services.api_key_webhook_remove(actor=request.user, key=key)
        messages.success(request, _("Webhooken är borttagen."))
        return redirect("clinic_api_key", clinic_pk=request.clinic.pk, key_pk=key.pk)
    return render(request, "clinics/api_key_webhook_remove.html", {"key": key})
