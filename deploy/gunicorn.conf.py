"""gunicorn's settings beside its command line (docker-compose.yml, Dockerfile): Prometheus' shared metrics directory
for the web server's worker processes (portal/metrics.py), and the workers' garbage collector."""

import gc
import os
import shutil

# Python's cycle collector with its defaults (700, 10, 10) ran ~10 times a request and, every ~10 requests, a full
# collection through the ~200 000 objects of Django and the portal, which live as long as the worker: ~6 ms of CPU
# per request on average, on a budget of ~50 (docs/benchmarks.md, h-b's second round). Those objects are set aside
# (gc.freeze: never scanned again) and the young generation collected after 20 000 new objects instead of 700; a
# request's objects are nearly all freed by reference counting before any collection sees them.
GC_THRESHOLDS = (20_000, 20, 20)


def on_starting(server):
    """Before any worker starts: an empty directory, so that no figure of a process of an earlier start is summed."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        shutil.rmtree(directory, ignore_errors=True)
        os.makedirs(directory, exist_ok=True)


def child_exit(server, worker):
    """A worker recycled (--max-requests) or killed: its gauges leave the sums; its counters stay counted."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def post_worker_init(worker):
    """The application is loaded in this worker: what exists now lives as long as the worker (GC_THRESHOLDS above)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
