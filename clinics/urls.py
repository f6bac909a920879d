"""The clinic's start page and Klinikadministration; the region's list of clinics."""

from django.urls import path

from . import views

clinic_patterns = [
    path("", views.clinic_start, name="clinic_start"),
    path("klinikadministration/", views.administration, name="clinic_administration"),
    path("klinikadministration/uppgifter/", views.details_edit, name="clinic_details_edit"),
    path("klinikadministration/anvandare/ny/", views.user_new, name="clinic_user_new"),
    path("klinikadministration/anvandare/<int:membership_pk>/roll/", views.user_role, name="clinic_user_role"),
    path(
        "klinikadministration/anvandare/<int:membership_pk>/ta-bort/",
        views.user_remove,
        name="clinic_user_remove",
    ),
]

region_patterns = [
    path("kliniker/", views.region_clinics, name="region_clinics"),
]
