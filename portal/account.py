"""A person's own account: Glömt lösenord (Django's reset flow) and Mitt konto (name, e-mail, password, language,
two-factor devices and recovery codes)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.urls import reverse_lazy

from . import access
from .forms import PasswordResetRequestForm

# Glömt lösenord: the same answer whether or not the address belongs to anyone; the link leads to the page that
# also sets an invited person's first password, and is valid PASSWORD_RESET_TIMEOUT.
password_reset = access.public(
    auth_views.PasswordResetView.as_view(
        template_name="portal/password_reset.html",
        form_class=PasswordResetRequestForm,
        email_template_name="portal/email/password_reset.txt",
        subject_template_name="portal/email/password_reset_subject.txt",
        extra_email_context={"base_url": settings.PORTAL_BASE_URL.rstrip("/")},
        success_url=reverse_lazy("password_reset_done"),
    )
)
password_reset_done = access.public(
    auth_views.PasswordResetDoneView.as_view(template_name="portal/password_reset_done.html")
)
