"""Prometheus metrics: what the server's calls are doing, summed across its processes.

Under `make serve` each worker writes its figures to files in PROMETHEUS_MULTIPROC_DIR (the
launcher makes the directory, empties it at start and marks dead workers), and /metrics reads
them all: whichever worker a scrape reaches answers for the whole server. Without it (`make run`,
one process) the figures live in the process. /metrics itself: voiceproject.health.
"""

from __future__ import annotations

import asyncio
import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

LIVE_CALLS = Gauge(
    "voice_live_calls",
    "Calls whose audio is being bridged now.",
    multiprocess_mode="livesum",
)
CALLS_STARTED = Counter("voice_calls_started", "Calls whose stream was accepted and bridged.")
CALLS_ENDED = Counter(
    "voice_calls_ended",
    "Bridged calls that ended, by what ended them: caller, agent, limit (duration, silence, a "
    "server stopping) or error.",
    ["ended_by"],
)
CALLS_REFUSED = Counter(
    "voice_calls_refused",
    "Calls or stream sockets turned away, by why.",
    ["reason"],
)
UPSTREAM_ERRORS = Counter(
    "voice_upstream_errors",
    "Calls OpenAI failed: no session, the agent's settings refused, or the session dropped.",
)
PLAYOUT_UNDERRUNS = Counter(
    "voice_playout_underruns",
    "Gaps a caller heard in the middle of an answer (its audio came too late to play on time).",
)
INBOUND_LAG = Histogram(
    "voice_inbound_lag_seconds",
    "How late a process gets to work it was due to do, sampled every 250 ms while it holds "
    "calls: the wait a caller's audio frame has before it is read and sent on to OpenAI.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
ANSWER_TIME = Histogram(
    "voice_answer_seconds",
    "From the end of the caller's speech to the first sound of the agent's answer.",
    buckets=(0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0),
)

LAG_SAMPLE_S = 0.25
_lag_watch: asyncio.Task[None] | None = None


def render() -> tuple[bytes, str]:
    """The text a scrape gets, and its content type."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return generate_latest(registry), CONTENT_TYPE_LATEST


def watch_inbound_lag(busy: object) -> None:
    """Sample the event loop's lateness while `busy` (the live calls) is not empty."""
    global _lag_watch
    loop = asyncio.get_running_loop()
    if _lag_watch is None or _lag_watch.done() or _lag_watch.get_loop() is not loop:
        _lag_watch = loop.create_task(_watch(busy), name="inbound-lag")


async def _watch(busy: object) -> None:
    loop = asyncio.get_running_loop()
    while busy:
        asked = loop.time()
        await asyncio.sleep(LAG_SAMPLE_S)
        INBOUND_LAG.observe(max(0.0, loop.time() - asked - LAG_SAMPLE_S))
