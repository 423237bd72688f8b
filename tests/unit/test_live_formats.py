"""How an 8 kHz call travels to GPT-Live: up to 16 kHz with soxr, or as G.711 μ-law at 8 kHz.
Measured with known tones across the phone band, both ways; the better one is what
streaming.core.live.client.FORMATS picks (16 kHz calls need neither)."""

from __future__ import annotations

import numpy as np
import pytest

from streaming.core.audio.pcm import Resampler
from streaming.core.live.client import FORMATS
from streaming.devtools import g711
from streaming.devtools.signals import samples, snr_db, tone

# Hz, across what a phone line carries; none divides 8 kHz into a few samples (at 2000 Hz the
# samples would be 0, +A, 0, -A: μ-law's error would then be a tone at 2000 Hz itself).
PHONE_BAND = (300, 1020, 2020, 3000, 3400)


def steady(pcm: bytes, rate: int) -> np.ndarray:
    """The middle of a tone: filter start-up and tail left out."""
    x = samples(pcm)
    return x[rate // 10 : -rate // 10]


def through_soxr(pcm8: bytes) -> tuple[bytes, bytes]:
    """(what the model hears at 16 kHz, what the caller hears back at 8 kHz)."""
    up, down = Resampler(8000, 16000), Resampler(16000, 8000)
    heard = up.process(pcm8) + up.flush()
    return heard, down.process(heard) + down.flush()


def through_ulaw(pcm8: bytes) -> tuple[bytes, bytes]:
    heard = g711.ulaw_decode(g711.ulaw_encode(pcm8))
    return heard, g711.ulaw_decode(g711.ulaw_encode(heard))


@pytest.mark.parametrize("hz", PHONE_BAND)
def test_soxr_keeps_an_8_khz_call_cleaner_than_g711(hz):
    pcm = tone(hz, 1000, 8000, amp=0.5)
    soxr_heard, soxr_back = through_soxr(pcm)
    ulaw_heard, ulaw_back = through_ulaw(pcm)
    soxr_db = min(snr_db(steady(soxr_heard, 16000), 16000, hz),
                  snr_db(steady(soxr_back, 8000), 8000, hz))  # fmt: skip
    ulaw_db = min(snr_db(steady(ulaw_heard, 8000), 8000, hz),
                  snr_db(steady(ulaw_back, 8000), 8000, hz))  # fmt: skip
    assert soxr_db > 65, soxr_db
    assert ulaw_db < 40, ulaw_db  # G.711's own ceiling for a loud tone
    assert soxr_db > ulaw_db + 25


def test_gpt_live_hears_every_call_as_16_khz_pcm():
    assert FORMATS[16000] == {"type": "audio/pcm", "rate": 16000}  # no resampler at all
    assert FORMATS[8000] == {"type": "audio/pcm", "rate": 16000}  # soxr, by the numbers above
