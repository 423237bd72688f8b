"""The call simulator's media buffer behaves like mod_audio_fork's: back to back, killAudio
drops what has not played yet."""

from __future__ import annotations

import numpy as np

from streaming.devtools.simulator import _MediaBuffer, scripted_caller

RATE = 16000
FRAME = np.full(320, 1000, dtype="<i2").tobytes()  # 20 ms


def test_it_plays_frames_back_to_back():
    media = _MediaBuffer(RATE, start=0.0)
    for _ in range(5):
        media.add(FRAME, now=0.0)  # a burst arrives at once
    heard = media.finish()
    assert len(heard) == 5 * 320
    assert (heard == 1000).all()


def test_it_drops_what_has_not_played_on_kill():
    media = _MediaBuffer(RATE, start=0.0)
    for _ in range(5):
        media.add(FRAME, now=0.0)
    media.kill(now=0.030)  # 30 ms in: half of the second frame has played
    media.add(FRAME, now=0.5)
    heard = media.finish()
    assert np.count_nonzero(heard[: RATE // 2]) == 480
    assert np.count_nonzero(heard[RATE // 2 :]) == 320


def test_the_scripted_caller_speaks_twice():
    audio, spans = scripted_caller(RATE)
    assert len(spans) == 2
    for start, end in spans:
        assert np.abs(audio[int(start * RATE) : int(end * RATE)]).max() > 3000
    assert np.abs(audio[: int(spans[0][0] * RATE)]).max() == 0
