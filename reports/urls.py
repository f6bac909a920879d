"""The coordinator's start page and its exports, under /region/<region_code>/."""

from django.urls import path

from . import views

region_patterns = [
    path("", views.region_start, name="region_start"),
    path("rapporter/belopp-per-manad.xlsx", views.amounts_by_month_excel, name="report_amounts_by_month_excel"),
    path("rapporter/belopp-per-klinik.xlsx", views.amounts_by_clinic_excel, name="report_amounts_by_clinic_excel"),
]
