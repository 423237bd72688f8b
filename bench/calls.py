"""(b) one call and (c) N concurrent calls through a real daphne process and the fake Realtime.

Every process here reads the same clock (time.monotonic is CLOCK_MONOTONIC on Linux), so the
fake's receive times and the simulated callers' send times can be compared directly.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from streaming.audio import REALTIME_RATE, Resampler
from streaming.simulator import CallReport, scripted_caller, simulate_call

ROOT = Path(__file__).resolve().parent.parent
BASE_NUMBER = 254711500000
BASE_CALLER = 254700500000
SETUP_FRAMES = 25


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listening on port {port}")


@dataclass
class Servers:
    env: dict[str, str]
    port: int
    stats_path: str
    daphne: subprocess.Popen
    fake: subprocess.Popen
    tmp: tempfile.TemporaryDirectory = field(repr=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        for p in (self.daphne, self.fake):
            p.terminate()
        for p in (self.daphne, self.fake):
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


def start_servers(
    calls: int,
    env: dict[str, str] | None = None,
    fake_args: list[str] | None = None,
) -> Servers:
    """Daphne and the fake Realtime as subprocesses, on a database with one agent per call.

    Without `env`, a fresh SQLite database in a temporary folder; with a DATABASE_URL in
    `env` (a test's database), that one, already migrated, with `calls` = 0 agents made here.
    """
    tmp = tempfile.TemporaryDirectory(prefix="voicebench-")
    port, fake_port = free_port(), free_port()
    stats = os.path.join(tmp.name, "fake-stats.jsonl")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "voiceproject.settings",
        "DATABASE_URL": f"sqlite:///{tmp.name}/bench.sqlite3",
        "OPENAI_API_KEY": "sk-bench",
        "OPENAI_REALTIME_URL": f"ws://127.0.0.1:{fake_port}/v1/realtime",
        "LOG_LEVEL": "WARNING",
        "SAUTIKIT_SIGNING_SECRET": "",
        "PUBLIC_BASE_URL": "",
        "REDIS_URL": "",
        **(env or {}),
    }
    py = sys.executable
    if calls:
        subprocess.run([py, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
        make_agents = (
            "from agents.models import Agent\n"
            f"for i in range({calls}):\n"
            f"    Agent(name=f'bench {{i}}', phone_number='+' + str({BASE_NUMBER} + i), "
            "instructions=f'bench call {i}', greeting='Greet the caller.').save()\n"
        )
        subprocess.run([py, "manage.py", "shell", "-v0", "-c", make_agents], cwd=ROOT, env=env,
                       check=True)  # fmt: skip
    fake = subprocess.Popen(
        [py, "manage.py", "fake_realtime", "--port", str(fake_port), "--stats", stats,
         *(fake_args or [])],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    with open(os.path.join(tmp.name, "daphne.log"), "w") as log:
        daphne = subprocess.Popen(
            [py, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
             "voiceproject.asgi:application"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log,
        )  # fmt: skip
    wait_port(port)
    wait_port(fake_port)
    return Servers(env, port, stats, daphne, fake, tmp)


# -- measuring one call -----------------------------------------------------------------------


@dataclass
class CallFigures:
    inbound_lags_ms: list[float]
    first_audio_ms: float | None
    barge_in_tail_ms: list[float]
    gaps: int
    truncate_errors: int


def produced_by(rate: int, n_frames: int) -> np.ndarray:
    """Cumulative 24 kHz samples the bridge's resampler has released after each caller frame."""
    up = Resampler(rate, REALTIME_RATE)
    frame = np.zeros(rate // 50, dtype="<i2").tobytes()
    total, out = 0, []
    for _ in range(n_frames):
        total += len(up.process(frame)) // 2
        out.append(total)
    return np.array(out)


def figures(report: CallReport, fake: dict) -> CallFigures:
    rate = report.rate
    produced = produced_by(rate, len(report.sent_at))
    lags = []
    for received_time, total_bytes in fake["received_at"]:
        k = int(np.searchsorted(produced, total_bytes // 2))  # the frame that completed it
        # The first half second is held while OpenAI's session opens: set-up, not lag.
        if SETUP_FRAMES <= k < len(report.sent_at):
            lags.append((received_time - report.sent_at[k]) * 1000)
    first = None
    if report.arrivals and fake["first_delta_sent_at"]:
        first = (report.arrivals[0][0] - fake["first_delta_sent_at"]) * 1000
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
        truncate_errors=len(fake["errors"]),
    )


def count_gaps(heard: np.ndarray, rate: int) -> int:
    """Silent runs of 5 ms or more inside an answer (answers are separated by >= 300 ms)."""
    loud = np.abs(heard) > 0
    idx = np.flatnonzero(loud)
    if not len(idx):
        return 0
    runs = np.diff(idx)
    min_gap, answer_gap = int(0.005 * rate), int(0.3 * rate)
    return int(np.sum((runs > min_gap) & (runs < answer_gap)))


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
    pid = servers.daphne.pid
    baseline_rss = proc_rss_mb(pid)
    peak = [baseline_rss]
    stop = asyncio.Event()

    async def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], proc_rss_mb(pid))
            await asyncio.sleep(0.25)

    async def one(i: int) -> CallReport:
        await asyncio.sleep(i * 1.0 / max(n, 1))  # spread the call set-ups over a second
        # One caller per call, as on a real line (the per-caller limits would refuse one caller
        # calling N times at once).
        return await simulate_call(
            servers.base_url, f"+{BASE_NUMBER + i}", caller=f"+{BASE_CALLER + i}", out=None,
            tail_s=2.0, call_id=f"BENCH_{i}",
        )  # fmt: skip

    sampler = asyncio.create_task(sample())
    cpu0, t0 = proc_cpu_s(pid), time.monotonic()
    reports = await asyncio.gather(*(one(i) for i in range(n)))
    cpu1, t1 = proc_cpu_s(pid), time.monotonic()
    stop.set()
    await sampler
    call_minutes = sum(len(r.sent_at) * 0.02 for r in reports) / 60
    load = {
        "cpu_s_per_call_minute": (cpu1 - cpu0) / call_minutes if call_minutes else 0,
        "cpu_share": (cpu1 - cpu0) / (t1 - t0),
        "mb_per_call": (peak[0] - baseline_rss) / n,
        "baseline_mb": baseline_rss,
    }
    return list(reports), load


def summarise(reports: list[CallReport], fake_stats: dict[str, dict]) -> dict:
    lags, firsts, tails, gaps, errors, missing = [], [], [], 0, 0, 0
    for i, report in enumerate(reports):
        fake = fake_stats.get(f"bench call {i}")
        if fake is None or report.refused:
            missing += 1
            continue
        f = figures(report, fake)
        lags += f.inbound_lags_ms
        if f.first_audio_ms is not None:
            firsts.append(f.first_audio_ms)
        tails += f.barge_in_tail_ms
        gaps += f.gaps
        errors += f.truncate_errors
    return {
        "calls": len(reports),
        "measured": len(reports) - missing,
        "lag_median": float(np.median(lags)) if lags else float("nan"),
        "lag_p99": float(np.percentile(lags, 99)) if lags else float("nan"),
        "first_median": float(np.median(firsts)) if firsts else float("nan"),
        "first_max": float(max(firsts)) if firsts else float("nan"),
        "tail_median": float(np.median(tails)) if tails else float("nan"),
        "tail_max": float(max(tails)) if tails else float("nan"),
        "gaps": gaps,
        "upstream_errors": errors,
        "barge_ins": sum(r.barge_ins for r in reports),
    }


def bench_calls(n: int) -> dict:
    servers = start_servers(n)
    try:
        reports, load = asyncio.run(run_calls(servers, n))
        time.sleep(1.0)  # let the fake write its per-session timings
    finally:
        servers.stop()
        stats = read_fake_stats(servers.stats_path)
        log = Path(servers.tmp.name, "daphne.log").read_text()
        servers.tmp.cleanup()
    errors = [line for line in log.splitlines() if " ERROR " in line]
    if errors:
        print(f"daphne logged {len(errors)} errors; the first: {errors[0]}", file=sys.stderr)
    return {**summarise(reports, stats), **load, "server_errors": len(errors)}


def scripted_call_seconds(rate: int = 16000) -> float:
    audio, _ = scripted_caller(rate)
    return len(audio) / rate
