"""G.711 for GPT-Live's 8 kHz formats: the same codes as the ITU reference (Python's audioop,
on the Pythons that still have it), and the quality the standard promises."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from streaming.devtools import g711
from streaming.devtools.signals import samples, snr_db, tone

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    audioop = pytest.importorskip("audioop")

EVERY_SAMPLE = np.arange(-32768, 32768, dtype=np.int32).astype("<i2").tobytes()
EVERY_CODE = bytes(range(256))


@pytest.mark.parametrize(
    ("encode", "reference"), [(g711.ulaw_encode, "lin2ulaw"), (g711.alaw_encode, "lin2alaw")]
)
def test_it_encodes_every_sample_as_the_reference_does(encode, reference):
    assert encode(EVERY_SAMPLE) == getattr(audioop, reference)(EVERY_SAMPLE, 2)


@pytest.mark.parametrize(
    ("decode", "reference"), [(g711.ulaw_decode, "ulaw2lin"), (g711.alaw_decode, "alaw2lin")]
)
def test_it_decodes_every_code_as_the_reference_does(decode, reference):
    assert decode(EVERY_CODE) == getattr(audioop, reference)(EVERY_CODE, 2)


@pytest.mark.parametrize("kind", ["audio/pcmu", "audio/pcma"])
def test_a_tone_survives_with_the_quality_g711_promises(kind):
    # 1020 Hz, the telephone test tone: not a divisor of 8 kHz, so every code gets used.
    pcm = tone(1020, 500, 8000, amp=0.5)
    back = samples(g711.DECODE[kind](g711.ENCODE[kind](pcm)))
    assert len(back) == 4000
    assert snr_db(back, 8000, 1020) > 35  # about 37-39 dB for a loud tone, as G.711 promises
