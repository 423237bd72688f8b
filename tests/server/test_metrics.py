"""/metrics through real servers: a whole call measured, and right across `make serve`'s
workers (whichever one a scrape reaches answers for all). Who may scrape, and the counters
alone: tests/app/test_metrics.py."""

from __future__ import annotations

import asyncio

from tests.helpers import metric_figures as figures
from tests.live_stack import (
    calls_on_both_workers,
    http_get,
    needs_services,
    wait_until,
)

TOKEN = "scrape-token-for-tests"


def scrape(base_url: str, token: str = TOKEN) -> dict:
    status, body = http_get(base_url, "/metrics", {"Authorization": f"Bearer {token}"})
    assert status == 200, body
    return figures(body)


def test_it_measures_a_whole_call(transactional_db, clinic, tmp_path):
    from tests.live_stack import play_call, recording_stack

    stack = recording_stack(tmp_path, METRICS_TOKEN=TOKEN)
    try:
        report = play_call(stack, tmp_path, "METRICS_1")
        assert wait_until(lambda: scrape(stack.base_url)[("voice_live_calls", ())] == 0)
        seen = scrape(stack.base_url)
    finally:
        stack.stop()
        stack.tmp.cleanup()
    assert seen[("voice_calls_started_total", ())] == 1
    assert seen[("voice_calls_ended_total", (("ended_by", "caller"),))] == 1
    assert seen[("voice_upstream_errors_total", ())] == 0
    # Every answer the caller waited for, timed; the loop's lateness sampled while it ran.
    assert seen[("voice_answer_seconds_count", ())] == len(report.answer_latencies_ms) >= 2
    assert seen[("voice_inbound_lag_seconds_count", ())] >= 10


@needs_services
def test_it_sums_the_figures_of_every_worker(shape):
    server = shape(METRICS_TOKEN=TOKEN)
    asyncio.run(scrape_during_calls_on_both_workers(server.base_url))


async def scrape_during_calls_on_both_workers(base_url: str) -> None:
    sockets, _ = await calls_on_both_workers(base_url)
    opened = len(sockets)
    # Each scrape is a new connection, taken by either worker: each must count every call.
    for _ in range(6):
        seen = await asyncio.to_thread(scrape, base_url)
        assert seen[("voice_live_calls", ())] == opened
        assert seen[("voice_calls_started_total", ())] == opened
    for ws in sockets.values():
        await ws.close()

    ended = ("voice_calls_ended_total", (("ended_by", "caller"),))

    def all_ended() -> bool:
        return scrape(base_url).get(ended) == opened

    assert await asyncio.to_thread(wait_until, all_ended)
    for _ in range(6):
        assert (await asyncio.to_thread(scrape, base_url))[("voice_live_calls", ())] == 0
