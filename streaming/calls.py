"""The bridge's database work, in small helpers the consumer awaits."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from agents.models import turn_detection_config
from calls.models import Call, Source
from streaming.bridge import Limits
from streaming.realtime import SessionConfig


class CallSetup:
    """What the bridge needs from a call, read once when the socket opens."""

    def __init__(self, call: Call) -> None:
        values: dict[str, Any] = dict(call.agent_revision.snapshot if call.agent_revision else {})
        if not values and call.agent:
            values = call.agent.snapshot()
        self.call_id = call.call_id
        self.rate = int(values.get("sample_rate") or 16000)
        self.session = SessionConfig(
            model=values.get("model") or "gpt-realtime",
            instructions=values.get("instructions") or "",
            voice=values.get("voice") or "marin",
            greeting=values.get("greeting") or "",
            turn_detection=turn_detection_config(values),
        )
        self.limits = Limits(
            max_call_s=60 * int(values.get("max_call_minutes") or 15),
            silence_timeout_s=int(values.get("silence_timeout_seconds") or 60),
        )
        self.realtime_url = settings.OPENAI_REALTIME_URL
        self.api_key = settings.OPENAI_API_KEY


@database_sync_to_async
def claim_call(call_id: str) -> CallSetup | None:
    """The call's setup if it exists, has an agent and no bridge yet; the claim is atomic."""
    with transaction.atomic():
        claimed = Call.objects.filter(
            call_id=call_id, agent__isnull=False, bridge_started_at__isnull=True
        ).update(bridge_started_at=timezone.now())
        if not claimed:
            return None
        call = Call.objects.select_related("agent", "agent_revision").get(call_id=call_id)
        return CallSetup(call)


@database_sync_to_async
def record(call_id: str, kind: str, payload: dict[str, Any]) -> None:
    Call.objects.get(call_id=call_id).record_event(Source.BRIDGE, kind, payload)


@database_sync_to_async
def keep_stream_metadata(call_id: str, metadata: dict[str, Any]) -> None:
    with transaction.atomic():
        call = Call.objects.select_for_update().get(call_id=call_id)
        call.metadata["stream"] = metadata
        call.save(update_fields=["metadata", "updated_at"])


@database_sync_to_async
def record_end(call_id: str, reason: str, error: str, summary: dict[str, Any]) -> None:
    with transaction.atomic():
        call = Call.objects.select_for_update().get(call_id=call_id)
        call.bridge_ended(reason, error)
        call.metadata["bridge"] = summary
        call.save()
        call.record_event(
            Source.BRIDGE,
            "bridge.failed" if error else "bridge.ended",
            {"reason": reason, "error": error, **summary},
        )
