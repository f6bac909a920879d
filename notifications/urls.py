"""Aviseringar: the person's inbox (/aviseringar/) and their e-mail choices (/konto/aviseringar/)."""

from django.urls import path

from . import views

urlpatterns = [
    path("aviseringar/", views.inbox, name="notification_inbox"),
    path("aviseringar/las/", views.mark_read, name="notification_mark_read"),
    path("aviseringar/las-alla/", views.mark_all_read, name="notification_mark_all_read"),
]

account_patterns = [
    path("konto/aviseringar/", views.preferences, name="account_notifications"),
]
