"""The clinic's billing desk: Sök person, Registrera räkning, invoice files and Era fakturor (under /klinik/<nr>/),
and the invoice file's public documentation."""

from django.urls import path

from . import (
    doc_views,
    file_views,
    invoice_views,
    organisation_views,
    person_views,
    prior_assessment_views,
    register_views,
    start_views,
)

clinic_patterns = [
    path("", start_views.clinic_start, name="clinic_start"),
    path("sok-person/", person_views.person_search, name="person_search"),
    path("sok-person/frikort/", person_views.free_card_register, name="free_card_register"),
    path("registrera-rakning/", register_views.claim_register, name="claim_register"),
    path("registrera-rakning/kontroll/", register_views.claim_register_validate, name="claim_register_validate"),
    path(
        "registrera-rakning/inskickad/<int:claim_pk>/", register_views.claim_register_done, name="claim_register_done"
    ),
    path("forhandsbedomningar/ny/", prior_assessment_views.prior_assessment_new, name="prior_assessment_new"),
    path("fakturafil/", file_views.invoice_file_upload, name="invoice_file_upload"),
    path("fakturafil/<int:upload_pk>/", file_views.invoice_file_detail, name="invoice_file_detail"),
    path("fakturafil/<int:upload_pk>/status/", file_views.invoice_file_status, name="invoice_file_status"),
    path(
        "fakturafil/<int:upload_pk>/fellista.xlsx",
        file_views.invoice_file_errors_excel,
        name="invoice_file_errors_excel",
    ),
    path("fakturafil/<int:upload_pk>/ladda-upp/", file_views.invoice_file_send, name="invoice_file_send"),
    path("fakturafil/<int:upload_pk>/tillbaka/", file_views.invoice_file_discard, name="invoice_file_discard"),
    path("fakturor/", invoice_views.invoice_list, {"tab": "received"}, name="invoice_list"),
    path("fakturor/utbetalda/", invoice_views.invoice_list, {"tab": "paid"}, name="invoice_list_paid"),
    path("fakturor/kreditfakturor/", invoice_views.invoice_list, {"tab": "credits"}, name="invoice_list_credits"),
    path("fakturor/makulerade/", invoice_views.invoice_list, {"tab": "voided"}, name="invoice_list_voided"),
    path("fakturor/<int:invoice_pk>/", invoice_views.invoice_detail, name="invoice_detail"),
    path("fakturor/<int:invoice_pk>/rakningar/", invoice_views.invoice_claims, name="invoice_claims"),
    path("fakturor/<int:invoice_pk>/radera/", invoice_views.invoice_delete, name="invoice_delete"),
    path("fakturor/rakningar/<int:claim_pk>/", invoice_views.invoice_claim_detail, name="invoice_claim_detail"),
    path("fakturor/rakningar/<int:claim_pk>/radera/", invoice_views.invoice_claim_delete, name="invoice_claim_delete"),
    path(
        "fakturor/rakningar/<int:claim_pk>/kreditera/", invoice_views.invoice_claim_credit, name="invoice_claim_credit"
    ),
]

public_patterns = [
    path("dokumentation/fakturafil/", doc_views.invoice_file_format, name="invoice_file_format"),
    path("dokumentation/api/", doc_views.api_documentation, name="api_documentation"),
    path("dokumentation/fakturafil/fakturafil-v1.xsd", doc_views.invoice_file_schema, name="invoice_file_schema"),
    path("dokumentation/fakturafil/exempel.xml", doc_views.invoice_file_example, name="invoice_file_example"),
]

# An umbrella organisation's pages, under /organisation/<organisation_pk>/: its clinics together.
organisation_patterns = [
    path("", organisation_views.organisation_start, name="organisation_start"),
    path(
        "fakturor/", organisation_views.organisation_invoice_list, {"tab": "received"}, name="organisation_invoice_list"
    ),
    path(
        "fakturor/utbetalda/",
        organisation_views.organisation_invoice_list,
        {"tab": "paid"},
        name="organisation_invoice_list_paid",
    ),
    path(
        "fakturor/kreditfakturor/",
        organisation_views.organisation_invoice_list,
        {"tab": "credits"},
        name="organisation_invoice_list_credits",
    ),
    path(
        "fakturor/makulerade/",
        organisation_views.organisation_invoice_list,
        {"tab": "voided"},
        name="organisation_invoice_list_voided",
    ),
    path("utbetalningsbesked/", organisation_views.organisation_payout_list, name="organisation_payout_list"),
]
