"""One whole call as a user makes it: daphne serving the project, the stand-in for the agent's
engine (Realtime or GPT-Live), and `simulate_call` playing Sautikit over real sockets (the same
harness as `make bench`)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from pathlib import Path

import numpy as np
import pytest

from streaming.devtools.servers import BASE_NUMBER, LIVE, REALTIME, start_servers
from streaming.devtools.simulator import simulate_call


@pytest.mark.parametrize("engine", [REALTIME, LIVE])
def test_it_carries_a_simulated_call_end_to_end(tmp_path, engine):
    servers = start_servers(1, engine=engine)
    try:
        out = tmp_path / "call.wav"
        report = asyncio.run(
            simulate_call(servers.base_url, f"+{BASE_NUMBER}", out=out, call_id="E2E_1")
        )
        db = Path(servers.env["DATABASE_URL"].removeprefix("sqlite:///"))
        for _ in range(50):  # the bridge records its end just after the socket closes
            with sqlite3.connect(db) as conn:
                row = conn.execute(
                    "select status, end_reason, bridge_ended_at, openai_cost_usd, metadata "
                    "from calls_call where call_id=?",
                    ("E2E_1",),
                ).fetchone()
            if row and row[2]:
                break
            time.sleep(0.1)
    finally:
        servers.stop()
        servers.tmp.cleanup()
    assert not report.refused
    assert report.time_to_first_audio_ms is not None
    # Greeting, the interrupted answer, and the answer after the caller's second question
    # (a loaded machine may split an answer with a pause, never merge two).
    assert report.turns >= 3
    # Talked over, the Realtime path cuts the answer (killAudio); GPT-Live goes quiet itself.
    assert report.barge_ins == (1 if engine == REALTIME else 0)
    assert 2.0 < report.agent_audio_s < 5.0
    assert len(report.answer_latencies_ms) == 2
    assert all(latency < 2000 for latency in report.answer_latencies_ms)
    assert out.exists() and out.stat().st_size > 44
    assert report.heard is not None and np.abs(report.heard).max() > 1000
    status, end_reason, bridge_ended_at, cost, metadata = row
    assert status == "completed"
    assert end_reason == "Sautikit: StreamStopped"
    assert bridge_ended_at
    assert float(cost) > 0
    if engine == LIVE:  # billed by the session's seconds, as GPT-Live reported them
        assert 5 < json.loads(metadata)["live"]["seconds"] < 30
