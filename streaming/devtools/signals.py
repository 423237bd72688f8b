"""Known signals and their measurements, for measuring the audio path (tests and bench)."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np


def tone(freq: float, ms: float, rate: int, amp: float = 0.3) -> bytes:
    n = int(rate * ms / 1000)
    t = np.arange(n) / rate
    return (amp * 32767 * np.sin(2 * np.pi * freq * t)).astype("<i2").tobytes()


def samples(pcm: bytes) -> np.ndarray:
    return np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2").astype(np.float64)


def keep_wav(folder: str | None, name: str, pcm: bytes, rate: int) -> str:
    """S16LE mono audio as folder/name.wav, for whoever checks it; its path ("" without a
    folder)."""
    if not folder:
        return ""
    path = Path(folder) / f"{name}.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
    return str(path)


def snr_db(x: np.ndarray, rate: int, freq: float) -> float:
    """Power of the best-fitting sinusoid at `freq` over the power of everything else."""
    t = np.arange(len(x)) / rate
    basis = np.column_stack([np.sin(2 * np.pi * freq * t), np.cos(2 * np.pi * freq * t)])
    coef, *_ = np.linalg.lstsq(basis, x, rcond=None)
    fit = basis @ coef
    noise = x - fit
    return float(10 * np.log10(np.sum(fit**2) / max(np.sum(noise**2), 1e-12)))


def dominant_hz(x: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[np.argmax(spectrum)])


def band_db(x: np.ndarray, rate: int, freq: float, reference: float, width: float = 50) -> float:
    """Level around `freq` relative to the level around `reference`, in dB (Blackman-Harris)."""
    n = len(x)
    window = np.blackman(n) ** 2  # sidelobes far below -100 dB
    spectrum = np.abs(np.fft.rfft(x * window)) ** 2
    freqs = np.fft.rfftfreq(n, 1 / rate)

    def power(f: float) -> float:
        return float(spectrum[np.abs(freqs - f) <= width].sum())

    return float(10 * np.log10(max(power(freq), 1e-20) / power(reference)))


def active_span(x: np.ndarray, threshold: float = 500) -> tuple[int, int]:
    """First and last sample index louder than `threshold`."""
    loud = np.flatnonzero(np.abs(x) > threshold)
    return (int(loud[0]), int(loud[-1])) if len(loud) else (0, 0)


def loud_runs(
    x: np.ndarray, rate: int, floor: float, shortest_s: float = 0.0
) -> list[tuple[int, int]]:
    """(start, end) sample indexes of the stretches whose RMS over 10 ms windows is above
    `floor` (in the samples' own units), at least `shortest_s` long."""
    window = rate // 100
    n = len(x) // window
    loud = np.sqrt(np.mean(x[: n * window].reshape(n, window) ** 2, axis=1)) > floor
    runs: list[tuple[int, int]] = []
    start: int | None = None
    for i, on in enumerate(loud):
        if on and start is None:
            start = i
        elif not on and start is not None:
            runs.append((start * window, i * window))
            start = None
    if start is not None:
        runs.append((start * window, n * window))
    return [(a, b) for a, b in runs if b - a >= shortest_s * rate]
