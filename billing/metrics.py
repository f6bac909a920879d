"""What /metrics reads of the invoice files at each scrape (portal.metrics): how many wait, are checked or sent
now, how far their checks have come, and how long the oldest has waited (a file whose time stands still has lost
its worker)."""

from collections.abc import Iterable

from django.db.models import Count, Min, Sum
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily, Metric

from claims.models import InvoiceFileState, InvoiceFileUpload
from portal.metrics import scrape_collector

BUSY = (InvoiceFileState.QUEUED, InvoiceFileState.RUNNING, InvoiceFileState.SENDING)


@scrape_collector
def invoice_files() -> Iterable[Metric]:
    files = GaugeMetricFamily(
        "tandportal_invoice_files", "Invoice files waiting, being checked or being sent now.", labels=["state"]
    )
    claims = GaugeMetricFamily(
        "tandportal_invoice_file_claims",
        "Claims in the files being checked now: in the files, and checked so far (progress).",
        labels=["count"],
    )
    oldest = GaugeMetricFamily(
        "tandportal_invoice_file_oldest_seconds",
        "Seconds since the least recently moved busy file last moved, by state (0 when none).",
        labels=["state"],
    )
    # The partial index invoicefile_busy_idx holds only these rows: no scan of every file ever uploaded.
    rows = {
        row["state"]: row
        for row in InvoiceFileUpload.objects.filter(state__in=BUSY)
        .values("state")
        .annotate(n=Count("id"), claims=Sum("claim_count"), processed=Sum("processed_count"), moved=Min("updated_at"))
    }
    now = timezone.now()
    for state in BUSY:
        row = rows.get(state, {})
        files.add_metric([state], row.get("n", 0))
        oldest.add_metric([state], (now - row["moved"]).total_seconds() if row.get("moved") else 0)
    running = rows.get(InvoiceFileState.RUNNING, {})
    claims.add_metric(["total"], running.get("claims") or 0)
    claims.add_metric(["checked"], running.get("processed") or 0)
    yield from (files, claims, oldest)
