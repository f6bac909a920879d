"""gunicorn's settings beside its command line (docker-compose.yml, Dockerfile): Prometheus' shared metrics directory
for the web server's worker processes (portal/metrics.py)."""

import os
import shutil


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
