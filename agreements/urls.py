"""Avtal: the clinic's (under /klinik/<nr>/) and the region's (under /region/<kod>/)."""

from django.urls import path

from . import views

clinic_patterns = [
    path("avtal/", views.clinic_agreements, name="clinic_agreements"),
    path("avtal/<int:agreement_pk>/signera/", views.clinic_agreement_sign, name="clinic_agreement_sign"),
    path("avtal/<int:agreement_pk>/avtal.pdf", views.clinic_agreement_file, name="clinic_agreement_file"),
]

region_patterns = [
    path("avtal/", views.region_agreements, name="region_agreements"),
    path("avtal/ny/", views.region_agreement_new, name="region_agreement_new"),
    path("avtal/<int:agreement_pk>/", views.region_agreement, name="region_agreement"),
    path("avtal/<int:agreement_pk>/avtal.pdf", views.region_agreement_file, name="region_agreement_file"),
]
