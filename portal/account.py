"""A person's own account: Glömt lösenord (Django's reset flow) and Mitt konto (name, e-mail, password, language,
two-factor devices and recovery codes)."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import PasswordChangeForm
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse, reverse_lazy
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.i18n import set_language
from django_otp.plugins.otp_totp.models import TOTPDevice

from clinics.models import User

from . import access, two_factor
from .audit import IdentityAudit, audit_record
from .forms import AccountForm, EmailChangeForm, PasswordResetRequestForm
from .sessions import session_renew


# Glömt lösenord: the same answer whether or not the address belongs to anyone; the link leads to the page that
# also sets an invited person's first password, and is valid PASSWORD_RESET_TIMEOUT.
class PasswordResetView(auth_views.PasswordResetView):
    template_name = "portal/password_reset.html"
    form_class = PasswordResetRequestForm
    email_template_name = "portal/email/password_reset.txt"
    subject_template_name = "portal/email/password_reset_subject.txt"
    success_url = reverse_lazy("password_reset_done")

    def form_valid(self, form):
        # Links lead to the portal's public address, whatever host the request came to.
        self.extra_email_context = {"base_url": settings.PORTAL_BASE_URL.rstrip("/")}
        return super().form_valid(form)


password_reset = access.public(PasswordResetView.as_view())
password_reset_done = access.public(
    auth_views.PasswordResetDoneView.as_view(template_name="portal/password_reset_done.html")
)


# Mitt konto ------------------------------------------------------------------------------------------------


@access.authenticated
@require_http_methods(["GET", "POST"])
def account(request: HttpRequest) -> HttpResponse:
    """Mitt konto: name and language here; e-mail, password and two-factor authentication on their own forms."""
    form = AccountForm(request.POST or None, initial={"name": request.user.name, "language": request.LANGUAGE_CODE})
    if request.method == "POST" and form.is_valid():
        account_name_change(actor=request.user, name=form.cleaned_data["name"])
        language = form.cleaned_data["language"]
        account_language_set(user=request.user, language=language)
        translation.activate(language)
        messages.success(request, _("Dina uppgifter är sparade."))
        response = redirect("account")
        response.set_cookie(
            settings.LANGUAGE_COOKIE_NAME,
            language,
            max_age=settings.LANGUAGE_COOKIE_AGE,
            samesite=settings.LANGUAGE_COOKIE_SAMESITE,
            secure=settings.LANGUAGE_COOKIE_SECURE,
            httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
        )
        return response
    context = {
        "form": form,
        "apps": two_factor.app_devices(request.user),
        "recovery_codes_left": two_factor.recovery_codes_left(request.user),
        "two_factor_required": two_factor.two_factor_required(request.user),
        "pending_email": request.session.get(PENDING_EMAIL_SESSION_KEY),
    }
    return render(request, "portal/account.html", context)


@access.authenticated
@sensitive_post_parameters("old_password", "new_password1", "new_password2")
@require_http_methods(["GET", "POST"])
def password_change(request: HttpRequest) -> HttpResponse:
    """Byt lösenord: the current one and the new twice; the person's other sessions end (Django's auth hash)."""
    form = PasswordChangeForm(request.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        account_password_change(request=request, form=form)
        messages.success(request, _("Lösenordet är bytt. Du har loggats ut på andra datorer."))
        return redirect("account")
    return render(request, "portal/account_password.html", {"form": form})


@access.authenticated
@sensitive_post_parameters("password")
@require_http_methods(["GET", "POST"])
def email_change(request: HttpRequest) -> HttpResponse:
    """Byt e-postadress: a link to the new address confirms it; until then the old one stays."""
    form = EmailChangeForm(request.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        email_change_request(user=request.user, new_email=form.cleaned_data["email"])
        request.session[PENDING_EMAIL_SESSION_KEY] = form.cleaned_data["email"]
        messages.success(
            request,
            _("Vi har skickat en länk till %(email)s. Adressen byts när du öppnar länken.")
            % {"email": form.cleaned_data["email"]},
        )
        return redirect("account")
    return render(request, "portal/account_email.html", {"form": form})


@access.public
@require_http_methods(["GET", "POST"])
def email_confirm(request: HttpRequest, token: str) -> HttpResponse:
    """The link in the confirmation e-mail: a page with a button (so that a mail scanner's GET changes nothing)."""
    change = email_change_read(token)
    if request.method == "POST" and change is not None:
        try:
            email_change_confirm(change=change)
        except ValidationError as error:
            messages.error(request, error.messages[0])
            return redirect("home")
        request.session.pop(PENDING_EMAIL_SESSION_KEY, None)
        messages.success(request, _("E-postadressen är bytt. Logga in med den nya adressen från och med nu."))
        return redirect("account" if request.user.is_authenticated else "login")
    return render(request, "portal/account_email_confirm.html", {"change": change})


@access.authenticated
@require_POST
def recovery_codes_new(request: HttpRequest) -> HttpResponse:
    """Nya reservkoder: the old ones stop working; the new are shown once."""
    if not two_factor.has_app(request.user):
        return redirect("account")
    codes = two_factor.recovery_codes_renew(user=request.user)
    return render(request, "portal/recovery_codes.html", {"codes": codes, "next": reverse("account")})


@access.authenticated
@require_POST
def two_factor_remove(request: HttpRequest) -> HttpResponse:
    """Ta bort an authenticator app (the device's id in the form, never in the URL; only the user's own)."""
    try:
        device_pk = int(request.POST.get("device", ""))
    except ValueError:
        return HttpResponseBadRequest()
    try:
        two_factor.two_factor_remove(actor=request.user, device_pk=device_pk)
    except TOTPDevice.DoesNotExist:
        raise Http404 from None
    except PermissionError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, _("Appen är borttagen."))
    return redirect("account")


@access.authenticated
@require_GET
def keepalive(request: HttpRequest) -> HttpResponse:
    """Fortsätt vara inloggad: the idle time starts again; nothing to show."""
    session_renew(request)
    response = HttpResponse(status=204)
    response["Cache-Control"] = "no-store"
    return response


# Services of the account -----------------------------------------------------------------------------------

PENDING_EMAIL_SESSION_KEY = "portal_pending_email"
EMAIL_CHANGE_SALT = "portal.account.email_change"


@dataclass(frozen=True)
class EmailChange:
    user: User
    new_email: str


@transaction.atomic
def account_name_change(*, actor: User, name: str) -> None:
    if actor.name == name:
        return
    before = actor.name
    actor.name = name
    actor.save(update_fields=["name"])
    audit_record(
        actor=actor, action=IdentityAudit.ACCOUNT_NAME_CHANGED, obj=actor, before={"name": before}, after={"name": name}
    )


@transaction.atomic
def account_language_set(*, user: User, language: str) -> None:
    """The language the person chose while signed in: their e-mails (notifications) are written in it."""
    if language not in {code for code, _name in settings.LANGUAGES} or user.language == language:
        return
    before = user.language
    user.language = language
    user.save(update_fields=["language"])
    audit_record(
        actor=user,
        action=IdentityAudit.ACCOUNT_LANGUAGE_CHANGED,
        obj=user,
        before={"language": before},
        after={"language": language},
    )


@access.public
def language_switch(request: HttpRequest) -> HttpResponse:
    """The header's language switch (Django's set_language, which sets the cookie); a signed-in person's choice is
    kept on their account as well."""
    response = set_language(request)
    if request.method == "POST" and request.user.is_authenticated:
        account_language_set(user=request.user, language=request.POST.get("language", ""))
    return response


@transaction.atomic
def account_password_change(*, request: HttpRequest, form: PasswordChangeForm) -> None:
    user = form.save()
    update_session_auth_hash(request, user)  # this session goes on; the others end
    audit_record(actor=user, action=IdentityAudit.ACCOUNT_PASSWORD_CHANGED, obj=user)


def email_change_request(*, user: User, new_email: str) -> None:
    """Send the confirmation link to the new address; the old address is told too."""
    token = signing.dumps({"user": user.pk, "old": user.email, "new": new_email}, salt=EMAIL_CHANGE_SALT)
    link = settings.PORTAL_BASE_URL.rstrip("/") + reverse("account_email_confirm", kwargs={"token": token})
    context = {"user": user, "new_email": new_email, "link": link}
    send_mail(
        subject=_("Bekräfta din nya e-postadress i Tandportalen"),
        message=render_to_string("portal/email/email_change.txt", context),
        from_email=None,
        recipient_list=[new_email],
    )
    send_mail(
        subject=_("Din e-postadress i Tandportalen håller på att bytas"),
        message=render_to_string("portal/email/email_change_notice.txt", context),
        from_email=None,
        recipient_list=[user.email],
    )


def email_change_read(token: str) -> EmailChange | None:
    """The change a link asks for, if the link is genuine, at most three days old and the address unchanged since."""
    try:
        data = signing.loads(token, salt=EMAIL_CHANGE_SALT, max_age=settings.PASSWORD_RESET_TIMEOUT)
    except signing.BadSignature:
        return None
    user = User.objects.filter(pk=data["user"], email=data["old"], is_active=True).first()
    return EmailChange(user=user, new_email=data["new"]) if user is not None else None


@transaction.atomic
def email_change_confirm(*, change: EmailChange) -> None:
    user = User.objects.select_for_update().get(pk=change.user.pk)
    if User.objects.filter(email__iexact=change.new_email).exclude(pk=user.pk).exists():
        raise ValidationError(_("E-postadressen används redan av en annan användare."))
    before = user.email
    user.email = change.new_email
    user.save(update_fields=["email"])
    audit_record(
        actor=user,
        action=IdentityAudit.ACCOUNT_EMAIL_CHANGED,
        obj=user,
        before={"email": before},
        after={"email": user.email},
    )
