"""Plain helpers the tests share: recorded payloads and posting them as Sautikit does."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.models import Permission, User
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

DATA = Path(__file__).parent / "test_data"
DEMO_NUMBER = "+254711000100"


def load(name: str) -> dict[str, Any]:
    return json.loads((DATA / f"{name}.json").read_text())


def post_form(client: Client, url: str, data: dict[str, Any], **extra: Any):
    return client.post(
        url, urlencode(data), content_type="application/x-www-form-urlencoded", **extra
    )


def ring(client: Client, call_id: str, caller: str = "+254700000001",
         number: str = DEMO_NUMBER) -> ET.Element:  # fmt: skip
    """Sautikit's first voice callback for a call; its answer, parsed."""
    fields = {"sessionId": call_id, "callerNumber": caller, "destinationNumber": number}
    response = post_form(client, "/sautikit/voice/", fields)
    assert response.status_code == 200
    return ET.fromstring(response.content)


def streamed(root: ET.Element) -> bool:
    return root.find("Stream") is not None


def post_json(client: Client, url: str, data: Any, **extra: Any):
    body = data if isinstance(data, str | bytes) else json.dumps(data)
    return client.post(url, body, content_type="application/json", **extra)


def agent_form(**fields: str) -> dict[str, str]:
    """The agent's admin form as a browser posts it, with no tools unless given."""
    return {
        "name": "Bookings",
        "phone_number": "0722 000 000",
        "is_active": "on",
        "instructions": "Book things.",
        "greeting": "",
        "voice": "coral",
        "turn_detection": "server_vad",
        "vad_threshold": "0.5",
        "vad_prefix_padding_ms": "300",
        "vad_silence_duration_ms": "500",
        "eagerness": "auto",
        "idle_nudge_seconds": "0",
        "noise_reduction": "",
        "transcription_language": "",
        "transcription_prompt": "",
        "speaking_speed": "1.0",
        "longest_answer_seconds": "0",
        "track": "inbound_track",
        "sample_rate": "16000",
        "engine": "realtime",
        "model": "gpt-realtime",
        "backend_instructions": "",
        "backend_model": "gpt-5-mini",
        "signing_secret_env": "",
        "max_call_minutes": "15",
        "silence_timeout_seconds": "60",
        "max_live_calls": "0",
        "end_call_enabled": "on",
        "transfer_number": "",
        "summarise_calls": "on",
        "analysis_model": "gpt-5-mini",
        "webhook_url": "",
        "webhook_secret_env": "",
        "tools-TOTAL_FORMS": "0",
        "tools-INITIAL_FORMS": "0",
        "notes-TOTAL_FORMS": "0",
        "notes-INITIAL_FORMS": "0",
        "revisions-TOTAL_FORMS": "0",
        "revisions-INITIAL_FORMS": "0",
        "revisions-MIN_NUM_FORMS": "0",
        "revisions-MAX_NUM_FORMS": "0",
        **fields,
    }


def finished_call(agent: Any, call_id: str = "ended-1", said: tuple[tuple[str, str], ...] = (
        ("agent", "Hello, clinic bookings."),
        ("caller", "I would like to book for Tuesday, my name is Wanjiru."),
        ("tool", "look_up_booking"),
        ("agent", "Booked: Tuesday at ten."),
        ("caller", "Thank you."),
)) -> Any:  # fmt: skip
    """A call the agent answered on its published version, now over, with a transcript."""
    from django.utils import timezone

    from calls.models import Call, Turn

    call = Call(call_id=call_id, caller_number="+254700000001",
                dialled_number=agent.phone_number)  # fmt: skip
    call.attach_agent(agent)
    call.bridge_started_at = call.answered_at = timezone.now()
    call.save()
    for n, (role, text) in enumerate(said):
        tool = {"tool_name": text, "tool_ok": True, "tool_result": {"booking": "Tuesday 10:00"},
                "tool_arguments": {}} if role == "tool" else {"text": text}  # fmt: skip
        Turn.objects.create(call=call, item_id=f"item-{n}", role=role, started_ms=n * 1000,
                            ended_ms=n * 1000 + 800, **tool)  # fmt: skip
    call.bridge_ended("caller hung up", ended_by="caller")
    call.save()
    return call


# What the member of staff in the incident had: add and change on agents, not "Can publish".
EDITOR_PERMISSIONS = [
    "view_agent",
    "add_agent",
    "change_agent",
    "delete_agent",
    "view_agentrevision",
    "view_tool",
    "add_tool",
    "change_tool",
    "delete_tool",
    "view_notefield",
    "add_notefield",
    "change_notefield",
    "delete_notefield",
]
PASSWORD = "a long passphrase 42"


def staff(username: str, *codenames: str) -> User:
    user = User.objects.create_user(username, password=PASSWORD, is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return user


def metric_figures(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """A /metrics page read back: (name, sorted labels) -> value."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
