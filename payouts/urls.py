"""Payout pages under /region/<region_code>/ (portal/urls.py adds them to the region's patterns)."""

from django.urls import path

from . import views

region_patterns = [
    path("utbetalningar/", views.payout_run_list, name="payout_run_list"),
    path("utbetalningar/ny/", views.payout_run_new, name="payout_run_new"),
    path("utbetalningar/<int:run_pk>/", views.payout_run_detail, name="payout_run_detail"),
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
