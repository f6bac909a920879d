"""Prometheus metrics (issue 16): what to watch when the portal runs on several machines.

- Requests by view, method and status, and their durations: django-prometheus's middleware
  (`django_http_requests_total_by_view_transport_method`, `django_http_responses_total_by_status_view_method`,
  `django_http_requests_latency_seconds_by_view_method`).
- Celery tasks: `tandportal_task_duration_seconds{task,queue,outcome}` and `tandportal_task_failures_total{task}`,
  counted in the worker by Celery's signals and served by the worker on WORKER_METRICS_PORT.
- Read when scraped (web's /metrics only): `tandportal_queue_length{queue}` from Redis, and each app's own figures,
  registered from its `metrics.py` with `scrape_collector` (invoice files in billing, payout runs in payouts).

/metrics answers only a scraper that shows METRICS_TOKEN (`Authorization: Bearer …`) or comes from an address in
METRICS_ALLOWED_NETWORKS; both empty (the default) keep it closed. With several gunicorn workers (or a prefork
Celery pool) PROMETHEUS_MULTIPROC_DIR names a directory the processes share, emptied at each start.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import time
from collections.abc import Callable, Iterable

from celery import signals
from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector

from . import access
from .background import QUEUES
from .redis import redis_client

logger = logging.getLogger(__name__)

# --- Celery tasks ---------------------------------------------------------------------------------------

TASK_DURATION = Histogram(
    "tandportal_task_duration_seconds",
    "How long a Celery task ran, by task, queue and outcome (success, failure, retry).",
    ["task", "queue", "outcome"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 1800),
)
TASK_FAILURES = Counter("tandportal_task_failures", "Celery tasks that ended in an exception, by task.", ["task"])

_started: dict[str, float] = {}


def _queue_of(task) -> str:
    delivery = getattr(task.request, "delivery_info", None) or {}
    return delivery.get("routing_key") or delivery.get("queue") or "eager"


@signals.task_prerun.connect
def _task_started(task_id=None, task=None, **kwargs) -> None:
    _started[task_id] = time.monotonic()


@signals.task_postrun.connect
def _task_ended(task_id=None, task=None, state=None, **kwargs) -> None:
    started = _started.pop(task_id, None)
    if started is None or task is None:
        return
    outcome = {"SUCCESS": "success", "RETRY": "retry"}.get(state, "failure")
    TASK_DURATION.labels(task=task.name, queue=_queue_of(task), outcome=outcome).observe(time.monotonic() - started)
    if outcome == "failure":
        TASK_FAILURES.labels(task=task.name).inc()


@signals.worker_init.connect
def _serve_worker_metrics(**kwargs) -> None:
    """A worker serves its own tasks' metrics on WORKER_METRICS_PORT (0: not at all), for the scraper on the
    workers' private network; the port is never published. With PROMETHEUS_MULTIPROC_DIR (a prefork pool: the
    tasks run in child processes) the files of an earlier start's processes are removed first."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        os.makedirs(directory, exist_ok=True)
        for name in os.listdir(directory):
            if not name.endswith(f"_{os.getpid()}.db"):
                os.remove(os.path.join(directory, name))
    port = settings.WORKER_METRICS_PORT
    if port:
        from prometheus_client import start_http_server

        start_http_server(port, registry=collected_registry())
        logger.info("worker metrics on port %s", port)


@signals.worker_process_shutdown.connect
def _pool_process_ended(pid=None, **kwargs) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid or os.getpid())


# --- Read when scraped ----------------------------------------------------------------------------------

_scrape_collectors: list[Callable[[], Iterable[Metric]]] = []


def scrape_collector(collect: Callable[[], Iterable[Metric]]) -> Callable[[], Iterable[Metric]]:
    """Registers a function whose metrics are read from the database or Redis at every scrape of /metrics (an
    app's `metrics.py`, found by portal's AppConfig as audit.py is). Keep each to a query or two on an index."""
    _scrape_collectors.append(collect)
    return collect


def _redis_queue_names(queue: str) -> list[str]:
    # Kombu's Redis transport keeps a queue as a list, with one more list per priority step (name + "\x06\x16" + n).
    return [queue, *(f"{queue}\x06\x16{step}" for step in (3, 6, 9))]


@scrape_collector
def queue_lengths() -> Iterable[Metric]:
    family = GaugeMetricFamily("tandportal_queue_length", "Tasks waiting in each Celery queue.", labels=["queue"])
    client = redis_client(socket_timeout=2)
    pipeline = client.pipeline(transaction=False)
    for queue in QUEUES:
        for name in _redis_queue_names(queue):
            pipeline.llen(name)
    lengths = iter(pipeline.execute())
    for queue in QUEUES:
        family.add_metric([queue], sum(next(lengths) for _ in range(4)))
    yield family


class _ScrapeCollector:
    def collect(self) -> Iterable[Metric]:
        for collect in _scrape_collectors:
            try:
                yield from collect()
            except Exception:  # one figure that cannot be read must not hide the others
                logger.exception("metrics: %s could not be read", getattr(collect, "__name__", collect))


def collected_registry() -> CollectorRegistry:
    """The process's own metrics, or with PROMETHEUS_MULTIPROC_DIR those of every process sharing the directory."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return registry
    return REGISTRY


# --- The endpoint ---------------------------------------------------------------------------------------


def _allowed(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    given = request.META.get("HTTP_AUTHORIZATION", "")
    if token and hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        return True
    networks = settings.METRICS_ALLOWED_NETWORKS
    if networks:
        try:
            address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
        except ValueError:
            return False
        return any(address in ipaddress.ip_network(network, strict=False) for network in networks)
    return False


@access.scraper
def metrics(request: HttpRequest) -> HttpResponse:
    """For Prometheus: the requests, tasks and queues in its text format; 403 to anyone else (asked first, so
    that nobody learns even which methods it takes)."""
    if not _allowed(request):
        return HttpResponse("403", status=403, content_type="text/plain; charset=utf-8")
    if request.method != "GET":
        return HttpResponseNotAllowed(["GET"])
    scraped = CollectorRegistry(auto_describe=False)
    scraped.register(_ScrapeCollector())
    body = generate_latest(collected_registry()) + generate_latest(scraped)
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
