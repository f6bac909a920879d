"""Claim history as data: each ClaimEvent gets a kind and parameters instead of a stored sentence.

The sentences were stored partly in the actor's language (English or Swedish) and partly always in Swedish;
`event_kind_and_params` maps every text the code has written to a kind and its parameters. Words people wrote
(a void reason, a question, an answer) move into the parameters as they are. A text that matches nothing is
kept whole as a note ({"text": ...}): nothing is lost.
"""

import re

from django.db import migrations, models

BATCH = 2000

# What each version of the code stored, in every language it stored it in.
_SCHEDULED = re.compile(r"^(?:Godkänd för utbetalning|Approved for payment) (\d{4}-\d{2}-\d{2})$")
_PARTLY_CREDITED = re.compile(r"^(?:Delvis krediterad|Partly credited): (.+)$", re.DOTALL)
_RULES = "Granskningsregel: "
_QUESTION = "Fråga till kliniken: "
_ANSWER = "Klinikens svar: "
# review.ReviewRule.description as it was: "Belopp över 10 000 kr", "Åtgärd 825, 401", "Stickprov 2,5 %",
# "Klinik 31 Tandläkarna i Borås".
_AMOUNT_RULE = re.compile(r"^Belopp över (\d[\d\s\u00a0]*)(?:,(\d{1,2}))? kr$")
_CODES_RULE = re.compile(r"^Åtgärd (\S.*)$")
_SAMPLE_RULE = re.compile(r"^Stickprov (\d+(?:,\d+)?) %$")
_CLINIC_RULE = re.compile(r"^Klinik (\S+) (.+)$")

_KIND_OF_STATE = {
    "received": "received",
    "under_review": "review_started",
    "approved": "approved",
    "paid": "paid",
    "deleted": "deleted",
    "voided": "voided",
    "credited": "credited",
}


def rule_params(description: str) -> dict:
    """One rule's description, as stored in a claim's history, back to the rule's parameters."""
    if match := _AMOUNT_RULE.match(description):
        kronor, ore = match.groups()
        return {
            "kind": "amount_above",
            "amount_limit": int(re.sub(r"[\s\u00a0]", "", kronor)) * 100 + int((ore or "0").ljust(2, "0")),
        }
    if match := _CODES_RULE.match(description):
        return {"kind": "codes", "codes": match.group(1).split(", ")}
    if match := _SAMPLE_RULE.match(description):
        return {"kind": "sample", "sample_percent": match.group(1).replace(",", ".")}
    if match := _CLINIC_RULE.match(description):
        return {"kind": "clinic", "clinic_number": match.group(1), "clinic_name": match.group(2)}
    return {"text": description}


def event_kind_and_params(reason: str, from_state: str, to_state: str) -> tuple[str, dict]:
    """The kind and parameters of an event stored with the text `reason`."""
    moved = from_state != to_state
    if moved and to_state == "voided":
        return "voided", {"reason": reason}  # the coordinator's own words, whatever they say
    if moved and to_state == "credited" and reason:
        return "credited", {"reference": reason}  # the credit invoice's number
    if to_state == "approved" and (match := _SCHEDULED.match(reason)):
        return "scheduled_for_payout", {"date": match.group(1)}
    if moved and to_state == "under_review" and reason.startswith(_RULES):
        rules = reason.removeprefix(_RULES).split("; ")
        return "rules_matched", {"rules": [rule_params(rule) for rule in rules]}
    if not moved:
        if reason.startswith(_QUESTION):
            return "question_asked", {"question": reason.removeprefix(_QUESTION)}
        if reason.startswith(_ANSWER):
            return "question_answered", {"answer": reason.removeprefix(_ANSWER)}
        if match := _PARTLY_CREDITED.match(reason):
            return "partly_credited", {"reference": match.group(1)}
    if moved and not reason and to_state in _KIND_OF_STATE:
        return _KIND_OF_STATE[to_state], {}
    return "note", {"text": reason}


def _rule_text(rule: dict) -> str:
    """The Swedish description of a rule again, for going back."""
    kind = rule.get("kind")
    if kind == "amount_above":
        kronor, ore = divmod(rule["amount_limit"], 100)
        return f"Belopp över {kronor:,}".replace(",", "\u00a0") + (f",{ore:02d}" if ore else "") + " kr"
    if kind == "codes":
        return f"Åtgärd {', '.join(rule['codes'])}"
    if kind == "sample":
        return f"Stickprov {rule['sample_percent'].replace('.', ',')} %"
    if kind == "clinic":
        return f"Klinik {rule['clinic_number']} {rule['clinic_name']}"
    return rule.get("text", "")


def reason_of(kind: str, params: dict) -> str:
    """The Swedish text an event of `kind` was stored with before kinds existed."""
    if kind == "scheduled_for_payout":
        return f"Godkänd för utbetalning {params['date']}"
    if kind == "rules_matched":
        return _RULES + "; ".join(_rule_text(rule) for rule in params.get("rules", []))
    if kind == "question_asked":
        return _QUESTION + params["question"]
    if kind == "question_answered":
        return _ANSWER + params["answer"]
    if kind == "partly_credited":
        return f"Delvis krediterad: {params['reference']}"
    return params.get("reason") or params.get("reference") or params.get("text") or ""


def forwards(apps, schema_editor):
    ClaimEvent = apps.get_model("claims", "ClaimEvent")
    batch = []
    for event in ClaimEvent.objects.only("id", "reason", "from_state", "to_state").iterator(chunk_size=BATCH):
        event.kind, event.params = event_kind_and_params(event.reason, event.from_state, event.to_state)
        batch.append(event)
        if len(batch) == BATCH:
            ClaimEvent.objects.bulk_update(batch, ["kind", "params"])
            batch = []
    ClaimEvent.objects.bulk_update(batch, ["kind", "params"])


def backwards(apps, schema_editor):
    ClaimEvent = apps.get_model("claims", "ClaimEvent")
    batch = []
    for event in ClaimEvent.objects.only("id", "kind", "params").iterator(chunk_size=BATCH):
        event.reason = reason_of(event.kind, event.params)
        batch.append(event)
        if len(batch) == BATCH:
            ClaimEvent.objects.bulk_update(batch, ["reason"])
            batch = []
    ClaimEvent.objects.bulk_update(batch, ["reason"])


class Migration(migrations.Migration):
    dependencies = [
        ("claims", "0003_invoice_file_sending"),
    ]

    operations = [
        migrations.AddField(
            model_name="claimevent",
            name="kind",
            field=models.CharField(
                choices=[
                    ("received", "Inkommen"),
                    ("review_started", "Granskning påbörjad"),
                    ("rules_matched", "Granskningsregel"),
                    ("approved", "Godkänd"),
                    ("scheduled_for_payout", "Godkänd för utbetalning"),
                    ("paid", "Utbetald"),
                    ("deleted", "Raderad"),
                    ("voided", "Makulerad"),
                    ("credited", "Krediterad"),
                    ("partly_credited", "Delvis krediterad"),
                    ("question_asked", "Fråga till kliniken"),
                    ("question_answered", "Klinikens svar"),
                    ("note", "Anteckning"),
                ],
                default="note",
                max_length=30,
            ),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="claimevent",
            name="params",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.RunPython(forwards, backwards, elidable=False),
        migrations.RemoveField(
            model_name="claimevent",
            name="reason",
        ),
    ]
