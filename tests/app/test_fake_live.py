"""The GPT-Live stand-in, judged by OpenAI's published types: every event it sends, and every
event these tests send it, must be one of `openai.types.live`'s, unknown keys refused."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import wave
from typing import Any

import numpy as np
import pytest
import pytest_asyncio
import websockets

from streaming.core.audio.clock import loop_now
from streaming.devtools import g711
from streaming.devtools.fake_live import FakeLiveServer, LiveOptions
from streaming.devtools.signals import dominant_hz, samples, tone
from tests.live_types import NotPublished, check_client_event, check_server_event

pytestmark = [pytest.mark.asyncio, pytest.mark.virtual_time]

START = {"type": "session.start",
         "session": {"model": "gpt-live-1.1", "instructions": "You answer the clinic's phone.",
                     "audio": {"format": {"type": "audio/pcm", "rate": 16000},
                               "output": {"voice": "marin"}}}}  # fmt: skip


class Client:
    """A GPT-Live client as the bridge will be one: what it sends and hears is judged."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.events: list[dict[str, Any]] = []

    async def send(self, event: dict[str, Any], judged: bool = True) -> None:
        if judged:
            check_client_event(event)
        await self.ws.send(json.dumps(event))

    async def audio(self, pcm: bytes, kind: str = "audio/pcm") -> None:
        """The caller's audio, in 20 ms appends (16 kHz PCM, or 8 kHz G.711)."""
        data = g711.ENCODE[kind](pcm) if kind in g711.ENCODE else pcm
        step = 160 if kind in g711.ENCODE else 640
        for at in range(0, len(data), step):
            chunk = base64.b64encode(data[at : at + step]).decode()
            await self.send({"type": "session.input_audio.append", "audio": chunk})

    async def hear(self, seconds: float, until: str = "") -> list[dict[str, Any]]:
        """The events of the next `seconds` (or until one of type `until`), each judged."""
        heard: list[dict[str, Any]] = []
        deadline = asyncio.get_running_loop().time() + seconds
        while (left := deadline - asyncio.get_running_loop().time()) > 0:
            try:
                raw = await asyncio.wait_for(self.ws.recv(), left)
            except (TimeoutError, websockets.ConnectionClosed):
                break
            event = json.loads(raw)
            check_server_event(event)
            heard.append(event)
            if event["type"] == until:
                break
        self.events += heard
        return heard


@pytest_asyncio.fixture
async def live():
    servers: list[FakeLiveServer] = []

    async def start(**options: Any) -> tuple[FakeLiveServer, Client]:
        server = await FakeLiveServer(LiveOptions(**options)).start()
        servers.append(server)
        ws = await websockets.connect(server.url, additional_headers={
            "Authorization": "Bearer sk-test"})  # fmt: skip
        return server, Client(ws)

    yield start
    for server in servers:
        await server.stop()


def audio_of(events: list[dict[str, Any]], kind: str = "audio/pcm") -> bytes:
    out = b""
    for e in events:
        if e["type"] == "session.output_audio.delta":
            data = base64.b64decode(e["delta"])
            out += g711.DECODE[kind](data) if kind in g711.DECODE else data
    return out


async def test_it_starts_and_keeps_a_continuous_output_track(live):
    _, client = await live()
    await client.send(START)
    [started] = await client.hear(2, until="session.started")
    assert started["session"]["audio"]["format"] == {"type": "audio/pcm", "rate": 16000}
    assert started["session"]["model"] == "gpt-live-1.1"
    began = loop_now()
    events = await client.hear(0.6)
    elapsed_ms = (loop_now() - began) * 1000
    deltas = [e for e in events if e["type"] == "session.output_audio.delta"]
    assert deltas, "no output track"
    # Contiguous 20 ms chunks of silence (nobody spoke), on the session's audio clock.
    assert all(len(base64.b64decode(d["delta"])) == 640 for d in deltas)
    assert all(a["end_ms"] == b["start_ms"] for a, b in itertools.pairwise(deltas))
    assert not np.any(samples(audio_of(deltas)))
    # Paced, not sent as fast as it can be: the track's clock follows the wall clock.
    assert deltas[-1]["end_ms"] - deltas[0]["start_ms"] <= elapsed_ms + 200


async def test_it_answers_when_the_caller_has_finished_with_times(live):
    _, client = await live(answers=["Karibu, how can I help?"])
    await client.send(START)
    await client.hear(2, until="session.started")
    await client.audio(tone(300, 400, 16000, amp=0.5) + bytes(2 * 16000 * 700 // 1000))
    events = await client.hear(3)
    [heard] = [e for e in events if e["type"] == "session.input_transcript.delta"]
    assert heard["start_ms"] == 0 and 380 <= heard["end_ms"] <= 420
    said = "".join(e["delta"] for e in events if e["type"] == "session.output_transcript.delta")
    assert said.split() == ["Karibu,", "how", "can", "I", "help?"]
    answer = samples(audio_of(events))
    loud = answer[np.abs(answer) > 100]
    assert abs(len(loud) / 16000 - 1.5) < 0.05
    assert abs(dominant_hz(loud, 16000) - 440) < 5


async def test_it_stops_speaking_when_talked_over(live):
    server, client = await live(reply_ms=3000)
    await client.send(START)
    await client.hear(2, until="session.started")
    await client.send({"type": "session.commentary.append", "content": "Greet the caller.",
                       "delegation_id": None})  # fmt: skip
    appended = await client.hear(1, until="session.commentary.appended")
    assert appended[-1]["type"] == "session.commentary.appended"
    await client.hear(0.4)  # the greeting plays
    await client.audio(tone(300, 300, 16000, amp=0.5))
    after = await client.hear(0.5)
    # Silent again within a chunk or two of the caller's speech being heard.
    tail = samples(audio_of(after))[16000 * 60 // 1000 :]
    assert not np.any(np.abs(tail) > 100)
    [(start, end)] = server.sessions[0].speaking_ms
    assert end - start < 3000


async def test_it_speaks_and_hears_g711_at_8_khz(live):
    _, client = await live()
    start = {
        **START,
        "session": {**START["session"], "audio": {"format": {"type": "audio/pcmu", "rate": 8000}}},
    }
    await client.send(start)
    await client.hear(2, until="session.started")
    await client.audio(tone(300, 400, 8000, amp=0.5) + bytes(2 * 8000 * 700 // 1000), "audio/pcmu")
    events = await client.hear(2.5)
    deltas = [e for e in events if e["type"] == "session.output_audio.delta"]
    assert all(len(base64.b64decode(d["delta"])) == 160 for d in deltas)  # 20 ms of μ-law
    assert any(e["type"] == "session.input_transcript.delta" for e in events)
    answer = samples(audio_of(events, "audio/pcmu"))
    assert abs(dominant_hz(answer[np.abs(answer) > 100], 8000) - 440) < 10


async def test_it_keeps_what_it_heard_decoded_at_the_sessions_rate(live, tmp_path):
    _, client = await live(keep_audio=str(tmp_path))
    session = {**START["session"], "audio": {"format": {"type": "audio/pcma", "rate": 8000}}}
    await client.send({**START, "session": session})
    await client.hear(2, until="session.started")
    await client.audio(tone(300, 400, 8000, amp=0.5), "audio/pcma")
    await client.send({"type": "session.close"})
    await client.hear(2, until="session.closed")
    await client.ws.wait_closed()
    for _ in range(100):  # written as the server's side of the session ends
        if list(tmp_path.glob("*.wav")):
            break
        await asyncio.sleep(0.05)
    [kept] = tmp_path.glob("*.wav")
    with wave.open(str(kept)) as w:
        assert w.getframerate() == 8000
        heard = samples(w.readframes(w.getnframes()))
    assert heard.size == 8000 * 400 // 1000
    assert abs(dominant_hz(heard, 8000) - 300) < 5


LOOK_UP = {"type": "function", "name": "look_up_booking", "description": "Finds a booking.",
           "parameters": {"type": "object", "properties": {"phone": {"type": "string"}},
                          "required": ["phone"]}}  # fmt: skip


async def test_it_delegates_a_function_call_and_speaks_its_result(live):
    server, client = await live(tool_calls={1: ("look_up_booking", {"phone": "+254700000001"})})
    delegation = {"type": "responses",
                  "responses": {"model": "gpt-5-mini", "instructions": "Book appointments.",
                                "tools": [LOOK_UP]}}  # fmt: skip
    await client.send({**START, "session": {**START["session"], "delegation": delegation}})
    await client.hear(2, until="session.started")
    await client.audio(tone(300, 400, 16000, amp=0.5) + bytes(2 * 16000 * 700 // 1000))
    events = await client.hear(2, until="response.event")
    [created] = [e for e in events if e["type"] == "session.delegation.created"]
    [asked] = [e for e in events if e["type"] == "response.event"]
    assert asked["delegation_id"] == created["delegation"]["id"]
    call = asked["event"]["item"]
    assert call["name"] == "look_up_booking"
    assert json.loads(call["arguments"]) == {"phone": "+254700000001"}

    # The model waits for every open call's output, then one response.create.
    await client.send({"type": "response.create"})
    assert (await client.hear(1, until="error"))[-1]["error"]["code"] == (
        "function_call_output_missing"
    )  # fmt: skip
    await client.send({"type": "response.item.create",
                       "item": {"type": "function_call_output", "call_id": call["call_id"],
                                "output": '{"booking": "Tuesday 10:00"}'}})  # fmt: skip
    await client.send({"type": "response.create"})
    events = await client.hear(3)
    said = "".join(e["delta"] for e in events if e["type"] == "session.output_transcript.delta")
    assert said.strip() == '(the tool said: {"booking": "Tuesday 10:00"})'
    completed = [e["event"] for e in events if e["type"] == "response.event"]
    assert completed[-1]["type"] == "response.completed"
    assert completed[-1]["response"]["usage"]["output_tokens"] > 0
    assert server.sessions[0].tool_outputs == {call["call_id"]: '{"booking": "Tuesday 10:00"}'}


async def test_it_counts_seconds_and_closes_when_asked(live):
    _, client = await live()
    await client.send(START)
    await client.hear(2, until="session.started")
    [usage] = [e for e in await client.hear(1.3) if e["type"] == "session.usage.updated"]
    assert usage["usage"]["seconds"] >= 0.9
    await client.send({"type": "session.close", "event_id": "bye"})
    [closed] = [e for e in await client.hear(2) if e["type"] == "session.closed"]
    assert closed["reason"] == "close_requested" and closed["client_event_id"] == "bye"
    assert closed["usage"]["seconds"] >= usage["usage"]["seconds"]
    await client.ws.wait_closed()
    assert client.ws.close_code == 1000


async def test_it_writes_the_timings_the_benchmarks_read(live, tmp_path):
    stats = tmp_path / "stats.jsonl"
    _, client = await live(stats_path=str(stats))
    await client.send(START)
    await client.hear(2, until="session.started")
    before = loop_now()
    await client.audio(tone(300, 400, 16000, amp=0.5) + bytes(2 * 16000 * 700 // 1000))
    await client.hear(1.5)
    await client.send({"type": "session.close"})
    await client.hear(2, until="session.closed")
    await client.ws.wait_closed()
    for _ in range(100):  # written as the server's side of the session ends
        if stats.exists():
            break
        await asyncio.sleep(0.05)
    [line] = [json.loads(text) for text in stats.read_text().splitlines()]
    assert line["instructions"] == START["session"]["instructions"]
    assert line["received_at"][-1][1] == 2 * 16000 * 1100 // 1000  # every caller byte
    assert [kind for kind, _ in line["speech_events"]] == ["started"]
    assert line["speech_events"][0][1] >= before
    assert line["first_delta_sent_at"] > line["speech_events"][0][1]  # the answer came after


async def test_it_ends_an_expired_session(live):
    _, client = await live(max_session_s=1)
    await client.send(START)
    events = await client.hear(3, until="session.closed")
    assert events[-1]["type"] == "session.closed" and events[-1]["reason"] == "expired"


@pytest.mark.parametrize(
    ("event", "code", "published"),
    [
        ({**START, "session": {**START["session"], "turn_detection": {"type": "server_vad"}}},
         "unknown_parameter", False),
        ({**START, "session": {**START["session"], "audio": {"format": {"type": "audio/pcm",
                                                                        "rate": 8000}}}},
         "invalid_value", False),
        # The types take any model name; the API takes only GPT-Live's.
        ({**START, "session": {**START["session"], "model": "gpt-realtime"}}, "invalid_value",
         True),
        ({"type": "session.input_audio.append", "audio": "AAAA"}, "session_not_started", True),
    ],
)  # fmt: skip
async def test_it_refuses_what_openai_refuses(live, event, code, published):
    _, client = await live()
    if published:
        check_client_event(event)
    else:
        with pytest.raises(NotPublished):  # OpenAI's types refuse it too
            check_client_event(event)
    await client.send(event, judged=False)
    [error] = [e for e in await client.hear(2, until="error") if e["type"] == "error"]
    assert error["error"]["code"] == code
    await client.ws.wait_closed()
    assert client.ws.close_code == 1008


async def test_it_refuses_a_wrong_key():
    server = await FakeLiveServer(LiveOptions(api_key="sk-right")).start()
    try:
        ws = await websockets.connect(server.url, additional_headers={
            "Authorization": "Bearer sk-wrong"})  # fmt: skip
        [error] = [e for e in await Client(ws).hear(2, until="error") if e["type"] == "error"]
        assert error["error"]["code"] == "invalid_api_key"
        await ws.wait_closed()
        assert ws.close_code == 3000
    finally:
        await server.stop()
