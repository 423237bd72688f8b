"""The resampler alone: seamless across frames, tail flushed, reset forgets."""

from __future__ import annotations

from streaming.core.audio.pcm import OddByteCarry, Resampler
from streaming.devtools.signals import samples, snr_db, tone


def test_it_is_seamless_across_20ms_frames():
    whole = Resampler(16000, 24000)
    framed = Resampler(16000, 24000)
    pcm = tone(1000, 1000, 16000)
    a = whole.process(pcm) + whole.flush()
    b = b"".join(framed.process(pcm[i : i + 640]) for i in range(0, len(pcm), 640))
    b += framed.flush()
    # The same samples, to within soxr's dither on int16 output (a few steps of 32768):
    # no clicks at frame edges.
    assert len(a) == len(b)
    assert abs(samples(a) - samples(b)).max() <= 3
    assert snr_db(samples(b)[2400:-2400], 24000, 1000) >= 60


def test_it_releases_the_tail_on_flush():
    down = Resampler(24000, 16000)
    out = down.process(tone(440, 500, 24000))
    tail = down.flush()
    assert len(out) < 16000
    assert len(out) + len(tail) == 16000  # 500 ms in, 500 ms out: nothing lost
    assert tail


def test_it_forgets_held_audio_on_reset():
    down = Resampler(24000, 16000)
    down.process(tone(440, 100, 24000))
    down.reset()
    silence = down.process(b"\x00\x00" * 2400) + down.flush()
    # Nothing of the 440 Hz tone (peak ~9800) comes back: at most dither.
    assert abs(samples(silence)).max() <= 3


def test_it_carries_an_odd_byte_to_the_next_frame():
    carry = OddByteCarry()
    assert carry.push(b"\x01\x02\x03") == b"\x01\x02"
    assert carry.push(b"\x04") == b"\x03\x04"
    assert carry.push(b"") == b""
