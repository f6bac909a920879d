"""Ansök om anslutning (public) and the region's Ansökningar."""

from django.urls import path

from . import views

public_patterns = [
    path("ansok-om-anslutning/", views.apply, name="application_new"),
    path("ansok-om-anslutning/skickad/", views.apply_sent, name="application_sent"),
    path("ansok-om-anslutning/bekrafta/<str:token>/", views.confirm, name="application_confirm"),
]

region_patterns = [
    path("ansokningar/", views.region_applications, name="region_applications"),
    path("ansokningar/<int:application_pk>/", views.region_application_detail, name="region_application_detail"),
    path(
        "ansokningar/<int:application_pk>/godkann/",
        views.region_application_approve,
        name="region_application_approve",
    ),
    path(
        "ansokningar/<int:application_pk>/avsla/",
        views.region_application_reject,
        name="region_application_reject",
    ),
]
