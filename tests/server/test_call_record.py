"""A whole simulated call, stored as operators read it back: transcript (with the interrupted
turn cut to what was heard), a tool call, usage and cost, latency per turn, the revision used,
and the stereo recording.

daphne and the fake Realtime run as processes on the test's own database; the call simulator
plays Sautikit over real sockets; a custom tool's endpoint is served from the test.
"""

from __future__ import annotations

import json
import wave
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from calls.models import Call, Status
from streaming.core.call.endings import EndedBy
from streaming.devtools.signals import dominant_hz, snr_db
from streaming.devtools.simulator import DEFAULT_PLAN
from tests.live_stack import ANSWER, BOOKING, THINK_MS, record_a_call

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_keeps_transcript_usage_latency_and_recording(clinic, tool_endpoint, tmp_path):
    report = record_a_call(tmp_path, "REC_1")
    call = Call.objects.get(call_id="REC_1")
    turns = list(call.turns.all())
    assert [t.role for t in turns] == ["agent", "caller", "agent", "caller", "tool", "agent"]
    greeting, ask, interrupted, barge, tool, answer = turns

    # Transcript, in call time.
    assert greeting.text == "Welcome to the clinic, how can I help?"
    assert greeting.latency_ms is None  # nobody had spoken yet
    assert ask.text == barge.text == "(the caller spoke)"
    (ask_start, ask_end), _ = _spans()
    # When the caller really spoke (OpenAI's padding and silence taken off), to the VAD's step.
    assert abs(ask.started_ms - ask_start * 1000) <= 100
    assert abs(ask.ended_ms - ask_end * 1000) <= 100
    assert ask.ended_ms < interrupted.started_ms < barge.started_ms < tool.started_ms

    # The interrupted answer is cut to what the caller heard.
    assert interrupted.interrupted and not answer.interrupted
    # OpenAI had produced part of the answer (audio and words) when the caller cut in.
    generated = interrupted.full_text.strip()
    assert generated and ANSWER.startswith(generated)
    assert 0 < interrupted.heard_ms < interrupted.audio_ms
    assert interrupted.text.endswith(" —")
    heard = interrupted.text.removesuffix(" —")
    assert 0 < len(heard.split()) < len(generated.split())
    assert generated.startswith(heard)
    share = interrupted.heard_ms / interrupted.audio_ms
    assert abs(len(heard) / len(generated) - share) < 0.25
    assert abs(interrupted.ended_ms - interrupted.started_ms - interrupted.heard_ms) < 150

    # The tool was called, signed, and its answer reached the model and the transcript.
    assert tool.tool_name == "look_up_booking"
    assert tool.tool_arguments == {"phone": "+254700000001"}
    assert tool.tool_ok is True and tool.tool_result == BOOKING
    [(body, headers)] = tool_endpoint.requests
    assert json.loads(body) == {"phone": "+254700000001"}
    assert headers["X-Call-Id"] == "REC_1"
    assert json.loads(answer.text.removeprefix("(the tool said: ").removesuffix(")")) == BOOKING

    # Latency: from the end of the caller's speech to the first audio sent back.
    assert interrupted.latency_ms is not None and answer.latency_ms is not None
    assert THINK_MS <= interrupted.latency_ms < THINK_MS + 500
    # The second answer waited for the function call and the tool's round trip as well.
    assert THINK_MS < answer.latency_ms < THINK_MS + 1500
    median_ms, worst_ms = call.latency_summary()
    assert worst_ms == max(interrupted.latency_ms, answer.latency_ms)
    assert median_ms == round((interrupted.latency_ms + answer.latency_ms) / 2)

    # Usage and cost: greeting, the interrupted answer, the function call, the answer after it.
    assert call.responses == 4
    assert call.tokens_output_audio > 0 and call.tokens_input_audio > 0
    assert call.tokens_input_cached_text > 0  # the prompt is cached from the second response
    expected = sum(
        Decimal(n) * price
        for n, price in [
            (call.tokens_input_text, Decimal("4.00")),
            (call.tokens_input_cached_text, Decimal("0.40")),
            (call.tokens_input_audio, Decimal("32.00")),
            (call.tokens_input_cached_audio, Decimal("0.40")),
            (call.tokens_output_text, Decimal("16.00")),
            (call.tokens_output_audio, Decimal("64.00")),
        ]
    ) / Decimal(1_000_000)
    assert abs(call.openai_cost_usd - expected) < Decimal("0.000001")
    assert call.cost.sautikit_kes == 0  # inbound calls are free
    assert call.cost.total_kes == (call.openai_cost_usd * Decimal("129.00")).quantize(
        Decimal("0.01")
    )

    # The revision used, and how it ended.
    assert call.agent_revision == clinic.current_revision
    assert call.status == Status.COMPLETED
    assert call.ended_by == EndedBy.CALLER
    assert report.barge_ins == 1

    # The recording: caller left, agent right, as long as the stream.
    path = Path(tmp_path / "media" / call.recording.name)
    with wave.open(str(path)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (2, 2, 16000)
        frames = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)
    seconds = len(frames) / 16000
    caller_s = sum(gap + talk for gap, talk in DEFAULT_PLAN)
    assert caller_s <= seconds < caller_s + 4.0  # the listening tail at most
    left, right = frames[:, 0], frames[:, 1]
    # The caller's speech is on the left, where the script put it, and not on the right.
    speech = slice(int(ask_start * 16000) + 1600, int(ask_end * 16000) - 1600)
    assert np.abs(left[speech]).max() > 3000
    assert np.abs(right[speech]).max() == 0
    # The agent's 440 Hz voice is on the right during the greeting, and not on the left.
    start = greeting.started_ms * 16
    greeting_audio = right[start + 1600 : start + 16000].astype(np.float64)
    assert abs(dominant_hz(greeting_audio, 16000) - 440) < 5
    assert snr_db(greeting_audio, 16000, 440) > 30
    assert np.abs(left[start + 1600 : start + 16000]).max() == 0
    # The right channel goes quiet where the barge-in cut the first answer.
    cut = interrupted.started_ms + interrupted.heard_ms
    assert np.abs(right[(cut + 60) * 16 : barge.ended_ms * 16]).max() == 0


def _spans() -> list[tuple[float, float]]:
    spans, t = [], 0.0
    for gap, talk in DEFAULT_PLAN:
        t += gap
        if talk:
            spans.append((t, t + talk))
            t += talk
    return spans
