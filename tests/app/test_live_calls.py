"""Calls answered by the GPT-Live engine, through the real stream consumer and the stand-in:
known tones both ways at both phone rates, the record (turns, seconds, cost) as for Realtime."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import numpy as np
import pytest
import pytest_asyncio
from django.core.exceptions import ValidationError

from agents.models import Agent
from calls.costs import live_usd
from streaming.devtools.fake_live import FakeLiveServer, LiveOptions
from streaming.devtools.signals import dominant_hz, loud_runs, samples, snr_db, tone
from streaming.devtools.simulator import as_heard
from tests.bridge_helpers import (
    bridge_ended,
    call_turns,
    communicator,
    get_call,
    start_call,
    wait_for,
)
from tests.helpers import DEMO_NUMBER

LIVE = {"engine": "live", "model": "gpt-live-1.1", "greeting": "Greet the caller."}


@pytest_asyncio.fixture
async def live_stand_in(settings):
    server = await FakeLiveServer(LiveOptions(answers=["Karibu."])).start()
    settings.OPENAI_LIVE_URL = server.url
    settings.OPENAI_API_KEY = "sk-test"
    yield server
    await server.stop()


async def talk(comm, pcm: bytes, rate: int) -> np.ndarray:
    """Send the caller's audio in real-time 20 ms frames; return what the caller heard."""
    heard: list[tuple[float, bytes]] = []
    step = rate // 50 * 2
    loop = asyncio.get_running_loop()
    start = loop.time()
    for n, at in enumerate(range(0, len(pcm), step)):
        await comm.send_to(bytes_data=pcm[at : at + step])
        while not await comm.receive_nothing(timeout=0.001, interval=0.001):
            message = await comm.receive_output()
            if message.get("bytes"):
                heard.append((loop.time(), message["bytes"]))
        await asyncio.sleep(max(0.0, start + (n + 1) * 0.02 - loop.time()))
    return as_heard(heard, rate)


@pytest.mark.parametrize("rate", [16000, 8000])
@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
@pytest.mark.virtual_time
@pytest.mark.usefixtures("hang_up_leftovers")
async def test_a_gpt_live_call_through_the_consumer(live_stand_in, rate):
    path = await start_call(**LIVE, sample_rate=rate)
    comm = communicator(path)
    assert (await comm.connect())[0]
    quiet = bytes(2 * rate * 2)
    heard = await talk(comm, quiet + tone(660, 1000, rate, amp=0.5) + quiet + bytes(rate), rate)
    await comm.disconnect()
    assert await wait_for(bridge_ended)

    # The caller heard the greeting and the answer: 1.5 s each of 440 Hz, clean.
    out = heard
    runs = loud_runs(out, rate, floor=300, shortest_s=0.1)
    assert len(runs) == 2, runs
    for start, end in runs:
        assert abs((end - start) / rate - 1.5) < 0.05
        assert snr_db(out[start + rate // 10 : end - rate // 10], rate, 440) > 60
    # GPT-Live heard the burst at 16 kHz (untouched, or through soxr from 8 kHz).
    model_heard = samples(bytes(live_stand_in.sessions[0].received))
    [(start, end)] = loud_runs(model_heard, 16000, floor=300, shortest_s=0.1)
    assert abs((end - start) / 16000 - 1.0) < 0.03
    assert abs(dominant_hz(model_heard[start:end], 16000) - 660) < 3

    call = await get_call()
    assert call.status == "completed" and call.ended_by == "caller"
    turns = await call_turns()
    assert [t.role for t in sorted(turns, key=lambda t: t.started_ms)] == [
        "agent", "caller", "agent",
    ]  # fmt: skip
    seconds = call.metadata["live"]["seconds"]
    assert seconds > 4
    assert call.openai_cost_usd == live_usd(seconds, call.metadata["live"]["backend_tokens"])
    assert call.openai_cost_usd > Decimal("0.003")  # 5 s or so at $0.05 a minute


@pytest.mark.django_db
def test_an_agent_on_gpt_live_needs_a_gpt_live_model():
    agent = Agent(name="X", phone_number=DEMO_NUMBER, instructions="x", engine="live")
    with pytest.raises(ValidationError, match="GPT-Live needs a GPT-Live model"):
        agent.full_clean()
    agent.model = "gpt-live-1.1"
    agent.full_clean()
    agent.engine = "realtime"
    with pytest.raises(ValidationError, match="needs the GPT-Live engine"):
        agent.full_clean()


def test_loud_runs_find_a_known_burst():
    x = samples(bytes(3200) + tone(440, 500, 16000, amp=0.5) + bytes(3200))
    [(start, end)] = loud_runs(x, 16000, floor=300)
    assert abs(start - 1600) <= 160 and abs(end - 9600) <= 160
    assert np.isclose(dominant_hz(x[start:end], 16000), 440, atol=5)
