"""Dokument for the clinics; the region's information to its clinics."""

from django.urls import path

from . import views

clinic_patterns = [
    path("dokument/", views.documents, name="regioninfo_documents"),
    path("dokument/<int:publication_pk>/", views.document, name="regioninfo_document"),
    path("dokument/<int:publication_pk>/fil/", views.document_file, name="regioninfo_document_file"),
]

region_patterns = [
    path("information/", views.region_list, name="regioninfo_region_list"),
    path("information/ny/", views.region_new, name="regioninfo_region_new"),
    path("information/<int:publication_pk>/", views.region_detail, name="regioninfo_region_detail"),
    path("information/<int:publication_pk>/fil/", views.region_file, name="regioninfo_region_file"),
    path("information/<int:publication_pk>/avpublicera/", views.region_withdraw, name="regioninfo_region_withdraw"),
]
