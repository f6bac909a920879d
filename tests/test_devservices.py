"""`make run`'s supervisor: it serves the portal with worker and beat, and Ctrl-C leaves nothing running."""

import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import psutil
import pytest

from .waiting import wait_until

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _processes_using(var_dir: Path, supervisor: psutil.Process) -> set[int]:
    """Every process the supervisor started: its descendants and the embedded PostgreSQL (own session)."""
    pids = {child.pid for child in supervisor.children(recursive=True)}
    for process in psutil.process_iter(["pid", "cmdline"]):
        if any(str(var_dir) in part for part in process.info["cmdline"] or []):
            pids.add(process.info["pid"])
    pids.discard(supervisor.pid)
    return pids


@pytest.fixture
def var_dir():
    # A short path of its own: unix socket paths must stay under 108 bytes.
    import tempfile

    with tempfile.TemporaryDirectory(prefix="tp-") as directory:
        yield Path(directory)


def test_serve_starts_everything_and_ctrl_c_stops_everything(var_dir):
    port = _free_port()
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in {"DATABASE_URL", "REDIS_URL", "TANDPORTAL_REQUIRE_SERVICES", "DJANGO_SETTINGS_MODULE"}
    }
    env["TANDPORTAL_VAR_DIR"] = str(var_dir)
    log = var_dir / "serve.log"
    with log.open("w") as output:
        supervisor = subprocess.Popen(
            [sys.executable, "-m", "portal.devservices", "serve", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, as a terminal's Ctrl-C would address
        )
    try:
        wait_until(lambda: _healthy(f"http://127.0.0.1:{port}/healthz"), timeout=120, what="the portal to serve")
        wait_until(lambda: "celery@" in log.read_text() and "ready" in log.read_text(), timeout=60, what="worker")
        started = _processes_using(var_dir, psutil.Process(supervisor.pid))
        printed = log.read_text()
        assert f"http://127.0.0.1:{port}/" in printed
        assert "fakturerare@demo.test" in printed and "tandvard-demo" in printed
        assert len(started) >= 4, f"web, worker, beat, postgres and redis expected, found {started}"

        os.killpg(supervisor.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
        assert supervisor.wait(timeout=60) == 0
        wait_until(
            lambda: not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie" for pid in started),
            timeout=30,
            what="every started process to stop",
        )
    finally:
        if supervisor.poll() is None:
            os.killpg(supervisor.pid, signal.SIGKILL)
        for process in psutil.process_iter(["pid", "cmdline"]):
            if any(str(var_dir) in part for part in process.info["cmdline"] or []):
                process.kill()
