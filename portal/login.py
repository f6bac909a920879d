"""Logging in: the password form (throttled by django-axes), the second factor, and the lockout page.

After 5 failures for one e-mail address from one address (wrong passwords or wrong codes), login for that pair
waits AXES_COOLOFF_TIME; while it waits even the right password is refused, with the waiting time in Swedish.
"""

from __future__ import annotations

import math

from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_client_ip_address, get_cool_off
from axes.models import AccessAttempt
from axes.utils import reset as axes_reset
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login as auth_login
from django.contrib.auth import logout as auth_logout
from django.contrib.auth import signals
from django.contrib.auth import views as auth_views
from django.db.models import Max
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from . import access, two_factor
from .forms import LoginForm, TwoFactorCodeForm


def axes_username(request: HttpRequest, credentials: dict | None) -> str:
    """The e-mail address as axes counts it: lower case, so that Anna@ and anna@ share one counter."""
    value = (credentials or {}).get("username") or request.POST.get("username", "")
    return value.strip().lower()


def lockout_remaining_seconds(request: HttpRequest, username: str) -> int:
    """How long the account+address still waits, from the last counted failure."""
    cool_off = get_cool_off(request)
    last = AccessAttempt.objects.filter(username=username, ip_address=get_client_ip_address(request)).aggregate(
        last=Max("attempt_time")
    )["last"]
    if cool_off is None or last is None:
        return 0
    return max(0, math.ceil((last + cool_off - timezone.now()).total_seconds()))


def login_locked(request: HttpRequest, original_response=None, credentials: dict | None = None) -> HttpResponse:
    """django-axes' lockout response: the login page's words, with how long to wait (HTTP 429)."""
    username = axes_username(request, credentials)
    seconds = lockout_remaining_seconds(request, username)
    minutes = max(1, math.ceil(seconds / 60))
    until = timezone.localtime() + timezone.timedelta(seconds=seconds)
    if request.user.is_authenticated:
        auth_logout(request)
    message = ngettext(
        "För många misslyckade inloggningsförsök. Vänta %(minutes)d minut och försök sedan igen (efter klockan "
        "%(until)s).",
        "För många misslyckade inloggningsförsök. Vänta %(minutes)d minuter och försök sedan igen (efter klockan "
        "%(until)s).",
        minutes,
    ) % {"minutes": minutes, "until": until.strftime("%H:%M")}
    response = render(request, "portal/login_locked.html", {"message": message}, status=429)
    response["Retry-After"] = str(max(seconds, 1))
    return response


def _safe_next(request: HttpRequest) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(candidate, {request.get_host()}, request.is_secure()):
        return candidate
    return resolve_url(settings.LOGIN_REDIRECT_URL)


def login_completed(request: HttpRequest) -> None:
    """Every factor given: the failures counted for this account+address are forgotten."""
    axes_reset(ip=get_client_ip_address(request), username=request.user.email)


class LoginView(auth_views.LoginView):
    template_name = "portal/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["password_login"] = settings.PASSWORD_LOGIN_ENABLED
        context["oidc_login"] = settings.OIDC_ENABLED
        context["oidc_provider_name"] = settings.OIDC_PROVIDER_NAME
        return context

    def post(self, request, *args, **kwargs):
        if not settings.PASSWORD_LOGIN_ENABLED:
            return redirect("login")
        return super().post(request, *args, **kwargs)

    def form_valid(self, form):
        auth_login(self.request, form.get_user())
        step = two_factor.next_step_url(self.request, self.get_redirect_url())
        if step:
            return redirect(step)
        login_completed(self.request)
        return redirect(self.get_success_url())


login = access.public(LoginView.as_view())


def _two_factor_step(view):
    """A page of the second step: for a logged-in user whose session is not verified yet."""
    view = access.authenticated(view)
    view.two_factor_step = True
    return view


@_two_factor_step
@sensitive_post_parameters("code")
@never_cache
@require_http_methods(["GET", "POST"])
def two_factor_verify(request: HttpRequest) -> HttpResponse:
    """Kod: the six digits from the authenticator app, or a recovery code."""
    if two_factor.session_verified(request):
        return redirect(_safe_next(request))
    if not two_factor.has_app(request.user):
        return redirect("two_factor_enrol")
    credentials = {"username": request.user.email}
    if AxesProxyHandler.is_locked(request, credentials):
        return login_locked(request, credentials=credentials)
    form = TwoFactorCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if two_factor.code_verify(request=request, code=form.cleaned_data["code"]):
            login_completed(request)
            return redirect(_safe_next(request))
        signals.user_login_failed.send(sender=__name__, credentials=credentials, request=request)
        if getattr(request, "axes_locked_out", False):
            return login_locked(request, credentials=credentials)
        form.add_error("code", _("Koden stämmer inte. Kontrollera att klockan i telefonen går rätt och försök igen."))
    return render(request, "portal/two_factor_verify.html", {"form": form, "next": _safe_next(request)})


@_two_factor_step
@sensitive_post_parameters("code")
@never_cache
@require_http_methods(["GET", "POST"])
def two_factor_enrol(request: HttpRequest) -> HttpResponse:
    """Aktivera tvåstegsverifiering: scan the QR code (or type the key), confirm with a code; recovery codes once.

    On first login for those who must use it; from Mitt konto for everyone else (and for a further app).
    """
    if two_factor.has_app(request.user) and not two_factor.session_verified(request):
        return redirect("two_factor_verify")
    device = two_factor.pending_app(request.user)
    credentials = {"username": request.user.email}
    if AxesProxyHandler.is_locked(request, credentials):
        return login_locked(request, credentials=credentials)
    form = TwoFactorCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        codes = two_factor.app_confirm(request=request, device=device, code=form.cleaned_data["code"])
        if codes is not None:
            login_completed(request)
            messages.success(request, _("Tvåstegsverifiering är aktiverad."))
            return render(
                request, "portal/recovery_codes.html", {"codes": codes, "next": _safe_next(request), "first": True}
            )
        signals.user_login_failed.send(sender=__name__, credentials=credentials, request=request)
        if getattr(request, "axes_locked_out", False):
            return login_locked(request, credentials=credentials)
        form.add_error("code", _("Koden stämmer inte. Kontrollera att klockan i telefonen går rätt och försök igen."))
    context = {
        "form": form,
        "qr_svg": two_factor.qr_svg(device),
        "secret": two_factor.grouped(two_factor.base32_secret(device)),
        "required": two_factor.two_factor_required(request.user),
        "next": _safe_next(request),
    }
    return render(request, "portal/two_factor_enrol.html", context)
