"""(b) one call and (c) N concurrent calls through the real server (one daphne process, or
`make serve`'s production shape) or the minimal relay (bare, or under daphne), with the fake
Realtime.

Every process here reads the same clock (time.monotonic is CLOCK_MONOTONIC on Linux), so the
fake's receive times and the simulated callers' send times can be compared directly.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import websockets

from streaming.core.audio.pcm import REALTIME_RATE, Resampler
from streaming.core.live.client import LIVE_RATE
from streaming.devtools.servers import (
    BASE_NUMBER,
    EMBEDDED,
    LIVE,
    REALTIME,
    RELAYS,
    Servers,
    start_servers,
)
from streaming.devtools.simulator import CallReport, scripted_caller, simulate_call, stream_call
from streaming.ground.heap import set_aside_start_up

BASE_CALLER = 254700500000
SETUP_FRAMES = 25
# A dense conversation: the greeting, then six things said, each answered; the first answer is
# talked over (barge-in). (silence before, speech) in seconds: about 22 s of call.
PLAN = [(2.0, 1.2), (1.0, 0.8), (2.5, 1.0), (2.5, 1.2), (2.5, 0.9), (2.5, 1.0), (3.0, 0.0)]
# Calls arrive this fast (a busy call centre's Monday morning, and then some): 200 calls are
# all set up within 10 s, and all live together for the rest of the 22 s conversation.
ARRIVALS_PER_S = 20
# The steady window: from this long after the last call arrived (its set-up done) to this long
# before the first call's script ends; skipped when shorter than STEADY_MIN_S.
STEADY_AFTER_LAST_S = 2.0
STEADY_BEFORE_END_S = 2.0
STEADY_MIN_S = 3.0


# -- measuring one call -----------------------------------------------------------------------


@dataclass
class CallFigures:
    inbound_lags_ms: list[float]
    first_audio_ms: float | None
    barge_in_tail_ms: list[float]
    gaps: int
    worst_gap_ms: float
    truncate_errors: int


# The rate each engine's model hears: what the bridge resamples the caller to, if anything.
MODEL_RATES = {REALTIME: REALTIME_RATE, LIVE: LIVE_RATE}


def produced_by(rate: int, n_frames: int, model_rate: int = REALTIME_RATE) -> np.ndarray:
    """Cumulative samples at `model_rate` the bridge has released after each caller frame:
    what its resampler gives, or each frame as it came when the rates are the same."""
    if rate == model_rate:
        return np.arange(1, n_frames + 1) * (rate // 50)
    frame = np.zeros(rate // 50, dtype="<i2").tobytes()
    up = Resampler(rate, model_rate)
    total, out = 0, []
    for _ in range(n_frames):
        total += len(up.process(frame)) // 2
        out.append(total)
    return np.array(out)


def figures(report: CallReport, fake: dict, engine: str = REALTIME) -> CallFigures:
    rate = report.rate
    produced = produced_by(rate, len(report.sent_at), MODEL_RATES[engine])
    lags = []
    for received_time, total_bytes in fake["received_at"]:
        k = int(np.searchsorted(produced, total_bytes // 2))  # the frame that completed it
        # The first half second is held while OpenAI's session opens: set-up, not lag.
        if SETUP_FRAMES <= k < len(report.sent_at):
            lags.append((received_time - report.sent_at[k]) * 1000)
    first = None
    if report.first_audio_at and fake["first_delta_sent_at"]:
        first = (report.first_audio_at - fake["first_delta_sent_at"]) * 1000
    heard = report.heard if report.heard is not None else np.zeros(0)
    tails = []
    for kind, at in fake["speech_events"]:
        if kind != "started":
            continue
        start = int((at - report.t0) * rate)
        window = heard[max(start, 0) : start + rate // 2]  # the next answer is >= 0.5 s away
        loud = np.flatnonzero(np.abs(window) > 100)
        tails.append(0.0 if not len(loud) else (loud[-1] + 1) / rate * 1000)
    return CallFigures(
        inbound_lags_ms=lags,
        first_audio_ms=first,
        barge_in_tail_ms=tails,
        gaps=count_gaps(heard, rate),
        worst_gap_ms=worst_gap_ms(heard, rate),
        truncate_errors=len(fake["errors"]),
    )


def silences_inside_answers(heard: np.ndarray, rate: int) -> np.ndarray:
    """Lengths (samples) of the silent runs of 5 ms or more inside an answer (answers are
    separated by >= 300 ms)."""
    idx = np.flatnonzero(np.abs(heard) > 0)
    if not len(idx):
        return np.zeros(0, dtype=int)
    runs = np.diff(idx)
    min_gap, answer_gap = int(0.005 * rate), int(0.3 * rate)
    return runs[(runs > min_gap) & (runs < answer_gap)]


def count_gaps(heard: np.ndarray, rate: int) -> int:
    return len(silences_inside_answers(heard, rate))


def worst_gap_ms(heard: np.ndarray, rate: int) -> float:
    gaps = silences_inside_answers(heard, rate)
    return float(gaps.max() - 1) / rate * 1000 if len(gaps) else 0.0


def read_fake_stats(path: str) -> dict[str, dict]:
    by_call = {}
    if os.path.exists(path):
        for line in Path(path).read_text().splitlines():
            row = json.loads(line)
            by_call[row["instructions"]] = row
    return by_call


# -- one process's load --------------------------------------------------------------------------


def proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def run_calls(servers: Servers, n: int) -> tuple[list[CallReport], dict]:
    set_aside_start_up()  # the callers' own collections would be measured as the server's lag
    pids = servers.pids()
    baseline_rss = sum(proc_rss_mb(pid) for pid in pids)
    peak = [baseline_rss]
    stop = asyncio.Event()

    async def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], sum(proc_rss_mb(pid) for pid in pids))
            await asyncio.sleep(0.25)

    steady: list[float] = []

    async def steady_window() -> None:
        """CPU while every call is live and none is being set up or ending: the audio's own
        cost, without the webhooks and records of calls starting and ending."""
        start = (n - 1) / ARRIVALS_PER_S + STEADY_AFTER_LAST_S
        end = scripted_call_seconds() - STEADY_BEFORE_END_S
        if end - start < STEADY_MIN_S:
            return
        await asyncio.sleep(start)
        cpu, t = sum(proc_cpu_s(pid) for pid in pids), time.monotonic()
        await asyncio.sleep(end - start)
        used = sum(proc_cpu_s(pid) for pid in pids) - cpu
        steady.append(used / ((time.monotonic() - t) * n / 60))

    async def one(i: int) -> CallReport:
        await asyncio.sleep(i / ARRIVALS_PER_S)
        try:
            return await place(i)
        except (OSError, websockets.WebSocketException) as e:  # counted, not fatal
            return CallReport(f"BENCH_{i}", refused=f"{type(e).__name__}: {e}")

    async def place(i: int) -> CallReport:
        if servers.shape in RELAYS:  # no webhooks: straight to the stream
            return await relay_call(servers, i)
        # One caller per call, as on a real line (the per-caller limits would refuse one caller
        # calling N times at once).
        return await simulate_call(
            servers.base_url, f"+{BASE_NUMBER + i}", caller=f"+{BASE_CALLER + i}", out=None,
            tail_s=2.0, call_id=f"BENCH_{i}", plan=PLAN,
        )  # fmt: skip

    sampler = asyncio.create_task(sample())
    cpu0, t0 = sum(proc_cpu_s(pid) for pid in pids), time.monotonic()
    window = asyncio.create_task(steady_window())
    reports = await asyncio.gather(*(one(i) for i in range(n)))
    await window
    cpu1, t1 = sum(proc_cpu_s(pid) for pid in pids), time.monotonic()
    stop.set()
    await sampler
    call_minutes = sum(len(r.sent_at) * 0.02 for r in reports) / 60
    load = {
        "cpu_s_per_call_minute": (cpu1 - cpu0) / call_minutes if call_minutes else 0,
        "cpu_share": (cpu1 - cpu0) / (t1 - t0),
        "steady_cpu_s_per_call_minute": steady[0] if steady else float("nan"),
        "mb_per_call": (peak[0] - baseline_rss) / n,
        "baseline_mb": baseline_rss,
    }
    return list(reports), load


async def relay_call(servers: Servers, i: int) -> CallReport:
    """The scripted caller, straight onto the relay's stream socket."""
    report = CallReport(f"BENCH_{i}")
    audio, spans = scripted_caller(report.rate, PLAN)
    hello = {"callSid": report.call_id, "streamSid": f"MZ{i}", "sampleRate": report.rate}
    url = f"ws://127.0.0.1:{servers.port}/sautikit/stream/{report.call_id}/"
    await stream_call(url, report, audio, spans, hello, tail_s=2.0)
    return report


def summarise(
    reports: list[CallReport], fake_stats: dict[str, dict], engine: str = REALTIME
) -> dict:
    lags, firsts, tails, gaps, worst, errors, missing = [], [], [], 0, 0.0, 0, 0
    answers = expected = 0
    for i, report in enumerate(reports):
        # The greeting, then an answer after each thing the caller says.
        expected += 1 + len(scripted_caller(report.rate, PLAN)[1])
        answers += (report.time_to_first_audio_ms is not None) + len(report.answer_latencies_ms)
        fake = fake_stats.get(f"bench call {i}")
        if fake is None or report.refused:
            missing += 1
            continue
        f = figures(report, fake, engine)
        lags += f.inbound_lags_ms
        if f.first_audio_ms is not None:
            firsts.append(f.first_audio_ms)
        tails += f.barge_in_tail_ms
        gaps += f.gaps
        worst = max(worst, f.worst_gap_ms)
        errors += f.truncate_errors

    def pct(values: list[float], q: float) -> float:
        return float(np.percentile(values, q)) if values else float("nan")

    return {
        "calls": len(reports),
        "measured": len(reports) - missing,
        "lag_median": pct(lags, 50),
        "lag_p99": pct(lags, 99),
        "first_median": pct(firsts, 50),
        "first_p99": pct(firsts, 99),
        "first_max": float(max(firsts)) if firsts else float("nan"),
        "tail_median": pct(tails, 50),
        "tail_max": float(max(tails)) if tails else float("nan"),
        "gaps": gaps,
        "worst_gap_ms": worst,
        "answers": answers / expected if expected else 0.0,
        "upstream_errors": errors,
        "barge_ins": sum(r.barge_ins for r in reports),
    }


def bench_calls(n: int, shape: str = EMBEDDED, engine: str = REALTIME) -> dict:
    servers = start_servers(n, shape=shape, engine=engine)
    try:
        reports, load = asyncio.run(run_calls(servers, n))
        time.sleep(1.0)  # let the fake write its per-session timings
    finally:
        servers.stop()
        stats = read_fake_stats(servers.stats_path)
        log = Path(servers.tmp.name, "server.log").read_text()
        servers.tmp.cleanup()
    refused = [r.refused for r in reports if r.refused]
    if refused:
        print(f"{len(refused)} calls failed; the first: {refused[0]}", file=sys.stderr)
    errors = [line for line in log.splitlines() if " ERROR " in line or "Traceback" in line]
    if errors:
        print(f"the server logged {len(errors)} errors; the first: {errors[0]}", file=sys.stderr)
    return {**summarise(reports, stats, engine), **load, "server_errors": len(errors),
            "shape": shape, "engine": engine}  # fmt: skip


def scripted_call_seconds(rate: int = 16000) -> float:
    audio, _ = scripted_caller(rate, PLAN)
    return len(audio) / rate
