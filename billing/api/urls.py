"""/api/v1/: the resources, the OpenAPI document and its browsable documentation (Swagger UI, served by us)."""

from django.urls import path, register_converter
from django.views.decorators.cache import never_cache
from drf_spectacular.views import SpectacularJSONAPIView, SpectacularSwaggerSplitView

from portal.access import api_key, public

from . import claims, invoice_files, invoices, prior_assessments, schema, views  # noqa: F401 (schema: registers how the document describes the key)
from .events import EventsView


class SwaggerView(SpectacularSwaggerSplitView):
    """Swagger UI from drf-spectacular-sidecar's static files; its start script is a file of its own (our CSP
    allows no inline script), and the page has no inline style."""

    template_name = "billing/api/swagger_ui.html"


class SignedInteger:
    """A year or an id in a path, minus sign and all: one out of range, or one no object can have, is the view's
    404 in problem+json, not the router's HTML page (as `int` would answer /tariffs/-137 or /claims/-1)."""

    regex = "-?[0-9]+"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)


register_converter(SignedInteger, "signed")


urlpatterns = [
    path("eligibility-checks", api_key(views.EligibilityCheckView.as_view()), name="api_eligibility_check"),
    path("tariffs/current", api_key(views.TariffCurrentView.as_view()), name="api_tariff_current"),
    path("tariffs/<signed:year>", api_key(views.TariffYearView.as_view()), name="api_tariff_year"),
    path("claims", api_key(claims.ClaimListView.as_view()), name="api_claims"),
    path("claims/<signed:claim_pk>", api_key(claims.ClaimDetailView.as_view()), name="api_claim"),
    path("claims/<signed:claim_pk>/credit", api_key(claims.ClaimCreditView.as_view()), name="api_claim_credit"),
    path("events", api_key(EventsView.as_view()), name="api_events"),
    path("invoices", api_key(invoices.InvoiceListView.as_view()), name="api_invoices"),
    path("invoices/<signed:invoice_pk>", api_key(invoices.InvoiceDetailView.as_view()), name="api_invoice"),
    path(
        "invoices/<signed:invoice_pk>/claims",
        api_key(invoices.InvoiceClaimsView.as_view()),
        name="api_invoice_claims",
    ),
    path("payout-notices", api_key(invoices.NoticeListView.as_view()), name="api_payout_notices"),
    path("payout-notices/<signed:payment_pk>", api_key(invoices.NoticeDetailView.as_view()), name="api_payout_notice"),
    path(
        "payout-notices/<signed:payment_pk>.pdf",
        api_key(invoices.NoticePdfView.as_view()),
        name="api_payout_notice_pdf",
    ),
    path("openapi.json", public(never_cache(SpectacularJSONAPIView.as_view())), name="api_schema"),
    path("docs/", public(never_cache(SwaggerView.as_view(url_name="api_schema"))), name="api_docs"),
    path("invoice-files", api_key(invoice_files.InvoiceFilesView.as_view()), name="api_invoice_files"),
    path("invoice-files/<signed:upload_pk>", api_key(invoice_files.InvoiceFileView.as_view()), name="api_invoice_file"),
    path(
        "invoice-files/<signed:upload_pk>/send",
        api_key(invoice_files.InvoiceFileSendView.as_view()),
        name="api_invoice_file_send",
    ),
    path("prior-assessments", api_key(prior_assessments.PriorAssessmentsView.as_view()), name="api_prior_assessments"),
    path(
        "prior-assessments/<signed:assessment_pk>",
        api_key(prior_assessments.PriorAssessmentView.as_view()),
        name="api_prior_assessment",
    ),
    path(
        "prior-assessments/<signed:assessment_pk>/completions",
        api_key(prior_assessments.PriorAssessmentCompletionsView.as_view()),
        name="api_prior_assessment_completions",
    ),
]
