"""What /metrics reads of the payout runs at each scrape (portal.metrics): runs by state, the claims and the net
amount of the runs not yet paid, and the runs that wait for a second coordinator or for their file."""

from collections.abc import Iterable

from django.db.models import Count, Q, Sum
from prometheus_client.core import GaugeMetricFamily, Metric

from portal.metrics import scrape_collector

from .models import PayoutRun, PayoutRunState

OPEN = (PayoutRunState.AWAITING_SECOND, PayoutRunState.PLANNED)


@scrape_collector
def payout_runs() -> Iterable[Metric]:
    runs = GaugeMetricFamily("tandportal_payout_runs", "Payout runs not yet paid, by state.", labels=["state"])
    claims = GaugeMetricFamily(
        "tandportal_payout_run_claims", "Claims in the payout runs not yet paid, by state.", labels=["state"]
    )
    net = GaugeMetricFamily(
        "tandportal_payout_run_net_ore", "Net amount (öre) of the payout runs not yet paid, by state.", labels=["state"]
    )
    waiting_file = GaugeMetricFamily(
        "tandportal_payout_runs_file_not_downloaded", "Planned payout runs whose payment file nobody downloaded yet."
    )
    rows = {
        row["state"]: row
        for row in PayoutRun.objects.filter(state__in=OPEN)
        .values("state")
        .annotate(
            n=Count("id"),
            claims=Sum("claim_count"),
            net=Sum("net_total"),
            no_file=Count("id", filter=Q(file_downloaded_at__isnull=True)),
        )
    }
    for state in OPEN:
        row = rows.get(state, {})
        runs.add_metric([state], row.get("n", 0))
        claims.add_metric([state], row.get("claims") or 0)
        net.add_metric([state], row.get("net") or 0)
    waiting_file.add_metric([], rows.get(PayoutRunState.PLANNED, {}).get("no_file", 0))
    yield from (runs, claims, net, waiting_file)
