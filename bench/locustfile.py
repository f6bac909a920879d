"""The people of bench/load.py (`make bench-load`), as Locust users. Not run on its own: bench/load.py prepares the
database, the sessions (TANDPORTAL_LOAD_SETUP, a JSON file) and the server, and reads the figures.

Requests are named by page, so that Locust's table has one row per page. A page that answers with an error, or a
form that does not lead where it should, counts as an error.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import re
import sys
import uuid
from pathlib import Path

import gevent
import lxml.html
from locust import HttpUser, between, task

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.load import invoice_file

SETUP = json.loads(open(os.environ["TANDPORTAL_LOAD_SETUP"], encoding="utf-8").read())  # noqa: SIM115
CLINIC = f"/klinik/{SETUP['clinic_pk']}"
REGION = f"/region/{SETUP['region']}"
DAY = SETUP["day"]
PER_USER = SETUP["patients_per_user"]
# Each simulated person takes the next block of benchmark patients, and the next of the role's sessions.
_PEOPLE = itertools.count()
_BILLER_SESSIONS = itertools.count()
_COORDINATOR_SESSIONS = itertools.count()


def think(low: float, high: float) -> float:
    return random.uniform(low, high)


class Person(HttpUser):
    abstract = True
    wait_time = between(3, 15)  # a page read, a decision

    def on_start(self) -> None:
        person = next(_PEOPLE)
        self.patients = iter(range(person * PER_USER, (person + 1) * PER_USER))

    def next_patient(self) -> tuple[str, str] | None:
        k = next(self.patients, None)
        return None if k is None else (SETUP["pins"][k], SETUP["certificates"][k])

    def _wait(self, low: float, high: float) -> None:
        """Think time inside a task (typing, reading), besides wait_time between tasks."""
        gevent.sleep(think(low, high))

    def sign_in(self, sessions: list[str], counter) -> None:
        self.client.cookies.set("sessionid", sessions[next(counter) % len(sessions)])

    def page(self, path: str, name: str, *, expect: str = ""):
        with self.client.get(path, name=name, catch_response=True) as response:
            if response.ok and expect and expect not in response.text:
                response.failure(f"{name}: {expect!r} not on the page")
            return response

    def form_post(self, path: str, data: dict, name: str, *, to: str = "", files=None):
        """POST as a browser does (CSRF token in the form, Referer); `to`: where it must lead (a regex)."""
        headers = {"Referer": self.client.base_url + path}
        with self.client.post(path, data=data, files=files, headers=headers, name=name, catch_response=True) as r:
            if r.ok and to and not re.search(to, r.url):
                doc = lxml.html.document_fromstring(r.content)
                said = [" ".join(li.text_content().split()) for li in doc.xpath("//ul[@class='errorlist']/li")]
                r.failure(f"{name}: ended at {r.url}: {said[:3]}")
            return r

    @staticmethod
    def fields(response, form_id: str | None = None) -> dict:
        doc = lxml.html.document_fromstring(response.content)
        form = doc.get_element_by_id(form_id) if form_id else doc.forms[0]
        return dict(form.form_values())

    @staticmethod
    def csrf(response) -> str:
        doc = lxml.html.document_fromstring(response.content)
        return doc.xpath("//input[@name='csrfmiddlewaretoken']/@value")[0]


class Biller(Person):
    """A biller of clinic 31: registers claims by hand, reads Era fakturor, looks patients up, sends a file."""

    weight = 6

    def on_start(self) -> None:
        super().on_start()
        self.sign_in(SETUP["billers"], _BILLER_SESSIONS)
        self.files = 0

    @task(4)
    def register_claim(self) -> None:
        patient = self.next_patient()
        if patient is None:
            return
        pin, _certificate = patient
        url = f"{CLINIC}/registrera-rakning/"
        response = self.page(url, "Registrera räkning")
        if not response.ok:
            return
        self._wait(2, 6)  # typing the personnummer
        response = self.form_post(
            url,
            {**self.fields(response, "claim-form"), "personal_identity_number": pin, "action": "search"},
            "Registrera räkning: Sök person",
        )
        if not response.ok:
            return
        self._wait(2, 6)
        data = {
            **self.fields(response, "claim-form"),
            "care_model": "K1",
            "entry-visit_date": DAY,
            "entry-code": "101",
            "action": "add_line",
        }
        response = self.form_post(url, data, "Registrera räkning: lägg till åtgärd")
        if not response.ok:
            return
        self._wait(2, 6)
        reference = uuid.uuid4().hex[:12]
        data = {
            **self.fields(response, "claim-form"),
            f"fee-{DAY}": "200",
            "reference": f"R{reference}",
            "invoice_reference": f"F{reference}",
            "action": "submit",
        }
        self.form_post(url, data, "Registrera räkning: Skicka in", to=r"/registrera-rakning/inskickad/\d+/$")

    @task(4)
    def invoices(self) -> None:
        self.page(f"{CLINIC}/fakturor/", "Era fakturor")
        self._wait(3, 10)
        tab = random.choice(["utbetalda/", "kreditfakturor/", ""])
        self.page(f"{CLINIC}/fakturor/{tab}", "Era fakturor (flik)")

    @task(3)
    def person_search(self) -> None:
        patient = self.next_patient()
        if patient is None:
            return
        url = f"{CLINIC}/sok-person/"
        response = self.page(url, "Sök person")
        if response.ok:
            self._wait(2, 6)
            self.form_post(
                url,
                {"csrfmiddlewaretoken": self.csrf(response), "personal_identity_number": patient[0]},
                "Sök person: sök",
            )

    @task(1)
    def start_page(self) -> None:
        self.page(f"{CLINIC}/", "Startsida (klinik)")

    @task(1)
    def upload_file(self) -> None:
        if self.files >= 3:
            return
        claims = [p for p in (self.next_patient() for _ in range(20)) if p is not None]
        if len(claims) < 20:
            return
        self.files += 1
        token = uuid.uuid4().hex[:10]
        url = f"{CLINIC}/fakturafil/"
        response = self.page(url, "Ladda upp fakturafil")
        if not response.ok:
            return
        self._wait(5, 15)  # finding the file on the computer
        content = invoice_file(claims, clinic=SETUP["clinic_number"], day=DAY, token=token)
        response = self.form_post(
            url,
            {"csrfmiddlewaretoken": self.csrf(response)},
            "Ladda upp fakturafil: skicka",
            files={"file": (f"faktura-{token}.xml", content, "text/xml")},
            to=r"/fakturafil/\d+/$",
        )
        if not response.ok or not re.search(r"/fakturafil/\d+/$", response.url):
            return
        detail = response.url.removeprefix(self.client.base_url)
        for _ in range(90):  # static/js/progress.js asks every 2 s
            self._wait(2, 2)
            status = self.client.get(detail + "status/", name="Fakturafil: status")
            if not status.ok or status.json().get("finished"):
                break
        response = self.page(detail, "Fakturafil")
        if response.ok and status.ok and status.json().get("state") == "checked":
            self._wait(3, 10)
            self.form_post(
                detail + "ladda-upp/",
                {"csrfmiddlewaretoken": self.csrf(response)},
                "Fakturafil: Ladda upp",
                to=r"/fakturafil/\d+/$",
            )


class Coordinator(Person):
    """A coordinator of Västra Götaland: the start page, Räkningar, a claim, Godkänn or a question."""

    weight = 3

    def on_start(self) -> None:
        super().on_start()
        self.sign_in(SETUP["coordinators"], _COORDINATOR_SESSIONS)

    @task(1)
    def start_page(self) -> None:
        self.page(f"{REGION}/", "Startsida (region)")

    @task(4)
    def review(self) -> None:
        response = self.page(f"{REGION}/rakningar/", "Räkningar")
        if not response.ok:
            return
        claims = sorted(set(re.findall(rf'href="({REGION}/rakningar/\d+/)"', response.text)))
        if not claims:
            return
        self._wait(3, 10)
        url = random.choice(claims)
        response = self.page(url, "Räkning (samordnare)")
        if not response.ok or f"{url}godkann/" not in response.text:
            return
        self._wait(5, 20)  # reading the claim
        if random.random() < 0.8:
            self.form_post(f"{url}godkann/", {"csrfmiddlewaretoken": self.csrf(response)}, "Räkning: Godkänn")
        else:
            self.form_post(
                f"{url}fraga/",
                {"csrfmiddlewaretoken": self.csrf(response), "question": "Stämmer besöksdatumet?"},
                "Räkning: fråga",
            )


class JournalSystem(Person):
    """A clinic's journal system sending claims over the API, each with an Idempotency-Key."""

    weight = 1
    wait_time = between(2, 8)

    @task
    def claim(self) -> None:
        patient = self.next_patient()
        if patient is None:
            return
        body = {
            "personnummer": patient[0],
            "support_form": "N",
            "care_model": "K1",
            "reference": f"LOAD-{uuid.uuid4().hex[:12]}",
            "invoice_reference": f"LOADAPI-{uuid.uuid4().hex[:12]}",
            "visits": [{"date": DAY, "patient_fee": 20000, "lines": [{"code": "101"}]}],
        }
        headers = {"Authorization": f"Bearer {SETUP['api_key']}", "Idempotency-Key": str(uuid.uuid4())}
        with self.client.post(
            "/api/v1/claims", json=body, headers=headers, name="API: POST /api/v1/claims", catch_response=True
        ) as response:
            if response.status_code != 201:
                response.failure(f"{response.status_code}: {response.text[:300]}")
