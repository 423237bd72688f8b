"""A call through GPT-Live's bridge path against the stand-in, measured with known signals:
what the model heard (pitch, length, and at 16 kHz every byte), what the caller heard back, how
soon the caller stops hearing a model that was talked over, and the turns and seconds kept."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import numpy as np
import pytest

from agents.models import settings_from
from streaming.core.audio.clock import loop_now
from streaming.core.call.bridge import TURN, CallParts
from streaming.core.call.endings import EndedBy
from streaming.core.call.time_limits import Limits
from streaming.core.call.toolbox import ToolBox, ToolSpec
from streaming.core.live.bridge import LiveBridge
from streaming.core.live.client import LiveClient
from streaming.devtools import signals
from streaming.devtools.fake_live import FakeLiveServer, LiveOptions
from streaming.devtools.signals import dominant_hz, samples, snr_db, tone
from streaming.devtools.simulator import as_heard
from streaming.devtools.virtual_time import VirtualTimeLoop
from tests.live_types import check_client_event

pytestmark = [pytest.mark.asyncio, pytest.mark.virtual_time]

BURST_HZ, REPLY_HZ = 660.0, 440.0


class Call:
    """One call: the bridge, the stand-in, and what the caller's side received, with times."""

    def __init__(self, rate: int, **options: Any) -> None:
        self.rate = rate
        self.options = LiveOptions(**options)
        self.frames: list[tuple[float, bytes]] = []
        self.reports: list[tuple[str, dict[str, Any]]] = []
        self.fed = bytearray()
        self.texts: list[str] = []

    async def start(self, fallback: str = "", tools: ToolBox | None = None,
                    agent_fields: dict[str, Any] | None = None,
                    **limits: float) -> None:  # fmt: skip
        self.server = await FakeLiveServer(self.options).start()
        tools = tools or ToolBox(end_call=False, transfer_to="", custom={})
        agent = settings_from({"model": "gpt-live-1.1", "instructions": "Be brief.",
                               "greeting": "Greet the caller.", "sample_rate": self.rate,
                               "fallback_number": fallback, **(agent_fields or {})})  # fmt: skip
        parts = CallParts(agent, self._heard, self._text, lambda k, p: self.reports.append((k, p)),
                          Limits(**{"max_call_s": 60, "silence_timeout_s": 30, **limits}), tools,
                          call_id="live-1")  # fmt: skip
        self.bridge = LiveBridge(parts, LiveClient(self.server.url, "sk-test", 5))
        await self.bridge.start()

    async def _heard(self, frame: bytes) -> None:
        self.frames.append((loop_now(), frame))

    async def _text(self, text: str) -> None:
        self.texts.append(text)  # (GPT-Live sends none: its track goes quiet by itself)

    async def say(self, pcm: bytes) -> None:
        """The caller's side, as Sautikit sends it: 20 ms frames in real time."""
        step = self.rate // 50 * 2
        start = loop_now()
        for n, at in enumerate(range(0, len(pcm), step)):
            await self.bridge.feed(pcm[at : at + step])
            self.fed += pcm[at : at + step]
            await asyncio.sleep(max(0.0, start + (n + 1) * 0.02 - loop_now()))

    async def hang_up(self) -> None:
        await self.bridge.stop("caller hung up", ended_by=EndedBy.CALLER)
        await self.server.stop()

    @property
    def session(self):
        return self.server.sessions[0]

    def heard(self) -> np.ndarray:
        return as_heard(self.frames, self.rate)

    def turns(self) -> list[dict[str, Any]]:
        return [payload for kind, payload in self.reports if kind == TURN]


def loud_runs(x: np.ndarray, rate: int) -> list[tuple[int, int]]:
    return signals.loud_runs(x, rate, floor=300, shortest_s=0.1)


def caller_turn(rate: int) -> bytes:
    """Quiet while the agent greets, a 660 Hz burst of 1 s, quiet while it answers."""
    quiet = bytes(2 * rate * 2)
    return quiet + tone(BURST_HZ, 1000, rate, amp=0.5) + quiet + bytes(rate)


@pytest.mark.parametrize("rate", [16000, 8000])
async def test_a_call_is_heard_and_answered_with_known_signals(rate):
    call = Call(rate, answers=["Karibu, how can I help?"])
    await call.start()
    await call.say(caller_turn(rate))
    await call.hang_up()

    # The model heard the burst at its pitch and length; at 16 kHz, every byte as sent.
    heard = samples(bytes(call.session.received))
    if rate == 16000:
        assert bytes(call.session.received) == bytes(call.fed)  # no resampler at all
    [(start, end)] = loud_runs(heard, 16000)
    assert abs((end - start) / 16000 - 1.0) < 0.03
    assert abs(dominant_hz(heard[start:end], 16000) - BURST_HZ) < 3
    assert snr_db(heard[start + 1600 : end - 1600], 16000, BURST_HZ) > 60

    # The caller heard the greeting and the answer, each 1.5 s of 440 Hz, clean.
    out = call.heard()
    runs = loud_runs(out, rate)
    assert len(runs) == 2, runs
    for start, end in runs:
        assert abs((end - start) / rate - 1.5) < 0.04
        assert snr_db(out[start + rate // 10 : end - rate // 10], rate, REPLY_HZ) > 60
    # (Gaps in the playout are measured by make bench, not here: this machine is shared.)


async def test_the_turns_and_the_seconds_are_kept():
    call = Call(16000, answers=["Karibu, how can I help?"])
    await call.start()
    await call.say(caller_turn(16000))
    await call.hang_up()
    turns = call.turns()
    assert [(t["role"], t["text"]) for t in turns] == [
        ("agent", "Greet the caller."),
        ("caller", "(the caller spoke)"),
        ("agent", "Karibu, how can I help?"),
    ]
    assert all(t["started_ms"] <= t["ended_ms"] for t in turns)
    assert turns[0]["ended_ms"] <= turns[1]["started_ms"] <= turns[2]["started_ms"]
    assert 0 <= turns[2]["latency_ms"] < 1500
    [usage] = [p for k, p in call.reports if k == "live usage"]
    assert usage["closed"] == "close_requested" and usage["seconds"] > 4
    assert call.bridge.result().ending.ended_by == EndedBy.CALLER


async def test_talked_over_the_caller_stops_hearing_it_within_a_frame_or_two():
    call = Call(16000, reply_ms=4000)
    await call.start()
    await call.say(bytes(2 * 16000 // 2))  # the greeting plays for half a second
    await call.say(tone(300, 1500, 16000, amp=0.5))  # the caller talks over it
    await call.say(bytes(2 * 16000 * 700 // 1000))  # and is quiet long enough to be done
    await call.hang_up()
    [stopped_at, *_] = call.session.stopped_at
    loud = [t for t, frame in call.frames if np.abs(samples(frame)).max() > 300]
    # After the model stopped: the frames already on their way (the playout's 40 ms lead and
    # the frame being written), no more until it answers, once the caller is done (1.5 s on).
    assert max(t for t in loud if t < stopped_at + 1.0) - stopped_at < 0.1
    assert not [t for t in loud if stopped_at + 0.1 < t < stopped_at + 1.5]
    # The call's page marks the greeting cut short, as on the Realtime path (known once the
    # caller's words arrive, when they have finished).
    greeting, *_ = [t for t in call.turns() if t["role"] == "agent"]
    assert greeting.get("interrupted") is True
    assert greeting["ended_ms"] - greeting["started_ms"] < 800


async def test_after_a_stall_the_caller_catches_up_in_the_tracks_silence():
    """The track comes in real time and plays in real time: what came late, all at once, would
    stay queued for the rest of the call. The bridge sends only speech: it drains in pauses."""
    call = Call(16000)
    await call.start()
    await call.say(bytes(2 * 16000 * 2))  # the greeting, then quiet
    # Everything here stalls (the loop's clock moves on, nothing runs): the track's next
    # 400 ms then come at once.
    stall(0.4)
    await call.say(bytes(2 * 16000) + caller_turn(16000))
    await call.hang_up()
    answer_sent = call.session.speech_sent_at[-1]
    heard = [
        t for t, frame in call.frames if t > answer_sent and np.abs(samples(frame)).max() > 300
    ]
    assert heard[0] - answer_sent < 0.1  # not 0.4 s behind, as it would be with the silence
    # Only the model's speech went to the caller: the greeting and the answer, whole.
    assert all(np.abs(samples(frame)).max() > 100 for _, frame in call.frames)
    assert [round((e - s) / 16000, 1) for s, e in loud_runs(call.heard(), 16000)] == [1.5, 1.5]


async def test_an_answer_heard_to_its_end_is_not_marked_interrupted():
    call = Call(16000)
    await call.start()
    await call.say(caller_turn(16000))
    await call.hang_up()
    agent = [t for t in call.turns() if t["role"] == "agent"]
    assert len(agent) == 2 and not any(t.get("interrupted") for t in agent)


async def test_the_session_reaching_its_limit_ends_the_call():
    call = Call(16000, max_session_s=1)
    await call.start()
    await call.say(bytes(2 * 16000 * 2))
    await asyncio.wait_for(call.bridge.wait_ended(), 5)
    ending = call.bridge.result().ending
    assert ending.ended_by == EndedBy.LIMIT and not ending.failed
    await call.server.stop()


async def test_gpt_live_vanishing_hands_the_caller_to_the_fallback():
    call = Call(16000)
    await call.start(fallback="+254722000999")
    await call.say(bytes(2 * 16000 // 2))
    await call.server.stop()  # OpenAI goes away mid-call
    await asyncio.wait_for(call.bridge.wait_ended(), 5)
    ending = call.bridge.result().ending
    assert ending.failed and ending.transfer_to == "+254722000999"


async def test_the_agent_hangs_up_through_the_backend_once_its_goodbye_is_said():
    call = Call(16000, tool_calls={1: ("end_call", {})})
    await call.start(tools=ToolBox(end_call=True, transfer_to="", custom={}))
    await call.say(caller_turn(16000) + bytes(2 * 16000 * 2))
    await asyncio.wait_for(call.bridge.wait_ended(), 10)
    ending = call.bridge.result().ending
    assert ending.ended_by == EndedBy.AGENT and ending.reason == "the agent ended the call"
    for event in call.session.got:
        check_client_event(event)  # function_call_output and response.create, as published
    kinds = [e["type"] for e in call.session.got]
    assert kinds.index("response.item.create") < kinds.index("response.create")
    [tool] = [t for t in call.turns() if t["role"] == "tool"]
    assert tool["tool_name"] == "end_call" and tool["tool_ok"] is True
    said = call.turns()[-1]
    assert said["role"] == "agent" and said["text"].startswith("(the tool said:")
    await call.server.stop()


@pytest.mark.real_time  # the tool endpoint answers from a thread of its own
async def test_a_custom_tool_answers_through_the_backend():
    from tests.live_stack import ToolEndpoint, json_answer

    endpoint = ToolEndpoint(json_answer({"booking": "Tuesday 10:00"}))
    spec = ToolSpec(name="look_up_booking", description="Finds a booking.",
                    parameters={"type": "object", "properties": {"phone": {"type": "string"}}},
                    endpoint=endpoint.url, secret="s", timeout_s=5,
                    allow_loopback=True)  # fmt: skip
    call = Call(16000, tool_calls={1: ("look_up_booking", {"phone": "+254700000001"})})
    try:
        await call.start(tools=ToolBox(end_call=False, transfer_to="",
                                       custom={"look_up_booking": spec}))  # fmt: skip
        await call.say(caller_turn(16000) + bytes(2 * 16000 * 2))
        await call.hang_up()
    finally:
        endpoint.close()
    [(body, _)] = endpoint.requests
    assert json.loads(body) == {"phone": "+254700000001"}
    assert call.session.tool_outputs == {
        next(iter(call.session.function_calls)): '{"booking": "Tuesday 10:00"}'
    }
    assert any("Tuesday 10:00" in t["text"] for t in call.turns() if t["role"] == "agent")
    [usage] = [p for k, p in call.reports if k == "live usage"]
    assert usage["backend_tokens"]["output"] > 0


@pytest.mark.parametrize(
    "fields, expected",
    [
        ({"backend_instructions": "Look the booking up first.", "backend_model": "gpt-5"},
         ("Look the booking up first.", "gpt-5")),
        ({}, ("Be brief.", "gpt-5-mini")),  # none of its own: the agent's instructions
    ],
)  # fmt: skip
async def test_the_backend_gets_the_agents_instructions_for_tools_and_model(fields, expected):
    call = Call(16000)
    await call.start(tools=ToolBox(end_call=True, transfer_to="", custom={}), agent_fields=fields)
    await call.say(bytes(2 * 16000 // 5))
    await call.hang_up()
    backend = call.session.got[0]["session"]["delegation"]["responses"]
    assert (backend["instructions"], backend["model"]) == expected
    assert call.session.got[0]["session"]["instructions"] == "Be brief."  # the voice's own
    [usage] = [p for k, p in call.reports if k == "live usage"]
    assert usage["backend_model"] == expected[1]


def stall(seconds: float) -> None:
    """The loop blocked: on the virtual clock it moves on with nothing run, on a real loop
    (make test's pass on Redis) it is blocked for real."""
    loop = asyncio.get_running_loop()
    if isinstance(loop, VirtualTimeLoop):
        loop.advance(seconds)
    else:
        time.sleep(seconds)
