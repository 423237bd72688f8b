"""The bridge's parts, each alone: no socket, no Django, no event loop unless a part needs one.
Barge-in's and the hand-over's parts have files of their own: test_barge_in.py, test_transfer.py."""

from __future__ import annotations

import numpy as np
import pytest

from streaming.core.audio.caller import CallerAudio
from streaming.core.audio.clock import CallClock
from streaming.core.audio.pcm import REALTIME_RATE, Resampler
from streaming.core.audio.pending import PendingAudio
from streaming.core.call.hangup import HangUp, HangUpRequest
from streaming.core.call.time_limits import Limits, is_openai_session_limit
from streaming.core.call.toolbox import END_CALL, TRANSFER_CALL, ToolBox
from streaming.core.realtime.transcript import Transcript


def test_it_counts_from_when_the_call_started():
    now = [50.0]
    clock = CallClock(lambda: now[0])
    now[0] = 51.25
    assert clock.seconds() == 1.25
    assert clock.ms() == 1250
    assert clock.ms(50.5) == 500
    assert clock.ms(49.0) == 0  # before the start reads as the start


def test_it_keeps_pending_audio_in_order_and_drops_the_oldest_past_its_limit():
    pending = PendingAudio(limit_bytes=6)
    for chunk in (b"aa", b"bb", b"cc", b"dd"):
        pending.add(chunk)
    assert len(pending) == 6
    assert [pending.take(), pending.take(), pending.take(), pending.take()] == [
        b"bb",
        b"cc",
        b"dd",
        None,
    ]
    assert len(pending) == 0


class Upstream:
    """Stands in for the Realtime client: keeps what the bridge appends."""

    def __init__(self) -> None:
        self.appended: list[bytes] = []

    async def append_audio(self, pcm: bytes) -> None:
        self.appended.append(pcm)


@pytest.mark.asyncio
async def test_caller_audio_waits_for_the_session_then_goes_up_in_order_at_24khz():
    upstream, reports = Upstream(), []
    clock = CallClock()
    transcript = Transcript(lambda kind, payload: reports.append(kind), {}, clock)
    caller = CallerAudio(16000, upstream, 5.0, clock, transcript, recorder=None)
    ramp = np.arange(1600, dtype="<i2").tobytes()  # 100 ms of 16 kHz
    await caller.feed(ramp[:321])  # an odd byte count: half a sample waits for the next frame
    await caller.feed(ramp[321:])
    assert upstream.appended == []
    await caller.session_opened()
    await caller.feed(ramp)
    sent = b"".join(upstream.appended)
    # 200 ms at 24 kHz, less what the resampler's filter still holds (under 20 ms)...
    assert 4800 - 480 <= len(sent) // 2 <= 4800, len(sent) // 2
    # ...and the frames resampled in order, the split sample made whole (soxr's last bit can
    # differ from run to run: its SIMD paths depend on where buffers sit in memory).
    reference = Resampler(16000, REALTIME_RATE)
    expected = b"".join(reference.process(c) for c in (ramp[:320], ramp[320:], ramp))
    assert len(sent) == len(expected)
    difference = np.frombuffer(sent, "<i2").astype(int) - np.frombuffer(expected, "<i2")
    assert np.abs(difference).max() <= 2


def test_it_answers_only_the_built_in_tools_the_agent_has():
    none = HangUp(ToolBox(end_call=False, transfer_to="", custom={}))
    assert none.builtin(END_CALL) is None
    assert none.builtin(TRANSFER_CALL) is None
    assert none.builtin("look_up") is None
    assert none.requested() is None


def test_it_keeps_the_first_hang_up_asked_and_waits_for_the_goodbye():
    hang_up = HangUp(ToolBox(end_call=True, transfer_to="+254700000009", custom={}))
    transfer = hang_up.builtin(TRANSFER_CALL)
    assert transfer is not None and transfer.ok
    assert "putting them through" in transfer.output()
    end = hang_up.builtin(END_CALL)
    assert end is not None and end.ok
    expected = HangUpRequest("the agent transferred the call to +254700000009", "+254700000009")
    assert hang_up.requested() == expected
    assert hang_up.after_goodbye() is None
    hang_up.goodbye_asked()
    assert hang_up.after_goodbye() == expected


def test_it_says_which_limit_a_call_reached():
    limits = Limits(max_call_s=120, silence_timeout_s=30)
    assert limits.overrun(lasted_s=60, quiet_s=10, playing=False) is None
    assert limits.overrun(120, 0, False) == "maximum call duration reached (120 s)"
    assert limits.overrun(60, 30, False) == "silence timeout (30 s)"
    assert limits.overrun(60, 30, playing=True) is None  # the agent is still speaking
    assert Limits(max_call_s=7200, silence_timeout_s=60).overrun(3600, 0, False) == (
        "maximum call duration reached (3600 s)"  # OpenAI's cap on a session
    )


@pytest.mark.parametrize(
    ("code", "lasted_s", "limit"),
    [(1001, 3590, True), (1001, 3000, False), (1000, 3590, False), (None, 3600, False)],
)
def test_it_tells_openais_hour_from_a_drop(code, lasted_s, limit):
    assert is_openai_session_limit(code, lasted_s) is limit
