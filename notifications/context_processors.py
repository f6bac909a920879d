"""The bell in the header: the signed-in person's unread count, asked (one count) only when the header is drawn."""

from django.utils.functional import SimpleLazyObject

from .selectors import notifications_unread_count


def notifications(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"notifications_unread": SimpleLazyObject(lambda: notifications_unread_count(user=user))}
