"""Klinikadministration; the region's list of clinics. The clinic's start page is billing's (billing/urls.py)."""

from django.urls import path

from . import organisation_views, region_views, termination_views, views

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
    path("uppsagning/", termination_views.termination, name="clinic_termination"),
    path("uppsagning/aterkalla/", termination_views.termination_withdraw, name="clinic_termination_withdraw"),
    path("lamna-kliniken/", termination_views.leave, name="clinic_leave"),
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
    path("kliniker/ny/", region_views.clinic_new, name="region_clinic_new"),
    path("kliniker/<str:clinic_number>/andra/", region_views.clinic_edit, name="region_clinic_edit"),
    path("personer/", region_views.people, name="region_people"),
    path("personer/ny/", region_views.person_new, name="region_person_new"),
    path("personer/<int:region_membership_pk>/roll/", region_views.person_role, name="region_person_role"),
    path("personer/<int:region_membership_pk>/ta-bort/", region_views.person_remove, name="region_person_remove"),
    path("regler/", region_views.rules, name="region_rules"),
    path("regler/andra/", region_views.rules_edit, name="region_rules_edit"),
    path("regler/<int:rules_pk>/ta-bort/", region_views.rules_withdraw, name="region_rules_withdraw"),
    path("regler/vardmodeller/ny/", region_views.care_model_new, name="region_care_model_new"),
    path("regler/vardmodeller/<int:care_model_pk>/", region_views.care_model_edit, name="region_care_model_edit"),
    path("regler/patientkategorier/ny/", region_views.patient_category_new, name="region_patient_category_new"),
    path(
        "regler/patientkategorier/<int:category_pk>/",
        region_views.patient_category_edit,
        name="region_patient_category_edit",
    ),
    path("regler/tvastegsverifiering/", views.region_two_factor, name="region_two_factor"),
    path("kliniker/<str:clinic_number>/", views.region_clinic_detail, name="region_clinic_detail"),
    path(
        "kliniker/<str:clinic_number>/uppsagning/",
        termination_views.region_termination,
        name="region_clinic_termination",
    ),
    path(
        "kliniker/<str:clinic_number>/uppsagning/aterkalla/",
        termination_views.region_termination_withdraw,
        name="region_clinic_termination_withdraw",
    ),
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
