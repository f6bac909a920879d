"""GET /api/v1/events: the key's clinic's event stream (portal.events), for a journal system to follow without
polling each object. The same events are sent to the key's webhook, if it has one (portal.webhooks)."""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiParameter, OpenApiTypes, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from portal.events import FEED_LIMIT_DEFAULT, FEED_LIMIT_MAX, Cursor, clinic_events_after, clinic_events_json
from portal.models import ClinicEventKind

from .serializers import StrictSerializer
from .views import ApiView, problems


class CursorField(serializers.CharField):
    def to_internal_value(self, data) -> str:
        value = super().to_internal_value(data)
        try:
            Cursor.parse(value)
        except ValueError:
            raise serializers.ValidationError(
                _("Ange markören från ett tidigare svars next, eller ingen för att börja från början."),
                code="invalid_cursor",
            ) from None
        return value


class EventsQuery(StrictSerializer):
    after = CursorField(required=False, max_length=41)
    limit = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=FEED_LIMIT_MAX,
        default=FEED_LIMIT_DEFAULT,
        error_messages={
            "invalid": gettext_lazy("Ange ett heltal."),
            "min_value": gettext_lazy("Ange minst {min_value}."),
            "max_value": gettext_lazy("Ange högst {max_value}."),
        },
    )


class EventObjectOut(serializers.Serializer):
    type = serializers.CharField(help_text="claim, prior_assessment, invoice_file, payout_payment")
    id = serializers.IntegerField()
    url = serializers.URLField(
        allow_null=True, help_text="Objektet i API:t, null om API:t saknar det / The object in the API, or null"
    )


class EventOut(serializers.Serializer):
    id = serializers.IntegerField(help_text="Händelsens id, samma som webhook-id evt_<id> / the event's id")
    kind = serializers.ChoiceField(choices=ClinicEventKind.choices)
    occurred_at = serializers.DateTimeField()
    object = EventObjectOut()
    data = serializers.DictField(
        help_text=(
            "Id:n, statusar, belopp i öre och datum; aldrig personnummer eller fritext. / "
            "Ids, states, amounts in öre and dates; never a personnummer or free text."
        )
    )


class EventPageOut(serializers.Serializer):
    events = EventOut(many=True)
    next = serializers.CharField(
        help_text="Skicka som after i nästa anrop / send as after in the next call (also when events is empty)"
    )


DESCRIPTION = (
    "Klinikens händelser i ordning: statusändringar och makuleringar av räkningar, frågor från "
    "tandvårdssamordningen, krediteringar, beslut om och kompletteringar av förhandsbedömningar, kontrollerade "
    "fakturafiler och utbetalningar. Börja utan after; skicka sedan svarets next som after. Listan visar bara "
    "händelser vars ändring är färdig (inga som kan dyka upp bakom markören senare), så en tom sida betyder "
    "bara att inget nytt har hänt ännu. Samma händelse kan komma igen efter ett avbrott: använd id för att "
    "känna igen den. Data innehåller id:n, statusar, belopp i öre och datum, aldrig personnummer.\n\n"
    "The clinic's events in order: claims' changes of state and voids, the coordinators' questions, credits, "
    "prior assessments' decisions and requests for completion, checked invoice files and payouts. Start without "
    "after, then send each answer's next as after. The list holds only events whose change has ended (none can "
    "appear behind the cursor later), so an empty page only means nothing new has happened yet. The same event "
    "may come again after an interruption: recognise it by its id. Data holds ids, states, amounts in öre and "
    "dates, never a personnummer."
)


class EventsView(ApiView):
    @extend_schema(
        operation_id="events_list",
        summary="Klinikens händelser / The clinic's events",
        description=DESCRIPTION,
        parameters=[
            OpenApiParameter(
                "after",
                OpenApiTypes.STR,
                OpenApiParameter.QUERY,
                required=False,
                pattern=r"^[0-9]{1,20}\.[0-9]{1,20}$",
                description="Markören från förra svarets next / the cursor from the last answer's next",
            ),
            OpenApiParameter(
                "limit",
                OpenApiTypes.INT,
                OpenApiParameter.QUERY,
                required=False,
                description=f"1–{FEED_LIMIT_MAX}, {FEED_LIMIT_DEFAULT} om inget anges / if not given",
            ),
        ],
        responses={(200, "application/json"): EventPageOut, **problems(400, 401, 429, 503)},
        tags=["events"],
    )
    def get(self, request):
        query = EventsQuery(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        after = Cursor.parse(query.validated_data["after"]) if "after" in query.validated_data else Cursor()
        events = clinic_events_after(clinic=request._request.clinic, after=after, limit=query.validated_data["limit"])
        base_url = request.build_absolute_uri("/").rstrip("/")
        return Response(
            {
                "events": clinic_events_json(events, base_url=base_url),
                "next": str(Cursor.of(events[-1]) if events else after),
            }
        )
