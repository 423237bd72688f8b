"""Barge-in, the bridge's part alone: what the caller cut of an answer, and what was heard in full.

Through the consumer: tests/app/test_barge_in.py."""

from __future__ import annotations

from streaming.core.realtime.answers import Answers


def test_it_ignores_late_audio_of_an_answer_the_caller_cut():
    answers = Answers()
    assert answers.audio("item_1", "resp_1", 4800)
    speaking = answers.speaking(still_playing=True)
    assert speaking is not None and speaking.sent_ms() == 100
    answers.cut(speaking)
    assert not answers.audio("item_1", "resp_1", 4800)
    assert answers.sent_ms("item_1") == 100
    assert not answers.finish("item_1")  # nothing more of it is played
    assert answers.speaking(still_playing=True) is None
    assert answers.had_audio("resp_1") and not answers.had_audio("resp_2")


def test_an_answer_heard_in_full_is_not_interrupted():
    answers = Answers()
    answers.audio("item_1", "resp_1", 4800)
    assert answers.unfinished() == ["item_1"]
    assert answers.finish("item_1")
    assert not answers.finish("item_1")
    assert answers.all_finished()
    assert answers.speaking(still_playing=True) is not None  # the caller still hears its end
    assert answers.speaking(still_playing=False) is None
