"""The tariffs (ersättningslistor): the clinic's current list and its changes, the region's versions and import."""

from django.urls import path

from . import tariff_views

clinic_patterns = [
    path("ersattningslista/", tariff_views.clinic_tariff, name="clinic_tariff"),
    path(
        "ersattningslista/<int:version_pk>/andringar/",
        tariff_views.clinic_tariff_changes,
        name="clinic_tariff_changes",
    ),
]

region_patterns = [
    path("ersattningslistor/", tariff_views.tariff_list, name="tariff_list"),
    path("ersattningslistor/import/", tariff_views.tariff_import, name="tariff_import"),
    path("ersattningslistor/<int:version_pk>/", tariff_views.tariff_detail, name="tariff_detail"),
]
