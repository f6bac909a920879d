"""Payout pages under /region/<region_code>/ and the clinic's under /klinik/<clinic_pk>/ (added in portal/urls.py)."""

from django.urls import path

from . import views

region_patterns = [
    path("utbetalningar/", views.payout_run_list, name="payout_run_list"),
    path("utbetalningar/ny/", views.payout_run_new, name="payout_run_new"),
    path(
        "utbetalningar/forhandsgranskning/<int:preview_pk>/", views.payout_preview_detail, name="payout_preview_detail"
    ),
    path(
        "utbetalningar/forhandsgranskning/<int:preview_pk>/status/",
        views.payout_preview_status,
        name="payout_preview_status",
    ),
    path("utbetalningar/fyra-ogon/", views.payout_second_confirmation, name="payout_second_confirmation"),
    path("utbetalningar/<int:run_pk>/", views.payout_run_detail, name="payout_run_detail"),
    path("utbetalningar/<int:run_pk>/status/", views.payout_run_status, name="payout_run_status"),
    path("utbetalningar/<int:run_pk>/bekrafta/", views.payout_run_confirm, name="payout_run_confirm"),
    path("utbetalningar/<int:run_pk>/makulera/", views.payout_run_cancel, name="payout_run_cancel"),
    path("utbetalningar/<int:run_pk>/betalningsfil.xml", views.payout_run_file, name="payout_run_file"),
    path("utbetalningar/<int:run_pk>/besked/<int:payment_pk>.pdf", views.payout_notice_pdf, name="payout_notice_pdf"),
    path(
        "utbetalningar/<int:run_pk>/besked/<int:payment_pk>.xlsx",
        views.payout_notice_xlsx,
        name="payout_notice_xlsx",
    ),
    path("aterbetalningar/", views.repayment_list, name="repayment_list"),
    path("aterbetalningar/<int:repayment_pk>/mottagen/", views.repayment_receive, name="repayment_receive"),
]

clinic_patterns = [
    path("utbetalningsbesked/", views.clinic_payout_list, name="clinic_payout_list"),
    path("utbetalningsbesked/<int:payment_pk>.pdf", views.clinic_payout_notice_pdf, name="clinic_payout_notice_pdf"),
    path("utbetalningsbesked/<int:payment_pk>.xlsx", views.clinic_payout_notice_xlsx, name="clinic_payout_notice_xlsx"),
]
