"""Turns of the transcript: an interrupted agent turn keeps only what the caller heard, whatever
order the bridge's reports arrive in."""

from __future__ import annotations

import pytest

from calls.models import Call
from calls.turns import Turn, cut_words
from streaming.core.audio.clock import CallClock
from streaming.core.realtime.transcript import Transcript


def test_it_cuts_to_whole_words_at_the_share_heard():
    text = "Your appointment is on Tuesday at ten"
    assert cut_words(text, 1.0) == text
    assert cut_words(text, 0.0) == ""
    assert cut_words(text, 0.5) == "Your appointment is —"
    assert cut_words(text, 0.05) == ""  # not even the first word was heard whole


@pytest.mark.django_db
@pytest.mark.parametrize("order", [(0, 1, 2), (2, 1, 0), (1, 2, 0)])
def test_reports_fold_into_one_turn_in_any_order(agent, order):
    call = Call.objects.create(call_id="T1", agent=agent)
    reports = [
        {"started_ms": 1000, "latency_ms": 350},
        {"interrupted": True, "heard_ms": 500, "audio_ms": 2000, "ended_ms": 1500},
        {"text": "one two three four five six seven eight"},
    ]
    turn = Turn(call=call, role="agent", item_id="item_1")
    for i in order:
        turn.update(reports[i])
    assert turn.full_text == "one two three four five six seven eight"
    assert turn.text == "one two —"
    assert (turn.started_ms, turn.ended_ms, turn.latency_ms) == (1000, 1500, 350)


def test_the_tracker_reports_when_the_caller_really_spoke():
    reports: list[tuple[str, dict]] = []
    now = [100.0]
    tracker = Transcript(
        lambda kind, payload: reports.append((kind, payload)),
        {"prefix_padding_ms": 300, "silence_duration_ms": 500},
        CallClock(lambda: now[0]),
    )
    now[0] = 100.2
    tracker.caller_audio_started()  # the first caller frame, 200 ms after the socket opened
    tracker.speech_started({"item_id": "i1", "audio_start_ms": 700})
    tracker.speech_stopped({"item_id": "i1", "audio_end_ms": 2500})
    now[0] = 103.0
    tracker.agent_frame("a1", begins=103.0)
    tracker.agent_frame("a1", begins=103.02)  # only the first frame starts the turn
    assert [p for _, p in reports] == [
        # One report when the caller stopped: when they really spoke.
        {"item_id": "i1", "role": "caller", "started_ms": 1200, "ended_ms": 2200},
    ]
    tracker.caller_said({"item_id": "i1", "transcript": "hello"})  # words come after
    assert reports[-1][1] == {"item_id": "i1", "role": "caller", "text": "hello"}
    tracker.flush()  # the call ends while the agent is still speaking
    # From the speech_stopped event (at 0.2 s) to the first frame written (at 3.0 s).
    assert reports[-1][1] == {"item_id": "a1", "role": "agent", "started_ms": 3000,
                              "latency_ms": 2800}  # fmt: skip
    assert len(reports) == 3
