"""A call's two sides, kept on disk while the call runs and mixed into a stereo WAV at the end.

Left is the caller (what Sautikit sent), right is the agent (what the caller heard: the frames
written to the caller, cut where a barge-in cleared the media server's buffer). Both channels
share the call's clock: sample 0 is when the stream socket opened.
"""

from __future__ import annotations

import tempfile
import wave
from typing import IO

import numpy as np

# Both sides are spooled to disk beyond this, so a long call does not sit in memory.
SPOOL_BYTES = 1 << 20
MIX_CHUNK = 1 << 16  # samples per channel mixed at a time


class Recorder:
    def __init__(self, rate: int) -> None:
        self.rate = rate
        self._caller: IO[bytes] = tempfile.SpooledTemporaryFile(SPOOL_BYTES)  # noqa: SIM115 (closed by close())
        self._agent: IO[bytes] = tempfile.SpooledTemporaryFile(SPOOL_BYTES)  # noqa: SIM115 (closed by close())
        self._caller_at: int | None = None  # sample at which the caller's audio starts
        self._caller_len = 0
        self._agent_len = 0

    def caller(self, pcm: bytes, at_s: float) -> None:
        """Caller audio arrives continuously: only the first frame's time is needed."""
        if self._caller_at is None:
            self._caller_at = max(0, round(at_s * self.rate))
        self._caller.write(pcm)
        self._caller_len += len(pcm) // 2

    def agent(self, pcm: bytes, at_s: float) -> None:
        """A frame the caller will hear from `at_s` seconds into the call."""
        start = max(0, round(at_s * self.rate))
        self._agent.seek(start * 2)
        self._agent.write(pcm[: len(pcm) // 2 * 2])
        self._agent_len = max(self._agent_len, start + len(pcm) // 2)

    def cut_agent(self, at_s: float) -> None:
        """A barge-in: what was written after `at_s` was never heard."""
        end = max(0, round(at_s * self.rate))
        if end < self._agent_len:
            self._agent.seek(end * 2)
            self._agent.write(bytes((self._agent_len - end) * 2))

    @property
    def seconds(self) -> float:
        caller_end = (self._caller_at or 0) + self._caller_len
        return max(caller_end, self._agent_len) / self.rate

    def write_wav(self, out: IO[bytes]) -> float:
        """Mix both sides into a 16-bit stereo WAV; returns its length in seconds."""
        total = round(self.seconds * self.rate)
        caller_at = self._caller_at or 0
        with wave.open(out, "wb") as w:
            w.setnchannels(2)
            w.setsampwidth(2)
            w.setframerate(self.rate)
            for start in range(0, total, MIX_CHUNK):
                n = min(MIX_CHUNK, total - start)
                frames = np.zeros((n, 2), dtype="<i2")
                frames[:, 0] = self._read(self._caller, start - caller_at, n, self._caller_len)
                frames[:, 1] = self._read(self._agent, start, n, self._agent_len)
                w.writeframes(frames.tobytes())
        return total / self.rate

    @staticmethod
    def _read(source: IO[bytes], start: int, n: int, length: int) -> np.ndarray:
        """n samples from `start` (which may be negative or past the end: silence there)."""
        out = np.zeros(n, dtype="<i2")
        lo, hi = max(0, start), min(length, start + n)
        if hi > lo:
            source.seek(lo * 2)
            data = np.frombuffer(source.read((hi - lo) * 2), dtype="<i2")
            out[lo - start : lo - start + len(data)] = data
        return out

    def close(self) -> None:
        self._caller.close()
        self._agent.close()
