"""Prior assessments (the clinic's requests and the region's decisions) and the region's certificates."""

from django.urls import path

from . import region_views, views

clinic_patterns = [
    path("forhandsbedomningar/", views.prior_assessment_list, name="prior_assessment_list"),
    path(
        "forhandsbedomningar/<int:assessment_pk>/",
        views.prior_assessment_detail,
        name="prior_assessment_detail",
    ),
    path(
        "forhandsbedomningar/<int:assessment_pk>/komplettera/",
        views.prior_assessment_answer,
        name="prior_assessment_answer",
    ),
    path(
        "forhandsbedomningar/<int:assessment_pk>/bilagor/<int:attachment_pk>/",
        views.prior_assessment_attachment,
        name="prior_assessment_attachment",
    ),
]

region_patterns = [
    path("intyg/", region_views.certificate_search, name="certificate_search"),
    path("intyg/nytt/", region_views.certificate_new, name="certificate_new"),
    path("intyg/import/", region_views.certificate_import, name="certificate_import"),
    path("intyg/import/<int:import_pk>/", region_views.certificate_import_detail, name="certificate_import_detail"),
    path(
        "intyg/import/<int:import_pk>/status/",
        region_views.certificate_import_status,
        name="certificate_import_status",
    ),
    path("intyg/<int:certificate_pk>/avsluta/", region_views.certificate_end, name="certificate_end"),
    path("intyg/<int:certificate_pk>/aterkalla/", region_views.certificate_revoke, name="certificate_revoke"),
    path("frikort/<int:free_card_pk>/avsluta/", region_views.free_card_end, name="free_card_end"),
    path("frikort/<int:free_card_pk>/ratta/", region_views.free_card_correct, name="free_card_correct"),
    path("forhandsbedomningar/", region_views.assessment_queue, name="region_assessment_queue"),
    path(
        "forhandsbedomningar/<int:assessment_pk>/",
        region_views.assessment_detail,
        name="region_assessment_detail",
    ),
    path(
        "forhandsbedomningar/<int:assessment_pk>/paborja/",
        region_views.assessment_start_review,
        name="region_assessment_start_review",
    ),
    path(
        "forhandsbedomningar/<int:assessment_pk>/beslut/",
        region_views.assessment_decide,
        name="region_assessment_decide",
    ),
    path(
        "forhandsbedomningar/<int:assessment_pk>/komplettering/",
        region_views.assessment_request_information,
        name="region_assessment_request_information",
    ),
    path(
        "forhandsbedomningar/<int:assessment_pk>/bilagor/<int:attachment_pk>/",
        region_views.assessment_attachment,
        name="region_assessment_attachment",
    ),
]
