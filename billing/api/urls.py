"""/api/v1/: the resources, the OpenAPI document and its browsable documentation (Swagger UI, served by us)."""

from django.urls import path, register_converter
from django.views.decorators.cache import never_cache
from drf_spectacular.views import SpectacularJSONAPIView, SpectacularSwaggerSplitView

from portal.access import api_key, public

from . import invoices, schema, views  # noqa: F401 (schema: registers how the document describes the key)


class SwaggerView(SpectacularSwaggerSplitView):
    """Swagger UI from drf-spectacular-sidecar's static files; its start script is a file of its own (our CSP
    allows no inline script), and the page has no inline style."""

    template_name = "billing/api/swagger_ui.html"


class SignedYear:
    """A year in a path, minus sign and all: a year out of range is the view's 404 in problem+json, not the
    router's HTML page (as `int` would answer /tariffs/-137)."""

    regex = "-?[0-9]+"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)


register_converter(SignedYear, "year")


class SignedId(SignedYear):
    """An object's id in a path, as the year: -5 or an id too big for the database is the view's 404 problem."""


register_converter(SignedId, "id")

urlpatterns = [
    path("eligibility-checks", api_key(views.EligibilityCheckView.as_view()), name="api_eligibility_check"),
    path("tariffs/current", api_key(views.TariffCurrentView.as_view()), name="api_tariff_current"),
    path("tariffs/<year:year>", api_key(views.TariffYearView.as_view()), name="api_tariff_year"),
    path("invoices", api_key(invoices.InvoiceListView.as_view()), name="api_invoices"),
    path("invoices/<id:invoice_pk>", api_key(invoices.InvoiceDetailView.as_view()), name="api_invoice"),
    path("payout-notices", api_key(invoices.NoticeListView.as_view()), name="api_payout_notices"),
    path("payout-notices/<id:payment_pk>", api_key(invoices.NoticeDetailView.as_view()), name="api_payout_notice"),
    path(
        "payout-notices/<id:payment_pk>.pdf",
        api_key(invoices.NoticePdfView.as_view()),
        name="api_payout_notice_pdf",
    ),
    path("openapi.json", public(never_cache(SpectacularJSONAPIView.as_view())), name="api_schema"),
    path("docs/", public(never_cache(SwaggerView.as_view(url_name="api_schema"))), name="api_docs"),
]
