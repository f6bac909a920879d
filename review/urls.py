"""The review's URLs: the region's (under /region/<code>/rakningar/) and the clinic's answer (under Era fakturor)."""

from django.urls import path

from . import clinic_views, views

region_patterns = [
    path("rakningar/", views.claim_list, name="review_claim_list"),
    path("rakningar/<int:claim_pk>/", views.claim_detail, name="review_claim_detail"),
    path("rakningar/<int:claim_pk>/godkann/", views.claim_approve, name="review_claim_approve"),
    path("rakningar/<int:claim_pk>/fraga/", views.claim_question, name="review_claim_question"),
    path("rakningar/<int:claim_pk>/makulera/", views.claim_void, name="review_claim_void"),
    path("rakningar/fakturor/<int:invoice_pk>/makulera/", views.invoice_void, name="review_invoice_void"),
    path("rakningar/regler/", views.rule_list, name="review_rule_list"),
    path("rakningar/regler/ny/", views.rule_new, name="review_rule_new"),
    path("rakningar/regler/<int:rule_pk>/avaktivera/", views.rule_deactivate, name="review_rule_deactivate"),
]

clinic_patterns = [
    path(
        "fakturor/fragor/<int:question_pk>/svara/",
        clinic_views.question_answer,
        name="review_question_answer",
    ),
]
