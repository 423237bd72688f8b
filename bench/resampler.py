"""(a) soxr qualities measured as the bridge uses them: 20 ms frames through a stream."""

from __future__ import annotations

import time

import numpy as np
import soxr

from streaming.devtools import signals

QUALITIES = ["QQ", "LQ", "MQ", "HQ", "VHQ"]


def tone(freq: float, seconds: float, rate: int) -> np.ndarray:
    return np.frombuffer(signals.tone(freq, seconds * 1000, rate), dtype="<i2")


def stream(x: np.ndarray, in_rate: int, out_rate: int, quality: str) -> tuple[np.ndarray, list]:
    """Resample in 20 ms frames; return the output and (input ms fed, output ms released)."""
    s = soxr.ResampleStream(in_rate, out_rate, 1, dtype="int16", quality=quality)
    frame = in_rate // 50
    outs, progress, fed, released = [], [], 0, 0
    for i in range(0, len(x), frame):
        chunk = x[i : i + frame]
        out = s.resample_chunk(chunk)
        fed += len(chunk)
        released += len(out)
        outs.append(out)
        progress.append((fed / in_rate * 1000, released / out_rate * 1000))
    return np.concatenate(outs).astype(np.float64), progress


def stream_delay_ms(in_rate: int, out_rate: int, quality: str) -> tuple[float, float]:
    """Median and worst of (audio fed - audio released) after each frame, past start-up."""
    _, progress = stream(tone(440, 2, in_rate), in_rate, out_rate, quality)
    lags = [fed - out for fed, out in progress[5:]]
    return float(np.median(lags)), float(max(lags))


def alias_db(quality: str, out_rate: int = 16000) -> float:
    """A 10 kHz tone going 24 kHz -> out_rate, relative to a 440 Hz tone of the same level."""
    ref, _ = stream(tone(440, 1, 24000), 24000, out_rate, quality)
    high, _ = stream(tone(10000, 1, 24000), 24000, out_rate, quality)
    cut = out_rate // 10
    return float(10 * np.log10(np.mean(high[cut:-cut] ** 2) / np.mean(ref[cut:-cut] ** 2)))


def cpu_us_per_audio_s(quality: str) -> float:
    x = tone(440, 10, 24000)
    start = time.process_time()
    stream(x, 24000, 16000, quality)
    return (time.process_time() - start) / 10 * 1e6


def measure() -> list[dict]:
    rows = []
    for q in QUALITIES:
        up, _ = stream(tone(1000, 2, 16000), 16000, 24000, q)
        down, _ = stream(tone(440, 2, 24000), 24000, 16000, q)
        rows.append(
            {
                "quality": q,
                "up_delay": stream_delay_ms(16000, 24000, q),
                "up8_delay": stream_delay_ms(8000, 24000, q),
                "down_delay": stream_delay_ms(24000, 16000, q),
                "up_snr": signals.snr_db(up[2400:-2400], 24000, 1000),
                "down_snr": signals.snr_db(down[1600:-1600], 16000, 440),
                "alias16": alias_db(q, 16000),
                "alias8": alias_db(q, 8000),
                "cpu": cpu_us_per_audio_s(q),
            }
        )
    return rows


def table(rows: list[dict]) -> str:
    lines = [
        "| quality | delay 16→24 kHz (median / worst) | delay 8→24 kHz | delay 24→16 kHz "
        "| SNR 1 kHz 16→24 | SNR 440 Hz 24→16 | 10 kHz at 16 kHz | 10 kHz at 8 kHz "
        "| CPU per audio second |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['quality']} | {r['up_delay'][0]:.1f} / {r['up_delay'][1]:.1f} ms "
            f"| {r['up8_delay'][0]:.1f} / {r['up8_delay'][1]:.1f} ms "
            f"| {r['down_delay'][0]:.1f} / {r['down_delay'][1]:.1f} ms "
            f"| {r['up_snr']:.1f} dB | {r['down_snr']:.1f} dB | {r['alias16']:.1f} dB "
            f"| {r['alias8']:.1f} dB | {r['cpu']:.0f} µs |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(table(measure()))
