"""PCM helpers and streaming resamplers for the bridge (plain numpy/soxr, no Django)."""

from __future__ import annotations

import numpy as np
import soxr

REALTIME_RATE = 24000
# The lowest-delay soxr quality that keeps a 10 kHz tone >= 60 dB down going 24 -> 16 kHz
# (measured by bench/resampler.py, table in docs/benchmarks.md).
QUALITY = "LQ"


def ms_to_bytes(ms: float, rate: int) -> int:
    return round(rate * ms / 1000) * 2


def bytes_to_ms(n: int, rate: int) -> float:
    return (n // 2) * 1000 / rate


# Louder than this (of 32767, about -50 dBFS) is speech; a model's track between answers is
# silence (zeros, or the faint noise of a real one).
AUDIBLE = 100


def audible(pcm: bytes) -> bool:
    """Whether S16LE audio carries anything louder than AUDIBLE."""
    samples = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2")
    return bool(samples.size) and int(np.abs(samples.astype(np.int32)).max()) > AUDIBLE


class OddByteCarry:
    """Frames may end mid-sample: keep the odd byte for the next frame."""

    def __init__(self) -> None:
        self._held = b""

    def push(self, data: bytes) -> bytes:
        data = self._held + data
        if len(data) % 2:
            self._held, data = data[-1:], data[:-1]
        else:
            self._held = b""
        return data


class Resampler:
    """One direction of one call: a soxr stream, so frame edges stay seamless."""

    def __init__(self, in_rate: int, out_rate: int, quality: str = QUALITY) -> None:
        self.in_rate = in_rate
        self.out_rate = out_rate
        self.quality = quality
        self._stream = soxr.ResampleStream(in_rate, out_rate, 1, dtype="int16", quality=quality)

    def process(self, pcm: bytes) -> bytes:
        if not pcm:
            return b""
        samples = np.frombuffer(pcm, dtype="<i2")
        out: bytes = self._stream.resample_chunk(samples).astype("<i2", copy=False).tobytes()
        return out

    def flush(self) -> bytes:
        """Release what the filter still holds (the tail of a response) and start afresh."""
        tail = self._stream.resample_chunk(np.zeros(0, dtype=np.int16), last=True)
        self._stream.clear()
        out: bytes = tail.astype("<i2", copy=False).tobytes()
        return out

    def reset(self) -> None:
        """Forget everything held, e.g. the interrupted answer on barge-in."""
        self._stream.clear()
