"""Klinikadministration; the region's list of clinics. The clinic's start page is billing's (billing/urls.py)."""

from django.urls import path

from . import organisation_views, views

clinic_patterns = [
    path("klinikadministration/", views.administration, name="clinic_administration"),
    path("klinikadministration/api-nycklar/", views.api_keys, name="clinic_api_keys"),
    path("klinikadministration/api-nycklar/ny/", views.api_key_new, name="clinic_api_key_new"),
    path("klinikadministration/api-nycklar/<int:key_pk>/", views.api_key_detail, name="clinic_api_key"),
    path(
        "klinikadministration/api-nycklar/<int:key_pk>/webhook/",
        views.api_key_webhook,
        name="clinic_api_key_webhook",
    ),
    path(
        "klinikadministration/api-nycklar/<int:key_pk>/webhook/ny-hemlighet/",
        views.api_key_webhook_secret,
        name="clinic_api_key_webhook_secret",
    ),
    path(
        "klinikadministration/api-nycklar/<int:key_pk>/webhook/ta-bort/",
        views.api_key_webhook_remove,
        name="clinic_api_key_webhook_remove",
    ),
    path(
        "klinikadministration/api-nycklar/<int:key_pk>/aterkalla/",
        views.api_key_revoke,
        name="clinic_api_key_revoke",
    ),
    path("klinikadministration/uppgifter/", views.details_edit, name="clinic_details_edit"),
    path("klinikadministration/anvandare/ny/", views.user_new, name="clinic_user_new"),
    path("klinikadministration/anvandare/<int:membership_pk>/roll/", views.user_role, name="clinic_user_role"),
    path(
        "klinikadministration/anvandare/<int:membership_pk>/ta-bort/",
        views.user_remove,
        name="clinic_user_remove",
    ),
    path(
        "klinikadministration/kontoandring/<int:change_pk>/bekrafta/",
        views.account_change_confirm,
        name="clinic_account_change_confirm",
    ),
    path(
        "klinikadministration/kontoandring/<int:change_pk>/avvisa/",
        views.account_change_reject,
        name="clinic_account_change_reject",
    ),
    path(
        "klinikadministration/kontoandring/<int:change_pk>/dra-tillbaka/",
        views.account_change_withdraw,
        name="clinic_account_change_withdraw",
    ),
]

public_patterns = [
    path("inbjudningar/", views.invitations, name="invitations"),
]

region_patterns = [
    path("organisationer/", organisation_views.region_organisations, name="region_organisations"),
    path(
        "organisationer/<int:organisation_pk>/",
        organisation_views.region_organisation,
        name="region_organisation",
    ),
    path(
        "organisationer/<int:organisation_pk>/anvandare/<int:organisation_membership_pk>/ta-bort/",
        organisation_views.region_organisation_member_remove,
        name="region_organisation_member_remove",
    ),
    path("kliniker/", views.region_clinics, name="region_clinics"),
    path("regler/tvastegsverifiering/", views.region_two_factor, name="region_two_factor"),
    path("kliniker/<str:clinic_number>/", views.region_clinic_detail, name="region_clinic_detail"),
    path(
        "kontoandringar/<int:change_pk>/bekrafta/",
        views.region_account_change_confirm,
        name="region_account_change_confirm",
    ),
    path(
        "kontoandringar/<int:change_pk>/avvisa/",
        views.region_account_change_reject,
        name="region_account_change_reject",
    ),
]
