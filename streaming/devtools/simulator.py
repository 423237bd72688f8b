"""Plays Sautikit's part in a call, for trying the product with no phone network.

It POSTs the voice webhook, opens the <Stream> socket with the audio.drachtio.org subprotocol,
sends a metadata text frame and then the caller's audio in real time (20 ms S16LE frames), plays
what comes back through a media-server-like buffer (killAudio clears it), records both sides to a
stereo WAV, POSTs the stream status and call events, and reports what it measured.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
import urllib.error
import urllib.request
import uuid
import wave
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import numpy as np
import soxr
import websockets
from websockets.typing import Subprotocol

from streaming.core.audio.pcm import AUDIBLE, audible
from streaming.core.call.stream_protocol import SUBPROTOCOL
from streaming.ground import signatures


@dataclass
class CallReport:
    call_id: str
    rate: int = 16000
    time_to_first_audio_ms: float | None = None
    answer_latencies_ms: list[float] = field(default_factory=list)
    turns: int = 0
    barge_ins: int = 0
    agent_audio_s: float = 0.0
    caller_audio_s: float = 0.0
    wav: str = ""
    refused: str = ""
    hung_up_by_server: bool = False  # the agent ended the stream (end_call / transfer_call)
    transferred_to: str = ""  # the number a <Dial> answered the re-invocation with
    # When (seconds after the stream opened) and how the server closed the stream, if it did.
    server_closed_s: float | None = None
    close_code: int | None = None
    # Raw timings (time.monotonic) for benchmarks.
    t0: float = 0.0
    sent_at: list[float] = field(default_factory=list, repr=False)
    first_audio_at: float | None = None  # the first audible frame arrived
    heard: np.ndarray | None = field(default=None, repr=False)

    def summary(self) -> str:
        if self.refused:
            return f"call {self.call_id}: not streamed ({self.refused})"
        first = (
            f"{self.time_to_first_audio_ms:.0f} ms"
            if self.time_to_first_audio_ms is not None
            else "none"
        )
        latencies = ", ".join(f"{v:.0f}" for v in self.answer_latencies_ms) or "none"
        return (
            f"call {self.call_id} at {self.rate} Hz\n"
            f"  time to first agent audio: {first}\n"
            f"  answers: {self.turns} (latency after the caller stopped, ms: {latencies})\n"
            f"  barge-ins (killAudio): {self.barge_ins}\n"
            f"  caller audio sent: {self.caller_audio_s:.1f} s, agent audio heard: "
            f"{self.agent_audio_s:.1f} s\n"
            f"  recording (left caller, right agent): {self.wav or 'not written'}"
            + ("\n  the agent hung up" if self.hung_up_by_server else "")
            + (f"\n  transferred to {self.transferred_to}" if self.transferred_to else "")
            + (
                f"\n  the server closed the stream at {self.server_closed_s:.1f} s "
                f"(code {self.close_code})"
                if self.server_closed_s is not None
                else ""
            )
        )


# (silence before, speech length): the greeting plays first; the caller asks something,
# hears the start of the answer, talks over it, then listens to the second answer.
DEFAULT_PLAN = [(2.0, 1.2), (1.0, 0.8), (4.5, 0.0)]


def scripted_caller(
    rate: int, plan: list[tuple[float, float]] | None = None
) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """A caller who speaks, waits for the answer, talks over the next one, then listens.

    Returns int16 samples and the (start, end) seconds of each utterance.
    """
    pieces, spans, t = [], [], 0.0
    for gap, talk in plan or DEFAULT_PLAN:
        pieces.append(np.zeros(int(gap * rate)))
        t += gap
        if talk:
            pieces.append(_speechlike(talk, rate))
            spans.append((t, t + talk))
            t += talk
    return (np.concatenate(pieces) * 32767).astype(np.int16), spans


def _speechlike(seconds: float, rate: int) -> np.ndarray:
    """A buzz with a voice-like pitch and syllable-rate loudness changes."""
    t = np.arange(int(seconds * rate)) / rate
    pitch = 140 + 20 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(pitch) / rate
    voice = sum(np.sin(k * phase) / k for k in range(1, 8))
    syllables = 0.6 + 0.4 * np.abs(np.sin(2 * np.pi * 2.5 * t))
    return 0.25 * voice * syllables / 2


def read_wav(path: str | Path, rate: int) -> np.ndarray:
    with wave.open(str(path), "rb") as w:
        if w.getsampwidth() != 2:
            raise ValueError(f"{path}: need 16-bit PCM WAV")
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        if w.getnchannels() > 1:
            data = data.reshape(-1, w.getnchannels()).mean(axis=1).astype(np.int16)
        source_rate = w.getframerate()
    if source_rate != rate:
        data = soxr.resample(data, source_rate, rate, quality="VHQ")
    return data.astype(np.int16)


class _MediaBuffer:
    """What the caller hears: frames play back to back; killAudio drops what has not played."""

    def __init__(self, rate: int, start: float) -> None:
        self.rate = rate
        self.start = start
        self._played: list[tuple[int, np.ndarray]] = []  # (start sample, frame), as heard
        self._queue: list[tuple[float, np.ndarray]] = []
        self._play_until = start

    def add(self, pcm: bytes, now: float) -> float:
        """Queue a frame; return when it starts playing."""
        self._settle(now)
        begins = max(self._play_until, now)
        frame = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2")
        self._queue.append((begins, frame))
        self._play_until = begins + len(frame) / self.rate
        return begins

    def kill(self, now: float) -> None:
        self._settle(now)
        kept = []
        for begins, frame in self._queue:
            if begins < now:
                played = round((now - begins) * self.rate)
                kept.append((begins, frame[:played]))
        self._queue = kept
        self._play_until = max([now] + [b + len(f) / self.rate for b, f in kept])

    def _settle(self, now: float) -> None:
        done = [(b, f) for b, f in self._queue if b + len(f) / self.rate <= now]
        for begins, frame in done:
            self._write(begins, frame)
        self._queue = [(b, f) for b, f in self._queue if b + len(f) / self.rate > now]

    def _write(self, begins: float, frame: np.ndarray) -> None:
        self._played.append((round((begins - self.start) * self.rate), frame))

    def finish(self) -> np.ndarray:
        """Everything the caller heard, on one timeline from when the stream opened."""
        for begins, frame in self._queue:
            self._write(begins, frame)
        self._queue = []
        end = max((at + len(frame) for at, frame in self._played), default=0)
        heard = np.zeros(end, dtype=np.int16)
        for at, frame in self._played:
            heard[at : at + len(frame)] = frame
        return heard


def as_heard(frames: list[tuple[float, bytes]], rate: int) -> np.ndarray:
    """What a phone plays from frames that came at those times (seconds on the loop's clock), as the
    media buffer plays them; silence where nothing came (a GPT-Live call is sent speech only)."""
    if not frames:
        return np.zeros(0)
    media = _MediaBuffer(rate, frames[0][0])
    for t, pcm in frames:
        media.add(pcm, t)
    return media.finish().astype(np.float64)


# Sautikit retries a webhook that did not answer 2xx within 10 s (after 30 s, 2 min, 10 min, …);
# the simulator does the same on a faster clock, so that a call plays out in seconds.
RETRY_AFTER_S = (0.5, 1.0, 2.0, 4.0, 8.0)
# Once the server has closed the stream, how long the caller waits to read how (the close code).
CLOSE_NOTED_S = 2.0


def _post(
    url: str, fields: dict[str, Any], secret: str, as_json: bool = False
) -> tuple[int, bytes]:
    for delay in RETRY_AFTER_S:
        status, body = _attempt(url, fields, secret, as_json)
        if 200 <= status < 300:
            return status, body
        time.sleep(delay)
    return _attempt(url, fields, secret, as_json)


def _attempt(url: str, fields: dict[str, Any], secret: str, as_json: bool) -> tuple[int, bytes]:
    try:
        return _post_once(url, fields, secret, as_json)
    except OSError as e:  # refused, reset or timed out (urllib's URLError is an OSError)
        return 0, str(e).encode()


def _post_once(
    url: str, fields: dict[str, Any], secret: str, as_json: bool = False
) -> tuple[int, bytes]:
    if as_json:
        body, ctype = json.dumps(fields).encode(), "application/json"
    else:
        body, ctype = urlencode(fields).encode(), "application/x-www-form-urlencoded"
    headers = {"Content-Type": ctype}
    if secret:  # signed anew for each attempt, as Sautikit does
        headers[signatures.HEADER] = signatures.sign(secret, body)
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def unreachable(base_url: str, timeout_s: float = 2.0) -> str:
    """Why nothing answers at `base_url`, in words, or "" when something does: asked once
    before a call, so that a wrong address is said at once rather than after every retry."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{base_url!r} is not an http:// or https:// address"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname, port), timeout=timeout_s).close()
    except OSError as e:
        reason = e.strerror or type(e).__name__
        return f"nothing answers at {base_url} ({reason})"
    return ""


async def post(
    url: str, fields: dict[str, Any], secret: str, as_json: bool = False
) -> tuple[int, bytes]:
    return await asyncio.to_thread(_post, url, fields, secret, as_json)


async def simulate_call(
    base_url: str,
    number: str,
    caller: str = "+254700000001",
    wav: str | Path | None = None,
    out: str | Path | None = "call.wav",
    tail_s: float = 3.0,
    secret: str = "",
    call_id: str | None = None,
    plan: list[tuple[float, float]] | None = None,
    before_stream: Callable[[], Awaitable[None]] | None = None,
    say: Callable[[str], None] | None = None,
) -> CallReport:
    """One inbound call as Sautikit places it. `before_stream` runs once the voice webhook has
    answered, before the stream opens (a test holds the call there); `say` hears each step as
    it happens (the command prints them, so a person watching knows the call is going on)."""
    base_url = base_url.rstrip("/")
    call_id = call_id or f"SIM_{uuid.uuid4().hex[:16]}"
    report = CallReport(call_id)
    say = say or _quiet
    say(f"calling {number} from {caller} through {base_url} (call {call_id})")
    events_url = f"{base_url}/sautikit/events/"
    started = datetime.now(UTC)
    await _event(events_url, "call.started", call_id, caller, number, secret, status="ringing")

    fields = {"sessionId": call_id, "callerNumber": caller, "destinationNumber": number,
              "direction": "Inbound", "isActive": "1"}  # fmt: skip
    status, body = await post(f"{base_url}/sautikit/voice/", fields, secret)
    if status != 200:
        report.refused = f"voice webhook answered {status}: {body.decode(errors='replace')}"
        return report
    say("the voice webhook answered; opening the audio stream")
    stream = ET.fromstring(body).find("Stream")  # noqa: S314 (our own server's answer)
    if stream is None:
        report.refused = "no <Stream> in the answer: " + body.decode(errors="replace")
        return report
    rate = report.rate = int(stream.get("outputSamplingRate", "16000"))
    stream_sid = f"MZ{uuid.uuid4().hex[:16]}"
    status_url = stream.get("statusCallback", "")

    spans: list[tuple[float, float]] = []
    if wav:
        caller_audio = read_wav(wav, rate)
    else:
        caller_audio, spans = scripted_caller(rate, plan)
    seconds = len(caller_audio) / rate + tail_s
    say(f"the call takes about {seconds:.0f} s: the caller "
        + ("plays " + str(wav) if wav else "speaks, listens, talks over an answer and listens")
        + f", then hangs up after {tail_s:g} s of quiet")  # fmt: skip

    async def announce() -> None:
        # Sautikit's webhooks come from another component: they do not hold up the media.
        if status_url:
            started = {"callSessionState": "StreamStarted", "streamSid": stream_sid,
                       "sessionId": call_id}  # fmt: skip
            await post(status_url, started, secret)
        await _event(events_url, "call.answered", call_id, caller, number, secret,
                     answered_at=datetime.now(UTC).isoformat())  # fmt: skip

    async def stopped() -> None:
        if status_url:
            # The caller hanging up: Sautikit reports the stream stopped as it tears it down.
            await post(status_url, {"callSessionState": "StreamStopped", "streamSid": stream_sid,
                                    "sessionId": call_id}, secret)  # fmt: skip

    if before_stream is not None:
        await before_stream()
    hello = {"callSid": call_id, "streamSid": stream_sid, "from": caller, "to": number,
             "sampleRate": rate, "headers": "{}"}  # fmt: skip
    await stream_call(stream.get("url", ""), report, caller_audio, spans, hello, tail_s,
                      announce=announce, stopped=stopped, say=say)  # fmt: skip
    # Sautikit asks the voice URL what to do next when the stream ends with the caller still on.
    if report.hung_up_by_server:
        status, body = await post(
            f"{base_url}/sautikit/voice/", {**fields, "callSessionState": "StreamStopped"}, secret
        )
        dial = ET.fromstring(body).find("Dial") if status == 200 else None  # noqa: S314
        if dial is not None:
            report.transferred_to = dial.get("phoneNumbers", "")
    say("telling the server the call has ended, as Sautikit does")
    duration = (datetime.now(UTC) - started).total_seconds()
    await post(f"{base_url}/sautikit/voice/", {**fields, "isActive": "0",
               "callSessionState": "Completed", "durationInSeconds": str(round(duration))},
               secret)  # fmt: skip
    await _event(events_url, "call.completed", call_id, caller, number, secret, status="completed",
                 duration_seconds=round(duration), ended_at=datetime.now(UTC).isoformat(),
                 hangup_cause="NORMAL_CLEARING")  # fmt: skip

    if out and report.heard is not None:
        report.wav = str(Path(out).resolve())
        _write_stereo(report.wav, caller_audio, report.heard, rate)
    return report


async def stream_call(
    url: str,
    report: CallReport,
    caller_audio: np.ndarray,
    spans: list[tuple[float, float]],
    hello: dict[str, Any],
    tail_s: float = 3.0,
    announce: Callable[[], Coroutine[Any, Any, None]] | None = None,
    stopped: Callable[[], Awaitable[None]] | None = None,
    say: Callable[[str], None] | None = None,
) -> None:
    """The media part of a call: the stream socket, audio both ways, what was heard.

    `announce` runs beside the media once the socket is open, `stopped` once the caller is
    done, `say` at each step; `report` gets the timings, the answers and what was heard.
    """
    say = say or _quiet
    rate = report.rate
    frame = rate // 50
    report.caller_audio_s = len(caller_audio) / rate

    async with websockets.connect(
        url, subprotocols=[Subprotocol(SUBPROTOCOL)], max_size=None, compression=None
    ) as ws:
        t0 = report.t0 = time.monotonic()
        media = _MediaBuffer(rate, t0)
        first_audio: list[float] = []
        bursts: list[float] = []  # when each answer started playing

        async def send_caller_audio() -> None:
            speaks = [begin for begin, _ in spans]
            try:
                for i, start in enumerate(range(0, len(caller_audio), frame)):
                    await _sleep_until(t0 + i * frame / rate)
                    if speaks and i * frame / rate >= speaks[0]:
                        say(f"{speaks.pop(0):5.1f} s  the caller speaks")
                    report.sent_at.append(time.monotonic())
                    await ws.send(caller_audio[start : start + frame].tobytes())
                await asyncio.wait_for(receiver, tail_s)
            except websockets.ConnectionClosed:
                # Sending can notice the close before the receiver has run: let it note how
                # and when the stream ended.
                await asyncio.wait({receiver}, timeout=CLOSE_NOTED_S)
            except TimeoutError:
                pass
            # Closed from the other end while the caller was still on: the agent hung up.
            report.hung_up_by_server = receiver.done() and not receiver.cancelled()

        async def receive() -> None:
            with contextlib.suppress(websockets.ConnectionClosed):
                await play(-1.0)
            report.server_closed_s = time.monotonic() - t0
            report.close_code = ws.close_code
            say(f"{report.server_closed_s:5.1f} s  the server closed the stream "
                f"(code {report.close_code})")  # fmt: skip

        async def play(last_frame_end: float) -> None:
            async for message in ws:
                now = time.monotonic()
                if isinstance(message, bytes):
                    begins = media.add(message, now)
                    # Speech, not silence: a GPT-Live track goes on, silent, between answers.
                    if not audible(message):
                        continue
                    if not first_audio:
                        first_audio.append(now - t0)
                        report.first_audio_at = now
                    if begins - last_frame_end > 0.3:
                        bursts.append(begins - t0)
                        say(f"{begins - t0:5.1f} s  the agent speaks")
                    last_frame_end = begins + len(message) / 2 / rate
                else:
                    try:
                        command = json.loads(message)
                    except ValueError:
                        continue
                    if command.get("type") == "killAudio":
                        report.barge_ins += 1
                        media.kill(now)
                        say(f"{now - t0:5.1f} s  the agent stops (killAudio: the caller talked "
                            "over it)")  # fmt: skip
                        last_frame_end = now - 1  # what plays next is a new answer

        receiver = asyncio.create_task(receive())
        await ws.send(json.dumps(hello))
        announcing = asyncio.create_task(announce()) if announce else None
        say("  0.0 s  the stream is open")
        await send_caller_audio()
        if not report.hung_up_by_server:
            say(f"{time.monotonic() - t0:5.1f} s  the caller hangs up")
        receiver.cancel()
        if announcing is not None:
            await announcing
        if stopped is not None:
            await stopped()
    heard = report.heard = media.finish()
    report.time_to_first_audio_ms = first_audio[0] * 1000 if first_audio else None
    report.turns = len(bursts)
    report.agent_audio_s = float(np.count_nonzero(np.abs(heard) > AUDIBLE)) / rate
    for _, end in spans:
        after = [b for b in bursts if b > end]
        if after:
            report.answer_latencies_ms.append((after[0] - end) * 1000)


def _quiet(_: str) -> None:
    pass


async def _event(url: str, kind: str, call_id: str, caller: str, number: str, secret: str,
                 **data: Any) -> None:  # fmt: skip
    envelope = {
        "kind": kind,
        "event_id": f"evt_{uuid.uuid4().hex}",
        "workspace_id": "ws_simulator",
        "occurred_at": datetime.now(UTC).isoformat(),
        "data": {"call_id": call_id, "direction": "inbound", "from": caller, "to": number, **data},
    }
    await post(url, envelope, secret, as_json=True)


async def _sleep_until(deadline: float) -> None:
    delay = deadline - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)


def _write_stereo(path: str, left: np.ndarray, right: np.ndarray, rate: int) -> None:
    n = max(len(left), len(right))
    stereo = np.zeros((n, 2), dtype=np.int16)
    stereo[: len(left), 0] = left
    stereo[: len(right), 1] = right
    with wave.open(path, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(stereo.astype("<i2").tobytes())
