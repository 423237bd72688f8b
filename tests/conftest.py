from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from agents.models import Agent
from streaming import calls as bridge_db
from tests.live_stack import clinic, shape, tool_endpoint  # noqa: F401 (fixtures for whole calls)

# No heartbeat thread in the test process (which imports the ASGI app; Django's settings are
# loaded by then), nor in the servers tests start unless a test asks for one: it would write to
# the database at any moment.
settings.SERVER_HEARTBEAT_S = 0
os.environ["SERVER_HEARTBEAT_S"] = "0"

DATA = Path(__file__).parent / "test_data"
DEMO_NUMBER = "+254711000100"


def load(name: str) -> dict[str, Any]:
    return json.loads((DATA / f"{name}.json").read_text())


def post_form(client: Client, url: str, data: dict[str, Any], **extra: Any):
    return client.post(
        url, urlencode(data), content_type="application/x-www-form-urlencoded", **extra
    )


def post_json(client: Client, url: str, data: Any, **extra: Any):
    body = data if isinstance(data, str | bytes) else json.dumps(data)
    return client.post(url, body, content_type="application/json", **extra)


@pytest.fixture
def agent(db) -> Agent:
    agent = Agent(
        name="Clinic",
        phone_number=DEMO_NUMBER,
        instructions="You book appointments.",
        greeting="Hello!",
    )
    agent.save(author="tests")
    return agent


# The day the payloads in test_data/ were recorded: their times are plausible then, as a live
# delivery's are when it arrives (times far from arrival drive nothing; see calls.models).
RECORDED_AT = datetime(2026, 11, 24, 9, 16, tzinfo=UTC)


@pytest.fixture
def on_recording_day(monkeypatch):
    """Run the test as if on the day the recorded payloads were sent; time still passes."""
    started = time.monotonic()
    monkeypatch.setattr(
        timezone, "now", lambda: RECORDED_AT + timedelta(seconds=time.monotonic() - started)
    )


@pytest.fixture(autouse=True)
def _no_signing_secret(settings, monkeypatch):
    # A developer's shell may export one; tests that want signatures set it themselves.
    settings.SAUTIKIT_SIGNING_SECRET = ""
    settings.PUBLIC_BASE_URL = ""


@pytest.fixture(autouse=True)
def _release_records_connection():
    # The thread that stores calls' reports keeps its connection open (as in production); the
    # test's database is emptied or dropped after the test, so it lets go of it first.
    yield
    bridge_db.release_connection()
