from __future__ import annotations

import asyncio
import json
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import pytest_asyncio
from django.conf import settings
from django.utils import timezone

from agents.models import Agent, Tool
from agents.tools import derived_key
from calls import stream_records as store
from streaming.core.call.toolbox import signed_message
from streaming.devtools.fake_realtime import FakeRealtimeServer, Options
from streaming.devtools.fake_text import FakeTextServer
from streaming.devtools.virtual_time import VirtualTimeLoop
from streaming.ground import signatures
from tests.helpers import DEMO_NUMBER
from tests.live_stack import BOOKING, NUMBER, SECRET, Shape, ToolEndpoint

# No heartbeat thread in the test process (which imports the ASGI app; Django's settings are
# loaded by then), nor in the servers tests start unless a test asks for one: it would write to
# the database at any moment.
settings.SERVER_HEARTBEAT_S = 0
os.environ["SERVER_HEARTBEAT_S"] = "0"
# After-call work runs when a test runs it (calls.aftercall.runner.run_due), not by itself.
settings.AFTER_CALL_POLL_S = 0
os.environ["AFTER_CALL_POLL_S"] = "0"


def pytest_asyncio_loop_factories(config, item):
    """Tests marked virtual_time run on a loop whose clock skips its waits, when every peer is
    on that loop. With Redis as the channel layer (make test's second pass) a status callback
    reaches the bridge from Redis, which the loop cannot see coming: its clock would skip past
    it, so those runs keep real time; so does a test marked real_time (a peer in a thread the
    loop did not start)."""
    if (
        item.get_closest_marker("virtual_time")
        and not item.get_closest_marker("real_time")
        and not _layer_in_another_process()
    ):
        return {"virtual_time": VirtualTimeLoop}
    return {"asyncio": asyncio.new_event_loop}  # (pytest-asyncio wants one for every test)


def _layer_in_another_process() -> bool:
    return "InMemory" not in settings.CHANNEL_LAYERS["default"]["BACKEND"]


@pytest.fixture
def shots(tmp_path) -> Path:
    """Where the browser tests put their screenshots: a temporary folder, unless
    `make screenshots` names docs/screenshots/ (the suite never writes into tracked files)."""
    folder = Path(os.environ.get("SCREENSHOTS_DIR") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


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
# delivery's are when it arrives (times far from arrival drive nothing; see calls.webhook_fields).
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
    store.release_connection()


# -- whole calls over real sockets (tests/live_stack.py) ---------------------------------------


@pytest.fixture
def tool_endpoint():
    def answer(body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        # What the endpoint's developer does: this tool's own key, over the whole request.
        key = derived_key(SECRET, NUMBER, "look_up_booking")
        signed = signed_message("POST", endpoint.url, headers.get("X-Call-Id", ""),
                                headers.get("X-Tool-Name", ""), body)  # fmt: skip
        try:
            signatures.verify(signed, headers.get("X-Tool-Signature"), [key], accept_plain=False)
        except signatures.SignatureError:
            return 403, b'{"error": "bad signature"}'
        return 200, json.dumps(BOOKING).encode()

    endpoint = ToolEndpoint(answer)
    yield endpoint
    endpoint.close()


@pytest.fixture
def clinic(tool_endpoint) -> Agent:
    agent = Agent(
        name="Clinic",
        phone_number=NUMBER,
        instructions="You book clinic appointments.",
        greeting="Welcome to the clinic, how can I help?",
        record_calls=True,
    )
    agent.save(author="tests")
    Tool.objects.create(
        agent=agent,
        name="look_up_booking",
        description="Finds the caller's booking.",
        parameters={
            "type": "object",
            "properties": {"phone": {"type": "string"}},
            "required": ["phone"],
        },
        endpoint=tool_endpoint.url,
    )
    agent.publish("tests")  # the tool reaches callers
    return agent


@pytest.fixture
def limits(settings):
    """The per-caller limits at their defaults, whatever the environment says."""
    settings.LIMIT_LIVE_CALLS_PER_CALLER = 2
    settings.LIMIT_CALLS_PER_CALLER_PER_HOUR = 20
    settings.LIMIT_LIVE_CALLS_TOTAL = 0
    return settings


@pytest.fixture
def text_api(settings):
    """The Responses API stand-in, where the after-call summaries are asked for."""
    server = FakeTextServer(poll_interval=0.02)  # closed after every test
    settings.OPENAI_BASE_URL = server.base_url
    settings.OPENAI_API_KEY = "sk-test"
    yield server
    server.close()


@pytest.fixture
def shape(transactional_db):
    made: list[Shape] = []

    def start(**env: str) -> Shape:
        made.append(Shape(**env))
        return made[-1]

    yield start
    for s in made:
        s.close()


# -- the consumer driven in the test's own process (tests/bridge_helpers.py) -------------------


@pytest_asyncio.fixture
async def fake_realtime(settings):
    """Starts the Realtime stand-in with the options given and points the bridge at it."""
    started: list[FakeRealtimeServer] = []

    async def start(options: Options | None = None) -> FakeRealtimeServer:
        server = await FakeRealtimeServer(options or Options()).start()
        started.append(server)
        settings.OPENAI_REALTIME_URL = server.url
        settings.OPENAI_API_KEY = "sk-test"
        return server

    yield start
    for server in started:
        await server.stop()


@pytest_asyncio.fixture
async def hang_up_leftovers():
    """After the test, hang up the calls it left open and let their consumers finish."""
    yield
    # Imported here: bridge_helpers loads the ASGI app, after the settings above are made.
    from tests.bridge_helpers import hang_up_all

    await hang_up_all()
