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

from portal import devservices

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


@pytest.mark.slow  # `make run` for real: PostgreSQL, Redis, web, worker and beat
def test_serve_starts_everything_and_ctrl_c_stops_everything(var_dir):
    port = _free_port()
    env = {
        name: value
        for name, value in os.environ.items()
        if name
        not in {"DATABASE_URL", "REDIS_URL", "TANDPORTAL_REQUIRE_SERVICES", "DJANGO_SETTINGS_MODULE", "PORTAL_BASE_URL"}
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
        # The worker's e-mails link to the server that runs, not to a default port.
        worker = next(
            process for process in map(psutil.Process, started) if {"celery", "worker"} <= {*process.cmdline()}
        )
        assert worker.environ()["PORTAL_BASE_URL"] == f"http://127.0.0.1:{port}"

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


# --- serve's start, with DATABASE_URL and REDIS_URL set and the processes replaced by fakes ----------


class FakeChild:
    """Stands in for web, worker or beat: records what it was started with, and has already exited."""

    started: list["FakeChild"]

    def __init__(self, argv, **kwargs):
        self.argv = argv
        self.environ = dict(os.environ)
        if "--schedule" in argv:
            schedule = Path(argv[argv.index("--schedule") + 1])
            self.schedule_directory_existed = schedule.parent.is_dir()
        self.returncode = 0
        FakeChild.started.append(self)

    def poll(self):
        return self.returncode

    def wait(self, timeout=None):
        return self.returncode


@pytest.fixture
def fake_serve(monkeypatch, tmp_path):
    """command_serve with its commands faked; var/ is a directory that does not exist yet."""
    monkeypatch.setattr(devservices, "VAR_DIR", tmp_path / "never-made" / "var")
    monkeypatch.setattr(devservices, "BASE_DIR", tmp_path)  # no .env unless the test writes one
    monkeypatch.setenv("DATABASE_URL", "postgres://postgres@127.0.0.1/unused")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/15")
    # Set, then removed: monkeypatch restores the variable serve exports.
    monkeypatch.setenv("PORTAL_BASE_URL", "")
    monkeypatch.delenv("PORTAL_BASE_URL")
    monkeypatch.setattr(devservices.subprocess, "call", lambda argv: 0)  # migrate, load_demo
    monkeypatch.setattr(devservices.subprocess, "Popen", FakeChild)
    monkeypatch.setattr(devservices.time, "sleep", lambda seconds: None)
    FakeChild.started = []

    def serve(host="127.0.0.1", port=8123):
        devservices.command_serve(host, port)
        return {name: child for name, child in zip(("web", "worker", "beat"), FakeChild.started, strict=True)}

    return serve


def test_serve_makes_the_var_directory_beat_writes_its_schedule_into(fake_serve):
    children = fake_serve()
    assert "beat" in children["beat"].argv
    assert children["beat"].schedule_directory_existed


@pytest.mark.parametrize(("host", "expected"), [("127.0.0.1", "http://127.0.0.1:8123"), ("::1", "http://[::1]:8123")])
def test_serve_points_e_mail_links_at_the_address_it_serves(fake_serve, host, expected):
    children = fake_serve(host=host)
    assert {name: child.environ["PORTAL_BASE_URL"] for name, child in children.items()} == dict.fromkeys(
        children, expected
    )


def test_serve_keeps_a_portal_base_url_set_in_the_environment(fake_serve, monkeypatch):
    monkeypatch.setenv("PORTAL_BASE_URL", "https://portal.example.se")
    children = fake_serve()
    assert children["worker"].environ["PORTAL_BASE_URL"] == "https://portal.example.se"


def test_serve_keeps_a_portal_base_url_set_in_dotenv(fake_serve, tmp_path):
    # The settings read .env themselves; serve must not override it with its own address.
    (tmp_path / ".env").write_text("DJANGO_DEBUG=true\nPORTAL_BASE_URL=https://portal.example.se\n")
    children = fake_serve()
    assert "PORTAL_BASE_URL" not in children["worker"].environ
    assert "PORTAL_BASE_URL" not in os.environ


def test_serve_sets_its_address_when_dotenv_leaves_portal_base_url_empty(fake_serve, tmp_path):
    (tmp_path / ".env").write_text("PORTAL_BASE_URL=\n")
    children = fake_serve()
    assert children["worker"].environ["PORTAL_BASE_URL"] == "http://127.0.0.1:8123"


def test_serve_starts_one_worker_for_every_queue(fake_serve):
    from portal.background import QUEUES

    worker = fake_serve()["worker"].argv
    assert (
        set(worker[worker.index("--queues") + 1].split(",")) == set(QUEUES) == {"default", "files", "payouts", "mail"}
    )
