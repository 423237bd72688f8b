"""Every way OpenAI can fail a call closes the caller's socket at once, through the real daphne.

WebsocketCommunicator never goes through autobahn, which refuses close codes other than 1000 and
3000-4999: a 1011 passed there and left callers in silence on the real server. So these calls
are played by the simulator against daphne and the fake Realtime running as processes, each
fake told to fail in one of the ways OpenAI does.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest

from agents.models import Agent
from calls.models import Call, Status
from streaming.consumer import CLOSE_UPSTREAM_FAILED
from streaming.core.call.endings import EndedBy
from streaming.devtools.simulator import CallReport, simulate_call
from tests.live_stack import start_stack, wait_until

pytestmark = pytest.mark.django_db(transaction=True)

NUMBER = "+254711000400"
FALLBACK = "+254722000999"
# The spec is 1 s from the failure being known to the caller's socket closing; the rest is room
# for a loaded machine. Before the fix the socket was never closed at all.
CLOSE_WITHIN_S = 2.0
# The caller stays on far longer than any of these failures takes.
LONG_CALL = [(10.0, 0.0)]


@pytest.fixture
def agent(transactional_db) -> Agent:
    agent = Agent(name="Desk", phone_number=NUMBER, instructions="Help.", greeting="Hello!")
    agent.save(author="tests")
    return agent


@pytest.fixture
def silent_upstream() -> Iterator[str]:
    """A TCP port that accepts connections and never answers: a hung connect."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield f"ws://127.0.0.1:{listener.getsockname()[1]}/v1/realtime"


def play(fake_args: list[str], call_id: str, tmp_path, **env: str) -> CallReport:
    stack = start_stack(env=env, fake_args=fake_args)
    try:
        return asyncio.run(
            simulate_call(
                stack.base_url,
                NUMBER,
                out=tmp_path / "call.wav",
                call_id=call_id,
                plan=LONG_CALL,
                tail_s=1.0,
            )
        )
    finally:
        stack.stop()
        stack.tmp.cleanup()


def ended(call_id: str) -> Call:
    assert wait_until(lambda: Call.objects.get(call_id=call_id).bridge_ended_at is not None)
    return Call.objects.get(call_id=call_id)


# (fake's arguments, seconds into the call when the failure is known, what the call page says)
FAILURES = {
    "handshake refused": (["--refuse-status", "503"], 0.0, "HTTP 503"),
    "bad key": (["--api-key", "sk-not-the-one-we-have"], 0.0, "invalid_api_key"),
    "settings refused": (["--refuse-settings", "invalid_value"], 0.0, "invalid_value"),
    "drop mid-call": (["--drop-after-s", "2"], 2.0, "code 1011"),
    "early 1001": (["--max-session-s", "2"], 2.0, "code 1001"),
}


@pytest.mark.parametrize("failure", FAILURES)
def test_it_closes_the_caller_at_once_when_openai_fails(agent, tmp_path, failure):
    fake_args, known_at, reason = FAILURES[failure]
    report = play(fake_args, "DEAD_1", tmp_path)
    assert report.close_code == CLOSE_UPSTREAM_FAILED, report.summary()
    assert report.server_closed_s - known_at < CLOSE_WITHIN_S, report.summary()
    call = ended("DEAD_1")
    assert call.status == Status.FAILED
    assert call.ended_by == EndedBy.ERROR
    assert reason in call.failure_reason
    assert report.transferred_to == ""


def test_it_closes_the_caller_when_the_connect_hangs(agent, tmp_path, silent_upstream):
    report = play([], "DEAD_2", tmp_path, OPENAI_REALTIME_URL=silent_upstream,
                  OPENAI_CONNECT_TIMEOUT="1")  # fmt: skip
    assert report.close_code == CLOSE_UPSTREAM_FAILED, report.summary()
    assert report.server_closed_s - 1.0 < CLOSE_WITHIN_S, report.summary()
    call = ended("DEAD_2")
    assert call.status == Status.FAILED
    assert "unreachable" in call.failure_reason


@pytest.mark.parametrize("failure", ["handshake refused", "drop mid-call"])
def test_it_hands_the_caller_to_the_fallback_number(agent, tmp_path, failure):
    agent.fallback_number = "0722 000 999"
    agent.save(author="tests")
    agent.publish("tests")
    fake_args, known_at, reason = FAILURES[failure]
    report = play(fake_args, "DEAD_3", tmp_path)
    assert report.server_closed_s - known_at < CLOSE_WITHIN_S, report.summary()
    # Closing the stream made Sautikit ask the voice URL what next: <Dial> the fallback.
    assert report.transferred_to == FALLBACK, report.summary()
    call = ended("DEAD_3")
    assert reason in call.failure_reason
    assert call.transfer_to == FALLBACK and call.transfer_dialled_at is not None
    assert call.end_reason.endswith(f"handed over to {FALLBACK}")
    assert call.ended_by == EndedBy.ERROR
    # The caller went on with a person: Sautikit's own end makes the call complete, not failed.
    assert call.status == Status.COMPLETED
