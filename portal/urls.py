"""Every URL of the portal. Each view declares who may open it (portal.access)."""

from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.i18n import set_language

from claims import doc_views, file_views, invoice_views, register_views, tariff_views
from clinics import views as clinic_views
from eligibility import region_views as eligibility_region_views
from eligibility import views as eligibility_views
from payouts import urls as payout_urls
from reports import urls as reports_urls
from review import urls as review_urls

from . import access, access_log, views

password_set = access.public(
    auth_views.PasswordResetConfirmView.as_view(
        template_name="portal/password_set.html", post_reset_login=True, success_url="/"
    )
)

clinic_patterns = [
    path("", clinic_views.clinic_start, name="clinic_start"),
    path("sok-person/", eligibility_views.person_search, name="person_search"),
    path("sok-person/frikort/", eligibility_views.free_card_register, name="free_card_register"),
    path("registrera-rakning/", register_views.claim_register, name="claim_register"),
    path("registrera-rakning/kontroll/", register_views.claim_register_validate, name="claim_register_validate"),
    path(
        "registrera-rakning/inskickad/<int:claim_pk>/", register_views.claim_register_done, name="claim_register_done"
    ),
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
    path("forhandsbedomningar/", eligibility_views.prior_assessment_list, name="prior_assessment_list"),
    path("forhandsbedomningar/ny/", eligibility_views.prior_assessment_new, name="prior_assessment_new"),
    path(
        "forhandsbedomningar/<int:assessment_pk>/",
        eligibility_views.prior_assessment_detail,
        name="prior_assessment_detail",
    ),
    path(
        "forhandsbedomningar/<int:assessment_pk>/komplettera/",
        eligibility_views.prior_assessment_answer,
        name="prior_assessment_answer",
    ),
    path(
        "forhandsbedomningar/<int:assessment_pk>/bilagor/<int:attachment_pk>/",
        eligibility_views.prior_assessment_attachment,
        name="prior_assessment_attachment",
    ),
    path("fakturor/", invoice_views.invoice_list, {"tab": "received"}, name="invoice_list"),
    path("fakturor/utbetalda/", invoice_views.invoice_list, {"tab": "paid"}, name="invoice_list_paid"),
    path("fakturor/kreditfakturor/", invoice_views.invoice_list, {"tab": "credits"}, name="invoice_list_credits"),
    path("fakturor/makulerade/", invoice_views.invoice_list, {"tab": "voided"}, name="invoice_list_voided"),
    path("fakturor/<int:invoice_pk>/radera/", invoice_views.invoice_delete, name="invoice_delete"),
    path("fakturor/rakningar/<int:claim_pk>/", invoice_views.invoice_claim_detail, name="invoice_claim_detail"),
    path("fakturor/rakningar/<int:claim_pk>/radera/", invoice_views.invoice_claim_delete, name="invoice_claim_delete"),
    path(
        "fakturor/rakningar/<int:claim_pk>/kreditera/", invoice_views.invoice_claim_credit, name="invoice_claim_credit"
    ),
    path("ersattningslista/", tariff_views.clinic_tariff, name="clinic_tariff"),
    path(
        "ersattningslista/<int:version_pk>/andringar/",
        tariff_views.clinic_tariff_changes,
        name="clinic_tariff_changes",
    ),
    path("klinikadministration/", clinic_views.administration, name="clinic_administration"),
    path("klinikadministration/uppgifter/", clinic_views.details_edit, name="clinic_details_edit"),
    path("klinikadministration/anvandare/ny/", clinic_views.user_new, name="clinic_user_new"),
    path("klinikadministration/anvandare/<int:membership_pk>/roll/", clinic_views.user_role, name="clinic_user_role"),
    path(
        "klinikadministration/anvandare/<int:membership_pk>/ta-bort/",
        clinic_views.user_remove,
        name="clinic_user_remove",
    ),
]

region_patterns = [
    path("kliniker/", clinic_views.region_clinics, name="region_clinics"),
    path("atkomstlogg/", access_log.access_log_review, name="region_access_log"),
    path("intyg/", eligibility_region_views.certificate_search, name="certificate_search"),
    path("intyg/nytt/", eligibility_region_views.certificate_new, name="certificate_new"),
    path("intyg/import/", eligibility_region_views.certificate_import, name="certificate_import"),
    path(
        "intyg/import/<int:import_pk>/",
        eligibility_region_views.certificate_import_detail,
        name="certificate_import_detail",
    ),
    path(
        "intyg/import/<int:import_pk>/status/",
        eligibility_region_views.certificate_import_status,
        name="certificate_import_status",
    ),
    path("intyg/<int:certificate_pk>/avsluta/", eligibility_region_views.certificate_end, name="certificate_end"),
    path(
        "intyg/<int:certificate_pk>/aterkalla/", eligibility_region_views.certificate_revoke, name="certificate_revoke"
    ),
    path("ersattningslistor/", tariff_views.tariff_list, name="tariff_list"),
    path("ersattningslistor/import/", tariff_views.tariff_import, name="tariff_import"),
    path("ersattningslistor/<int:version_pk>/", tariff_views.tariff_detail, name="tariff_detail"),
    path("forhandsbedomningar/", eligibility_region_views.assessment_queue, name="region_assessment_queue"),
    path(
        "forhandsbedomningar/<int:assessment_pk>/",
        eligibility_region_views.assessment_detail,
        name="region_assessment_detail",
    ),
    path(
        "forhandsbedomningar/<int:assessment_pk>/paborja/",
        eligibility_region_views.assessment_start_review,
        name="region_assessment_start_review",
    ),
    path(
        "forhandsbedomningar/<int:assessment_pk>/beslut/",
        eligibility_region_views.assessment_decide,
        name="region_assessment_decide",
    ),
    path(
        "forhandsbedomningar/<int:assessment_pk>/komplettering/",
        eligibility_region_views.assessment_request_information,
        name="region_assessment_request_information",
    ),
    path(
        "forhandsbedomningar/<int:assessment_pk>/bilagor/<int:attachment_pk>/",
        eligibility_region_views.assessment_attachment,
        name="region_assessment_attachment",
    ),
]

region_patterns += payout_urls.region_patterns
clinic_patterns += payout_urls.clinic_patterns
region_patterns += reports_urls.region_patterns
clinic_patterns += review_urls.clinic_patterns
region_patterns += review_urls.region_patterns

urlpatterns = [
    path("", views.home, name="home"),
    path("logga-in/", views.login, name="login"),
    path("logga-ut/", views.logout, name="logout"),
    path("valj-losenord/<uidb64>/<token>/", password_set, name="password_set"),
    path("valj-klinik/", views.choose, name="choose"),
    path("support/", views.support, name="support"),
    path("healthz", views.healthz, name="healthz"),
    path("dokumentation/fakturafil/", doc_views.invoice_file_format, name="invoice_file_format"),
    path("dokumentation/fakturafil/fakturafil-v1.xsd", doc_views.invoice_file_schema, name="invoice_file_schema"),
    path("dokumentation/fakturafil/exempel.xml", doc_views.invoice_file_example, name="invoice_file_example"),
    path("servicefonster/", views.service_windows, name="service_windows"),
    path("servicefonster/<int:window_pk>/ta-bort/", views.service_window_delete, name="service_window_delete"),
    path("klinik/<int:clinic_pk>/", include(clinic_patterns)),
    path("region/<slug:region_code>/", include(region_patterns)),
    path("sprak/", access.public(set_language), name="set_language"),
]
