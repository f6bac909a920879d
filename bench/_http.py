"""What the HTTP benchmarks share: a free port, gunicorn started and stopped as a process group, percentiles.

bench/api.py (the journal-system API) and bench/scale.py (every page at national scale) both start the real server
here, with the settings of the environment they prepared (DJANGO_SETTINGS_MODULE, DATABASE_URL, DEBUG off).
"""

from __future__ import annotations

import http.client
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def production_environment() -> dict[str, str]:
    """The environment of a server as deployed (portal.settings.production: connections kept 60 s, JSON logs,
    hashed static files), on loopback: a throwaway secret key, the bench's host allowed, static files collected
    into var/bench/static. Its clients must say they came through the TLS proxy (X-Forwarded-Proto: https), as
    the proxy does, or every page answers with a redirect to https."""
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings.production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_STATIC_ROOT": str(BASE_DIR / "var" / "bench" / "static"),
    }
    environment.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
        cwd=BASE_DIR,
        env=environment,
        check=True,
    )
    return environment


# As the image starts gunicorn (Dockerfile): its config, workers recycled after 1000-1200 requests.
IMAGE_ARGS = ["--config", "deploy/gunicorn.conf.py", "--max-requests", "1000", "--max-requests-jitter", "200"]


def start_server(
    workers: int,
    extra_args: list[str] | None = None,
    ready_path: str = "/healthz",
    log: Path | None = None,
    environment: dict[str, str] | None = None,
) -> tuple[subprocess.Popen, int]:
    """gunicorn with `workers` sync workers on a free port of 127.0.0.1 and the image's options (IMAGE_ARGS, then
    `extra_args`), once `ready_path` answers 200; in `environment` (default: this process's); its output into
    `log` when given."""
    port = free_port()
    output = open(log, "ab") if log else None  # noqa: SIM115 (the server's, for its life)
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "portal.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--keep-alive",
            "30",
            "--log-level",
            "warning",
            *IMAGE_ARGS,
            *(extra_args or []),
        ],
        cwd=BASE_DIR,
        env={**(environment or os.environ), "DJANGO_LOG_LEVEL": "WARNING", "LOG_LEVEL": "WARNING"},
        start_new_session=True,
        stdout=output,
        stderr=output,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            connection.request("GET", ready_path)
            if connection.getresponse().status == 200:
                return server, port
        except OSError:
            pass
        if time.monotonic() > deadline or server.poll() is not None:
            stop_server(server)
            sys.exit("the server did not start")
        time.sleep(0.2)


def stop_server(server: subprocess.Popen) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)


def percentiles(samples: list[float]) -> dict:
    """p50, p95, p99 and the largest of `samples` (inclusive quantiles: one sample is its own percentiles)."""
    ordered = sorted(samples)
    if len(ordered) == 1:
        value = ordered[0]
        return {"p50": value, "p95": value, "p99": value, "max": value}
    cut = statistics.quantiles(ordered, n=100, method="inclusive")
    return {"p50": cut[49], "p95": cut[94], "p99": cut[98], "max": ordered[-1]}
