"""Aviseringar: a person's own notifications, and their choice of e-mail per kind. Nobody sees another's."""

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from portal import access

from .models import EMAILABLE_KINDS, Notification, NotificationKind
from .selectors import notification_link, notification_preferences, notification_text, notifications_inbox
from .services import notification_mark_read, notification_preferences_save, notifications_mark_all_read


def _page_id(value: str | None) -> int | None:
    return int(value) if value and value.isascii() and value.isdigit() and len(value) < 19 else None


@access.authenticated
@require_GET
def inbox(request: HttpRequest) -> HttpResponse:
    """Aviseringar: newest first, each in the reader's language with a link to its object."""
    page = notifications_inbox(user=request.user, before=_page_id(request.GET.get("fore")))
    items = [
        {"notification": n, "text": notification_text(n), "link": notification_link(n)} for n in page.notifications
    ]
    return render(request, "notifications/inbox.html", {"items": items, "older_than": page.older_than})


@access.authenticated
@require_POST
def mark_read(request: HttpRequest) -> HttpResponse:
    """Markera som läst: the id in the form; another person's notification (or none) answers 404."""
    notification_id = _page_id(request.POST.get("notification"))
    if notification_id is None:
        return redirect("notification_inbox")
    notification = Notification.objects.of_recipient(request.user).filter(pk=notification_id).first()
    if notification is None:
        raise Http404
    notification_mark_read(user=request.user, notification=notification)
    return redirect("notification_inbox")


@access.authenticated
@require_POST
def mark_all_read(request: HttpRequest) -> HttpResponse:
    count = notifications_mark_all_read(user=request.user)
    if count:
        messages.success(request, _("Alla aviseringar är markerade som lästa."))
    return redirect("notification_inbox")


class PreferencesForm(forms.Form):
    email_kinds = forms.MultipleChoiceField(
        label=gettext_lazy("Skicka e-post om"),
        choices=[(kind, label) for kind, label in NotificationKind.choices if kind in EMAILABLE_KINDS],
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )


@access.authenticated
@require_http_methods(["GET", "POST"])
def preferences(request: HttpRequest) -> HttpResponse:
    """Mitt konto → Aviseringar: each kind by e-mail or not (on by default); the inbox shows every kind."""
    chosen = notification_preferences(user=request.user)
    form = PreferencesForm(
        request.POST if request.method == "POST" else None,
        initial={"email_kinds": [kind for kind, email in chosen.items() if email]},
    )
    if request.method == "POST" and form.is_valid():
        notification_preferences_save(user=request.user, email_kinds=form.cleaned_data["email_kinds"])
        messages.success(request, _("Dina val av aviseringar är sparade."))
        return redirect("account_notifications")
    return render(request, "notifications/preferences.html", {"form": form})
