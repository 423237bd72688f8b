"""make bench: measure, then write docs/benchmarks.md. Not a test: these machines are noisy."""

from __future__ import annotations

import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from bench import calls, plot, resampler
from streaming.core.audio.pcm import QUALITY
from streaming.core.live.bridge import LEAD_MS
from streaming.devtools.servers import (
    EMBEDDED,
    LIVE,
    REALTIME,
    RELAY,
    RELAY_DAPHNE,
    RELAYS,
    SERVE,
)

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
PLOT = DOC.with_suffix(".svg")
SIZES = [int(n) for n in os.environ.get("BENCH_SIZES", "25,50,100,200").split(",") if n]
# The engines whose path the calls take (table (e) puts GPT-Live's beside the Realtime API's).
ENGINES = os.environ.get("BENCH_ENGINES", f"{REALTIME},{LIVE}").split(",")
# The one-process embedded default is measured where it is meant to serve.
EMBEDDED_SIZES = [n for n in SIZES if n <= 50]
# Per-call figures (issue #3) and the production shape's, at 100 calls and at 200 (issue #10).
TARGETS = {"lag_median": 12, "lag_p99": 30, "first": 20, "tail": 150, "mb": 2, "gap": 20,
           "cpu_vs_relay": 1.5, "lag_p99_at_200": 60}  # fmt: skip
SHAPE_NAMES = {
    SERVE: "`make serve`: 2 workers, PostgreSQL, Redis",
    EMBEDDED: "one process, embedded (SQLite)",
    RELAY: "minimal relay (`bench/relay.py`)",
    RELAY_DAPHNE: "the same minimal relay as a bare ASGI app under daphne",
}


def fmt(value: float, unit: str = "ms", digits: int = 1) -> str:
    return f"{value:.{digits}f} {unit}".strip()


def ok(value: float, target: float) -> str:
    return "✅" if value <= target else "❌"


def memory_mark(row: dict) -> str:
    # One call's growth is mostly first-use imports and caches, not the call itself.
    return ok(row["mb_per_call"], TARGETS["mb"]) if row["calls"] >= 10 else "(first call)"


def errors(row: dict) -> int:
    return row["server_errors"] + row["upstream_errors"] + row["calls"] - row["measured"]


def cpu(rows: list[dict], n: int, shape: str, key: str = "cpu_s_per_call_minute") -> float | None:
    """One shape's CPU figure at `n` calls (`key`: all of it, or while every call is live)."""
    same = [r for r in rows if r["shape"] == shape and r["calls"] == n]
    return same[0][key] if same else None


def steady(rows: list[dict], n: int, shape: str) -> float | None:
    return cpu(rows, n, shape, "steady_cpu_s_per_call_minute")


def versus_relay(row: dict, rows: list[dict]) -> str:
    relay = cpu(rows, row["calls"], RELAY)
    if row["shape"] == RELAY or row["engine"] == LIVE or not relay:
        return ""  # (the relay speaks to the Realtime API only)
    ratio = row["cpu_s_per_call_minute"] / relay
    mark = "" if row["shape"] == RELAY_DAPHNE else f" {ok(ratio, TARGETS['cpu_vs_relay'])}"
    return f" ({ratio:.2f}x{mark})"


def cpu_table(rows: list[dict], call_seconds: float) -> str:
    """Where the CPU goes: the audio while every call is live, and each call's set-up and
    ending (webhooks, records, sessions opening and closing), against both yardsticks."""
    lines = [
        "| shape | calls | CPU s per call-minute, all | while every call is live (x relay; x "
        "relay on daphne) | set-up and ending, CPU ms per call |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        live = r["steady_cpu_s_per_call_minute"]
        relay = steady(rows, r["calls"], RELAY)
        on_daphne = steady(rows, r["calls"], RELAY_DAPHNE)
        ratios = []
        if r["shape"] != RELAY and relay:
            ratios.append(f"{live / relay:.2f}x")
        if r["shape"] not in RELAYS and on_daphne:
            ratios.append(f"{live / on_daphne:.2f}x")
        shown = " (" + "; ".join(ratios) + ")" if ratios else ""
        fixed = (r["cpu_s_per_call_minute"] - live) * call_seconds / 60 * 1000
        lines.append(f"| {r['shape']} | {r['calls']} | {r['cpu_s_per_call_minute']:.2f} "
                     f"| {live:.2f}{shown} | {fixed:.0f} |")  # fmt: skip
    return "\n".join(lines)


def audio_cells(r: dict) -> str:
    """Inbound lag, first audio, barge-in tail, worst gap and answers heard, each marked."""
    return (
        f"{fmt(r['lag_median'])} / {fmt(r['lag_p99'])} {ok(r['lag_p99'], TARGETS['lag_p99'])} "
        f"| {fmt(r['first_median'])} / {fmt(r['first_p99'])} "
        f"{ok(r['first_p99'], TARGETS['first'])} "
        f"| {fmt(r['tail_median'])} / {fmt(r['tail_max'])} {ok(r['tail_max'], TARGETS['tail'])} "
        f"| {fmt(r['worst_gap_ms'], 'ms', 0)} {ok(r['worst_gap_ms'], TARGETS['gap'])} "
        f"| {r['answers']:.0%} {ok(1 - r['answers'], 0)}"
    )


def call_table(rows: list[dict]) -> str:
    lines = [
        "| shape | calls | inbound lag median / p99 | first audio median / p99 | barge-in tail "
        "median / max | worst gap | answers heard | CPU s per call-minute (x relay) "
        "| CPU (cores) | memory per call | errors |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {plot.series(r)} | {r['calls']} | {audio_cells(r)} "
            f"| {r['cpu_s_per_call_minute']:.2f}{versus_relay(r, rows)} | {r['cpu_share']:.2f} "
            f"| {fmt(r['mb_per_call'], 'MB', 2)} {memory_mark(r)} "
            f"| {errors(r)} {ok(errors(r), 0)} |"
        )
    return "\n".join(lines)


def engine_table(rows: list[dict], live_rows: list[dict]) -> str:
    """The same calls through each engine's path, row by row: the Realtime engine's rows are
    table (c)'s."""
    lines = [
        "| shape | calls | engine | inbound lag median / p99 | first audio median / p99 "
        "| barge-in tail median / max | worst gap | answers heard | CPU s per call-minute, all "
        "(x Realtime) | while every call is live (x Realtime) | memory per call | errors |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for live in live_rows:
        same = [r for r in rows if (r["shape"], r["calls"]) == (live["shape"], live["calls"])]
        realtime = same[0] if same else None
        if realtime:
            lines.append(engine_row(realtime))
        lines.append(engine_row(live, realtime))
    return "\n".join(lines)


def engine_row(r: dict, realtime: dict | None = None) -> str:
    def against(key: str) -> str:
        if not realtime or not realtime[key]:
            return ""
        return f" ({r[key] / realtime[key]:.2f}x)"

    return (
        f"| {r['shape']} | {r['calls']} | {plot.ENGINE_NAMES[r['engine']]} | {audio_cells(r)} "
        f"| {r['cpu_s_per_call_minute']:.2f}{against('cpu_s_per_call_minute')} "
        f"| {r['steady_cpu_s_per_call_minute']:.2f}{against('steady_cpu_s_per_call_minute')} "
        f"| {fmt(r['mb_per_call'], 'MB', 2)} | {errors(r)} {ok(errors(r), 0)} |"
    )


def verdict(rows: list[dict]) -> str:
    """The production shape against its targets at 100 and 200 calls, in words."""
    lines = []
    for n in (100, 200):
        row = next((r for r in rows if r["shape"] == SERVE and r["calls"] == n), None)
        if row is None:
            continue
        checks = targets_at(n, row, cpu(rows, n, RELAY))
        met = [name for name, passed in checks if passed]
        missed = [name for name, passed in checks if not passed]
        lines.append(
            f"- **{n} calls, `make serve`**: met: {', '.join(met) or 'none'}"
            + (f"; **not met: {', '.join(missed)}**" if missed else "")
            + "."
        )
    lines.append(daphne_floor(rows))
    return "\n".join(line for line in lines if line)


def daphne_floor(rows: list[dict], n: int = 100) -> str:
    """How the CPU target compares with what daphne alone costs (the server is fixed by the
    product's design): the same relay under daphne, against the relay."""
    relay, on_daphne = cpu(rows, n, RELAY), cpu(rows, n, RELAY_DAPHNE)
    live, live_on_daphne = steady(rows, n, RELAY), steady(rows, n, RELAY_DAPHNE)
    if not (relay and on_daphne and live and live_on_daphne):
        return ""
    floor = on_daphne / relay
    allowance = TARGETS["cpu_vs_relay"] - 1
    return (
        f"- **Daphne's own floor, {n} calls**: the minimal relay run as a bare ASGI app under "
        f"daphne costs {floor:.2f}x the relay itself ({live_on_daphne / live:.2f}x while every "
        f"call is live), with no Django, Channels, database or webhook: of the {allowance:.0%} "
        f"that the CPU target allows above the relay, daphne alone takes "
        f"{(floor - 1) / allowance:.0%}."
    )


def targets_at(n: int, r: dict, relay: float | None) -> list[tuple[str, bool]]:
    if n >= 200:
        return [
            ("every answer heard", r["answers"] >= 1.0),
            ("inbound lag p99 ≤ 60 ms", r["lag_p99"] <= TARGETS["lag_p99_at_200"]),
        ]
    return [
        ("inbound lag p99 ≤ 30 ms", r["lag_p99"] <= TARGETS["lag_p99"]),
        ("first audio p99 ≤ 20 ms", r["first_p99"] <= TARGETS["first"]),
        ("no playout gap over 20 ms", r["worst_gap_ms"] <= TARGETS["gap"]),
        ("every answer heard", r["answers"] >= 1.0),
        ("no errors", errors(r) == 0),
        ("≤ 2 MB per call", r["mb_per_call"] <= TARGETS["mb"]),
        ("CPU per call-minute ≤ 1.5x the relay's",
         relay is not None and r["cpu_s_per_call_minute"] <= TARGETS["cpu_vs_relay"] * relay),
    ]  # fmt: skip


def main() -> None:
    started = time.monotonic()
    print("(a) resampler qualities…", flush=True)
    table_a = resampler.table(resampler.measure())
    print("(b) one call…", flush=True)
    ones = [calls.bench_calls(1, engine=engine) for engine in ENGINES]
    rows, live_rows = [], []
    for n in SIZES:
        shapes = [RELAY, RELAY_DAPHNE, SERVE]
        shapes += [EMBEDDED] if n in EMBEDDED_SIZES else []
        for shape in shapes:
            print(f"(c) {n} concurrent calls, {shape}…", flush=True)
            rows.append(calls.bench_calls(n, shape=shape))
            if LIVE in ENGINES and shape not in RELAYS:
                print(f"(e) {n} concurrent calls, {shape}, GPT-Live…", flush=True)
                live_rows.append(calls.bench_calls(n, shape=shape, engine=LIVE))
    order = list(SHAPE_NAMES)
    for table in (rows, live_rows):
        table.sort(key=lambda r: (order.index(r["shape"]), r["calls"]))
    plot.write(rows + live_rows, PLOT)
    seconds = calls.scripted_call_seconds()
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    body = TEMPLATE.format(
        stamp=stamp,
        machine=machine,
        minutes=(time.monotonic() - started) / 60,
        quality=QUALITY,
        table_a=table_a,
        table_b=call_table(ones),
        table_c=call_table(rows),
        table_d=cpu_table(rows, seconds),
        seconds=seconds,
        arrivals=calls.ARRIVALS_PER_S,
        steady_after=calls.STEADY_AFTER_LAST_S,
        steady_before=calls.STEADY_BEFORE_END_S,
        verdict=verdict(rows),
        table_e=engine_table(rows, live_rows),
        lead_ms=LEAD_MS,
        shapes="\n".join(f"- *{k}*: {v}" for k, v in SHAPE_NAMES.items()),
    )
    DOC.write_text(body)
    print(body)
    print(f"written to {DOC} and {PLOT}", file=sys.stderr)


TEMPLATE = """# Benchmarks

Written by `make bench` ({stamp}; {machine}; the whole run took {minutes:.1f} min). Every
figure below comes from that one run; re-run it rather than edit by hand. Targets (issues #3 and
#10), at 100 calls: inbound lag p99 ≤ 30 ms, first audio p99 ≤ 20 ms, barge-in tail ≤ 150 ms, no
playout gap over 20 ms, every answer heard, no errors, ≤ 2 MB per call, CPU per call-minute ≤
1.5x the minimal relay's; at 200 calls: every answer heard, inbound lag p99 ≤ 60 ms. ✅ met,
❌ not met.

## (a) soxr quality, measured as a stream

20 ms frames through `soxr.ResampleStream` (int16, mono), as the bridge feeds it. *Delay* is
audio fed minus audio released after each frame (median and worst after start-up): it counts
the filter and soxr's block-wise release, not just the filter length. SNR is of a pure tone
against everything else; the 10 kHz rows are a 10 kHz tone going 24 kHz → 16 or 8 kHz,
relative to a 440 Hz tone of the same level (it lies above the new Nyquist frequency, so it must
vanish, not fold back).

{table_a}

The bridge uses **{quality}**: the lowest delay that keeps the 10 kHz tone at least 60 dB down.
QQ is cheaper and faster but does not filter at all (the 10 kHz tone folds back at full level).

## (b) one call through the real server

One daphne process (the project's ASGI app, SQLite), the fake Realtime (or, on the second row,
the GPT-Live stand-in; see (e)) in its own process, and
the call simulator playing Sautikit (webhooks, the stream socket, status callbacks, events). The
scripted caller ({seconds:.1f} s) hears the greeting, asks something, talks over the answer
(barge-in), then listens. All processes read one clock (CLOCK_MONOTONIC).

- *inbound lag*: caller frame sent → the fake receives the audio it produced (the resampler is
  replayed offline to know which frame completed each append); the first 0.5 s of each call,
  held while the Realtime session opens, is left out.
- *first audio*: the fake sends its first audio delta → the caller receives its first frame.
- *barge-in tail*: agent audio the caller still hears after the fake's `speech_started`
  (the caller's media buffer drops what has not played on `killAudio`, as mod_audio_fork does).
- *worst gap*: the longest silence inside an answer, as the caller heard it.
- *answers heard*: the greeting and an answer after each thing the caller said, of those due.

{table_b}

## (c) concurrent calls: the production shape, the embedded default, and the yardstick

The same call N times at once ({arrivals} new calls a second until all N are live; each lasts
{seconds:.0f} s, so all N overlap), against:

{shapes}

The minimal relay does the bridge's audio work and nothing else (soxr LQ both ways, the same
Realtime messages, 20 ms paced playout, barge-in) in a bare `websockets` server: no framework,
no database, no webhooks (its callers go straight to the stream socket). It is the yardstick
for the project's own cost: *x relay* is the project's CPU per call-minute over the relay's at
the same number of calls. CPU and memory are the server's processes' own (`/proc`: the
launcher and its workers for `make serve`), per minute of call audio; *CPU (cores)* is the share
of the machine's cores they used. The simulated callers and the fake run on the same two cores,
so at high N they compete with the server they measure.

{table_c}

![Inbound lag p99 and CPU per call-minute against concurrent calls](benchmarks.svg)

## (d) where the CPU goes

The CPU of table (c) split in two. *While every call is live*: from {steady_after:.0f} s after
the last call arrived to {steady_before:.0f} s before the first one's script ends, per minute of
call audio: the audio path's own cost, what a long call costs by the minute. *Set-up and
ending*: the rest, per call (webhooks, the call's records, its Realtime session opening and
closing); a call of {seconds:.0f} s pays it as a large share, a three-minute call as a small
one. The yardsticks are the minimal relay and the same relay under daphne, with no Django,
Channels, database or webhooks: what daphne's WebSocket layer (Twisted, autobahn) costs by
itself. The project runs on daphne (fixed by the product's design), so the second is its floor.

{table_d}

### Against the targets

{verdict}

## (e) the two engines side by side

The same calls, the same scripted caller and the same shapes, with every agent on GPT-Live
(`engine = live`, `gpt-live-1.1`, against the GPT-Live stand-in) beside the Realtime engine's
rows of table (c). What each figure means on the GPT-Live path:

- *inbound lag*: caller frame sent → the stand-in receives it. A 16 kHz call travels to
  GPT-Live untouched (no resampler), so a frame's bytes are the bytes that arrive.
- *first audio*: the stand-in sends its first chunk of speech → the caller receives the first
  audible frame. It includes the cushion the bridge gathers before a stretch of speech starts
  ({lead_ms} ms of it, which come at real-time pace): the price of no gap when a later frame
  comes late.
- *worst gap*: a frame of the model's track that came more than the cushion late, mid-answer.
- *barge-in tail*: the model stops by itself when talked over (there is no `killAudio` on this
  path): what the caller still hears after the stand-in heard the caller start is what the
  bridge had already sent (it stays {lead_ms} ms ahead) and the media buffer held, plus what a
  stall during that answer had queued (the track comes in real time: a backlog drains only in
  the model's pauses, whose silence the bridge does not send).
- *CPU*: the track comes from the model for the whole call, 50 messages a second, silence
  included (the bridge passes on only its speech), where the Realtime engine's output carries
  only speech; the stand-ins share one process beside the server on the same two cores.

{table_e}

The fidelity tests (a tone's frequency, SNR and length, both ways, at 16 and 8 kHz) pass on
both engines' paths: `tests/app/test_bridge_audio.py` and `tests/app/test_live_calls.py`.

## Reading the figures

- **Compare within one run.** These shared machines differ from day to day by up to a factor of
  two for the same code (the resampler's CPU per audio second in table (a) is a rough gauge of
  the day): compare figures of one run with each other, not with an earlier run's.
- **Where a call's CPU goes.** Per call, the server spends CPU on every 20 ms frame in both
  directions: the WebSocket frame (autobahn/Twisted under daphne), the resampler, base64/JSON
  and the masked WebSocket frame to OpenAI, and the playout clock. The relay pays for the same
  audio work with the least machinery around it; under daphne the same relay costs more (table
  (d)); what the project spends beyond that is the call's records, two processes instead of
  one, and each call's set-up and ending (profile with `py-spy` to see where).
- **Load costs CPU too.** Two "cores" here are shared: with more of them busy, every operation
  takes more CPU time (the relay measured 17% dearer with one core kept busy beside it). The
  production shape at 100 calls keeps the machine near full, the relay does not; part of the
  ratio is that.
- **Set-up storms.** Calls arrive {arrivals} a second, each with four webhooks, a claim in the
  database and a Realtime session to open within its first second: while they arrive the
  workers are at their busiest, and the greeting (*first audio*) is played then. A line
  carrying 100 calls of a few minutes sees about one new call a second.
- **Full garbage collections.** Each server process (and the fake Realtime) freezes what it
  loaded at start (`gc.freeze`); otherwise every full collection walked all of Django again, a
  65-240 ms pause in every call's audio.
- **The consumer reads its socket itself.** Channels' own receive loop (`await_many_dispatch`)
  makes an asyncio task and an `asyncio.wait` for every message; the stream consumer reads the
  socket with one await per message and the channel layer in a task of its own. Channels' default
  dispatch also hops to the database thread before every message; the stream consumer skips
  that hop (its database helpers clean up after themselves).
- **Two cores, two workers.** `make serve` runs one worker per core; on this machine those cores
  are shared with the simulated callers and the fake Realtime, so the production shape's
  figures here are a floor, not a ceiling, for a machine that only serves calls.
"""


if __name__ == "__main__":
    main()
