"""A local stand-in for OpenAI's Realtime API (GA shape), for work with no internet and no key.

It speaks the same WebSocket protocol as the real service, as `docs/protocols.md` records it:
session.created first, GA session.update only (the beta shape is refused with close 4000),
24 kHz PCM both ways, an energy VAD that emits speech_started/stopped, transcripts, answers of
synthesised audio sent faster than real time, response.done with usage, and cancel/truncate
with the real service's checks and errors.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import logging
import math
import wave
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any

import numpy as np
import soxr
from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

# Output tokens per second of an answer, as the bridge reckons them: max_output_tokens cuts here.
from streaming.core.realtime.client import OUTPUT_TOKENS_PER_S
from streaming.devtools.signals import keep_wav
from streaming.devtools.standin import SessionStats, StandInServer, authorised

log = logging.getLogger(__name__)

RATE = 24000
WINDOW = RATE // 50  # 20 ms VAD windows
ids = itertools.count(1)


def new_id(prefix: str) -> str:
    return f"{prefix}_{next(ids):06d}"


@dataclass
class Voice:
    """What the fake says: a sum of tones, or a WAV clip, for `duration_ms`."""

    tones: list[tuple[float, float]] = field(default_factory=lambda: [(440.0, 0.3)])
    duration_ms: int = 1500
    clip: np.ndarray | None = None
    fade_ms: int = 5

    def render(self, speed: float = 1.0) -> bytes:
        """The answer's audio; `speed` (the session's audio.output.speed) shortens or lengthens
        it, as OpenAI's post-processing does, without changing the tones' pitch."""
        if self.clip is not None:
            return self.clip.astype("<i2").tobytes()
        n = round(RATE * self.duration_ms / 1000 / speed)
        t = np.arange(n) / RATE
        signal = np.zeros(n)  # silence when there are no tones
        for freq, amp in self.tones:
            signal += amp * np.sin(2 * math.pi * freq * t)
        fade = min(n // 2, RATE * self.fade_ms // 1000)
        if fade:
            ramp = np.linspace(0.0, 1.0, fade)
            signal[:fade] *= ramp
            signal[-fade:] *= ramp[::-1]
        return (np.clip(signal, -1, 1) * 32767).astype("<i2").tobytes()


def load_clip(path: str | Path) -> np.ndarray:
    with wave.open(str(path), "rb") as w:
        if w.getsampwidth() != 2:
            raise ValueError(f"{path}: need 16-bit PCM")
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        if w.getnchannels() > 1:
            data = data.reshape(-1, w.getnchannels())[:, 0]
        rate = w.getframerate()
    if rate != RATE:
        data = soxr.resample(data, rate, RATE, quality="VHQ")
    return data.astype(np.int16)


@dataclass
class Options:
    voice: Voice = field(default_factory=Voice)
    api_key: str | None = None  # None: any key (or none) is accepted
    refuse_status: int | None = None  # answer the upgrade with this HTTP status instead
    chunk_ms: int = 100  # audio per delta
    speedup: float = 4.0  # deltas come this many times faster than real time
    first_delta_delay_ms: int = 0  # "thinking" time before the first delta
    max_session_s: float = 3600.0
    vad_start_ms: int = 60  # loud this long before speech counts as started
    stats_path: str | None = None  # append one JSON line of timings per finished session
    keep_audio: str | None = None  # a folder: each session's received audio, as <session>.wav
    open_delay_ms: int = 0  # wait this long before session.created (a slow connection)
    # Fault injection, to hear what callers hear when OpenAI fails:
    drop_after_s: float | None = None  # a server error and close 1011 this long into a session
    refuse_settings: str | None = None  # refuse every session.update with this error code
    # What the answers "say" (their transcripts), in turn; the greeting says its instructions.
    answers: list[str] = field(default_factory=lambda: ["(a synthesised answer)"])
    # Caller turn number (1 = the first time the caller spoke) -> (tool name, arguments): that
    # turn is answered with a function call instead of audio, if the session lists the tool.
    tool_calls: dict[int, tuple[str, dict[str, Any]]] = field(default_factory=dict)


class FakeSession:
    """One connection's state; the tests read it after the call."""

    def __init__(self, ws: ServerConnection, options: Options) -> None:
        self.ws = ws
        self.options = options
        self.path = ws.request.path if ws.request else ""
        self.headers = ws.request.headers if ws.request else Headers()
        self.session: dict[str, Any] = {
            "type": "realtime",
            "id": new_id("sess"),
            "model": "gpt-realtime",
            "audio": {
                "input": {
                    "format": {"type": "audio/pcm", "rate": RATE},
                    "turn_detection": {
                        "type": "server_vad",
                        "threshold": 0.5,
                        "prefix_padding_ms": 300,
                        "silence_duration_ms": 500,
                        "create_response": True,
                        "interrupt_response": True,
                    },
                },
                "output": {"format": {"type": "audio/pcm", "rate": RATE}, "voice": "marin"},
            },
        }
        self.updates: list[dict[str, Any]] = []
        self.received = bytearray()
        self.received_at: list[tuple[float, int]] = []  # (loop time, bytes so far) per append
        self.items: dict[str, int] = {}  # assistant item id -> ms of audio sent
        self.truncates: list[dict[str, Any]] = []
        self.errors: list[dict[str, Any]] = []
        self.sent: list[str] = []
        self.response_task: asyncio.Task[None] | None = None
        self.responses: list[dict[str, Any]] = []
        self.response_requests: list[dict[str, Any]] = []  # each response.create's `response`
        self.speech_events: list[tuple[str, float]] = []
        self.caller_turns = 0
        self.answers_given = 0
        self.function_calls: dict[str, dict[str, Any]] = {}  # call_id -> the call
        self.tool_outputs: list[dict[str, Any]] = []
        self._outputs_spoken = 0  # tool outputs an answer has already read out
        self.first_delta_sent_at: float | None = None
        self._audio_ms = 0.0
        self._loud_ms = 0.0
        self._quiet_ms = 0.0
        self._speaking = False
        self._speech_item = ""
        self._window = bytearray()
        self._client_event_id: str | None = None
        self._timers: list[asyncio.TimerHandle] = []
        self._idle: asyncio.TimerHandle | None = None
        self._nudges: set[asyncio.Future[None]] = set()
        self.idle_timeouts = 0

    # -- sending --------------------------------------------------------------------

    async def emit(self, event: dict[str, Any]) -> None:
        event.setdefault("event_id", new_id("event"))
        self.sent.append(event["type"])
        await self.ws.send(json.dumps(event))

    async def error(
        self, code: str | None, message: str, kind: str = "invalid_request_error"
    ) -> None:
        # Like OpenAI, an error names the client event that caused it (when that had an id).
        body = {"type": kind, "code": code, "message": message, "param": None,
                "event_id": self._client_event_id}  # fmt: skip
        self.errors.append(body)
        await self.emit({"type": "error", "error": body})

    # -- the connection ---------------------------------------------------------------

    async def run(self) -> None:
        if not self._authorised():
            await self.error("invalid_api_key", "Incorrect API key provided.")
            await self.ws.close(3000, "invalid_api_key")
            return
        if self.options.open_delay_ms:
            await asyncio.sleep(self.options.open_delay_ms / 1000)
        await self.emit({"type": "session.created", "session": self.session})
        loop = asyncio.get_running_loop()
        limit = loop.call_later(
            self.options.max_session_s, lambda: asyncio.ensure_future(self._expire())
        )
        if self.options.drop_after_s is not None:
            drop = loop.call_later(
                self.options.drop_after_s, lambda: asyncio.ensure_future(self._drop())
            )
            self._timers.append(drop)
        try:
            async for raw in self.ws:
                try:
                    event = json.loads(raw)
                except ValueError:
                    await self.error("invalid_json", "The event is not valid JSON.")
                    continue
                await self.handle(event)
        finally:
            limit.cancel()
            for timer in self._timers:
                timer.cancel()
            if self.response_task:
                self.response_task.cancel()
            # What the session heard, for whoever checks it.
            audio_file = keep_wav(self.options.keep_audio, self.session["id"],
                                  bytes(self.received), RATE)  # fmt: skip
            if self.options.stats_path:
                self._write_stats(self.options.stats_path, audio_file)

    def _write_stats(self, path: str, audio_file: str) -> None:
        SessionStats(
            instructions=self.session.get("instructions", ""),
            audio_file=audio_file,
            received_at=self.received_at,
            first_delta_sent_at=self.first_delta_sent_at,
            speech_events=self.speech_events,
            truncates=self.truncates,
            errors=self.errors,
        ).append_to(path)

    def _authorised(self) -> bool:
        return authorised(self.headers, self.options.api_key)

    async def _expire(self) -> None:
        await self.ws.close(1001, "session expired: maximum duration reached")

    async def _drop(self) -> None:
        """What an outage looks like from the client: a server error, then close 1011."""
        with contextlib.suppress(Exception):
            await self.error(None, "The server had an error while processing your request.",
                             kind="server_error")  # fmt: skip
        await self.ws.close(1011, "internal server error")

    async def handle(self, event: dict[str, Any]) -> None:
        self._client_event_id = event.get("event_id")
        try:
            await self._dispatch(event)
        finally:
            self._client_event_id = None

    async def _dispatch(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "session.update":
            await self.session_update(event.get("session") or {})
        elif kind == "input_audio_buffer.append":
            await self.append(event.get("audio") or "")
        elif kind == "response.create":
            self.response_requests.append(event.get("response") or {})
            await self.start_response(event.get("response") or {})
        elif kind == "response.cancel":
            await self.cancel("client_cancelled")
        elif kind == "conversation.item.truncate":
            await self.truncate(event)
        elif kind == "conversation.item.create":
            await self.create_item(event.get("item") or {})
        elif kind in {"input_audio_buffer.commit", "input_audio_buffer.clear"}:
            pass
        else:
            await self.error("invalid_value", f"Unknown event type {kind!r}.")

    async def session_update(self, session: dict[str, Any]) -> None:
        if self.options.refuse_settings:
            await self.error(self.options.refuse_settings, "The session settings were refused.")
            return
        if session.get("type") != "realtime":
            await self.error(
                "beta_api_shape_disabled", "The beta Realtime API shape is no longer supported."
            )
            await self.ws.close(4000, "beta_api_shape_disabled")
            return
        for direction in ("input", "output"):
            fmt = (session.get("audio", {}).get(direction) or {}).get("format")
            if fmt and (fmt.get("type") != "audio/pcm" or fmt.get("rate") != RATE):
                await self.error("invalid_value", f"audio.{direction}.format must be pcm 24000")
                return
        for tool in session.get("tools") or []:
            if tool.get("type") != "function" or not tool.get("name"):
                await self.error("invalid_value", "Each tool needs type 'function' and a name.")
                return
        problem = _controls_problem(session)
        if problem:
            await self.error("invalid_value", problem)
            return
        self.updates.append(session)
        merged = json.loads(json.dumps(self.session))
        _merge(merged, session)
        self.session = merged
        await self.emit({"type": "session.updated", "session": self.session})

    # -- caller audio and the VAD --------------------------------------------------------

    @property
    def turn_detection(self) -> dict[str, Any]:
        return self.session["audio"]["input"].get("turn_detection") or {}

    async def append(self, audio: str) -> None:
        try:
            pcm = base64.b64decode(audio, validate=True)
        except ValueError:
            await self.error("invalid_value", "audio is not base64")
            return
        self.received += pcm
        self.received_at.append((asyncio.get_running_loop().time(), len(self.received)))
        self._window += pcm
        while len(self._window) >= WINDOW * 2:
            frame = np.frombuffer(bytes(self._window[: WINDOW * 2]), dtype="<i2")
            del self._window[: WINDOW * 2]
            await self._vad(frame)

    async def _vad(self, frame: np.ndarray) -> None:
        td = self.turn_detection
        self._audio_ms += 20
        if not td:
            return
        rms = float(np.sqrt(np.mean(frame.astype(np.float64) ** 2))) / 32768
        # threshold 0.5 -> -30 dBFS; higher thresholds need louder speech.
        level = 10 ** ((-50 + 40 * float(td.get("threshold", 0.5))) / 20)
        loud = rms > level
        if not self._speaking:
            self._loud_ms = self._loud_ms + 20 if loud else 0
            if self._loud_ms >= self.options.vad_start_ms:
                await self._speech_started(td)
        else:
            self._quiet_ms = 0 if loud else self._quiet_ms + 20
            if self._quiet_ms >= int(td.get("silence_duration_ms", 500)):
                await self._speech_stopped(td)

    async def _speech_started(self, td: dict[str, Any]) -> None:
        self._speaking = True
        if self._idle is not None:
            self._idle.cancel()
        self._quiet_ms = 0
        self._speech_item = new_id("item")
        start = max(0.0, self._audio_ms - self._loud_ms - td.get("prefix_padding_ms", 300))
        self.speech_events.append(("started", asyncio.get_running_loop().time()))
        await self.emit(
            {
                "type": "input_audio_buffer.speech_started",
                "audio_start_ms": int(start),
                "item_id": self._speech_item,
            }
        )
        if td.get("interrupt_response", True) and self.response_task:
            await self.cancel("turn_detected")

    async def _speech_stopped(self, td: dict[str, Any]) -> None:
        self._speaking = False
        self._loud_ms = 0
        item = self._speech_item
        self.speech_events.append(("stopped", asyncio.get_running_loop().time()))
        await self.emit(
            {"type": "input_audio_buffer.speech_stopped", "audio_end_ms": int(self._audio_ms),
             "item_id": item}
        )  # fmt: skip
        await self.emit({"type": "input_audio_buffer.committed", "item_id": item})
        await self.emit(
            {
                "type": "conversation.item.input_audio_transcription.completed",
                "item_id": item,
                "content_index": 0,
                "transcript": "(the caller spoke)",
            }
        )
        self.caller_turns += 1
        if td.get("create_response", True):
            await self.start_response({})

    # -- answers ---------------------------------------------------------------------------

    async def start_response(self, response: dict[str, Any]) -> None:
        if self.response_task:
            await self.error(
                "conversation_already_has_active_response",
                "Conversation already has an active response in progress.",
            )
            return
        scripted = self.options.tool_calls.get(self.caller_turns)
        listed = {t.get("name") for t in self.session.get("tools") or []}
        if scripted and scripted[0] in listed and not response and not self._answered_turn():
            self.response_task = asyncio.create_task(self._call_function(*scripted))
        else:
            self.response_task = asyncio.create_task(self._respond(response))

    def _answered_turn(self) -> bool:
        """Whether this caller turn's function call was already made (its output came back)."""
        return any(c["turn"] == self.caller_turns for c in self.function_calls.values())

    async def create_item(self, item: dict[str, Any]) -> None:
        kind = item.get("type")
        if kind == "function_call_output":
            if item.get("call_id") not in self.function_calls:
                await self.error(
                    "invalid_value", f"No function call with id {item.get('call_id')!r}."
                )
                return
            if not isinstance(item.get("output"), str):
                await self.error("invalid_type", "function_call_output.output must be a string.")
                return
            self.tool_outputs.append(item)
        elif kind != "message":
            await self.error("invalid_value", f"Unsupported item type {kind!r}.")
            return
        await self.emit(
            {"type": "conversation.item.created", "item": {**item, "id": new_id("item")}}
        )

    async def _call_function(self, name: str, arguments: dict[str, Any]) -> None:
        response_id, item_id, call_id = new_id("resp"), new_id("item"), new_id("call")
        args = json.dumps(arguments)
        self.function_calls[call_id] = {"name": name, "arguments": args, "turn": self.caller_turns}
        item = {"id": item_id, "type": "function_call", "status": "in_progress", "name": name,
                "call_id": call_id, "arguments": ""}  # fmt: skip
        where = {"response_id": response_id, "item_id": item_id, "output_index": 0}
        status, details = "completed", None
        try:
            await self.emit({"type": "response.created",
                             "response": {"id": response_id, "status": "in_progress"}})  # fmt: skip
            await self.emit({"type": "response.output_item.added", "response_id": response_id,
                             "output_index": 0, "item": item})  # fmt: skip
            await asyncio.sleep(0.02)
            await self.emit({"type": "response.function_call_arguments.delta", **where,
                             "call_id": call_id, "delta": args})  # fmt: skip
            await self.emit({"type": "response.function_call_arguments.done", **where,
                             "call_id": call_id, "name": name, "arguments": args})  # fmt: skip
            item = {**item, "status": "completed", "arguments": args}
            await self.emit({"type": "response.output_item.done", "response_id": response_id,
                             "output_index": 0, "item": item})  # fmt: skip
        except asyncio.CancelledError as e:
            status = "cancelled"
            details = {"type": "cancelled", "reason": e.args[0] if e.args else "client_cancelled"}
        finally:
            self.response_task = None
        done = {"id": response_id, "status": status, "status_details": details,
                "usage": self._usage(0.0), "output": [item]}  # fmt: skip
        self.responses.append(done)
        with contextlib.suppress(Exception):
            await self.emit({"type": "response.done", "response": done})

    def _transcript(self, request: dict[str, Any]) -> str:
        if request.get("instructions"):
            return str(request["instructions"])
        if len(self.tool_outputs) > self._outputs_spoken:
            self._outputs_spoken = len(self.tool_outputs)
            return f"(the tool said: {self.tool_outputs[-1]['output']})"
        answers = self.options.answers or ["(a synthesised answer)"]
        text = answers[self.answers_given % len(answers)]
        self.answers_given += 1
        return text

    def _usage(self, sent_s: float) -> dict[str, Any]:
        """Roughly what OpenAI counts: ~10 tokens/s of audio in, ~20 out, the prompt as text,
        cached from the second response on."""
        in_s = len(self.received) / 2 / RATE
        text_in = len(str(self.session.get("instructions", ""))) // 4 + 20 * len(
            self.session.get("tools") or []
        )
        audio_in, audio_out = int(in_s * 10), int(sent_s * 20)
        cached_text = text_in if self.responses else 0
        return {
            "total_tokens": text_in + audio_in + audio_out,
            "input_tokens": text_in + audio_in,
            "output_tokens": audio_out,
            "input_token_details": {
                "text_tokens": text_in,
                "audio_tokens": audio_in,
                "cached_tokens": cached_text,
                "cached_tokens_details": {"text_tokens": cached_text, "audio_tokens": 0},
            },
            "output_token_details": {"text_tokens": 0, "audio_tokens": audio_out},
        }

    async def _respond(self, request: dict[str, Any]) -> None:
        response_id = new_id("resp")
        item_id = new_id("item")
        self.items[item_id] = 0
        status = "completed"
        details: dict[str, Any] | None = None
        await self.emit(
            {"type": "response.created", "response": {"id": response_id, "status": "in_progress"}}
        )
        await self.emit(
            {
                "type": "response.output_item.added",
                "response_id": response_id,
                "output_index": 0,
                "item": {"id": item_id, "type": "message", "role": "assistant"},
            }
        )
        output = self.session["audio"]["output"]
        audio = self.options.voice.render(float(output.get("speed", 1.0)))
        limit = self.session.get("max_output_tokens", "inf")
        if limit != "inf" and len(audio) / 2 / RATE * OUTPUT_TOKENS_PER_S > limit:
            # Cut where the tokens run out; the response ends "incomplete".
            audio = audio[: int(limit / OUTPUT_TOKENS_PER_S * RATE) * 2]
            status, details = "incomplete", {"type": "incomplete", "reason": "max_output_tokens"}
        chunk = RATE * self.options.chunk_ms // 1000 * 2
        pace = self.options.chunk_ms / 1000 / self.options.speedup
        transcript = self._transcript(request)
        words = transcript.split(" ")
        chunks = max(1, -(-len(audio) // chunk))
        try:
            if self.options.first_delta_delay_ms:
                await asyncio.sleep(self.options.first_delta_delay_ms / 1000)
            for n, start in enumerate(range(0, len(audio), chunk)):
                piece = audio[start : start + chunk]
                if self.first_delta_sent_at is None:
                    self.first_delta_sent_at = asyncio.get_running_loop().time()
                # The words spread evenly over the audio, each chunk's words with it.
                these = words[len(words) * n // chunks : len(words) * (n + 1) // chunks]
                if these:
                    text = " ".join(these) + ("" if n == chunks - 1 else " ")
                    await self.emit({"type": "response.output_audio_transcript.delta",
                                     "response_id": response_id, "item_id": item_id,
                                     "output_index": 0, "content_index": 0,
                                     "delta": text})  # fmt: skip
                await self.emit(
                    {
                        "type": "response.output_audio.delta",
                        "response_id": response_id,
                        "item_id": item_id,
                        "output_index": 0,
                        "content_index": 0,
                        "delta": base64.b64encode(piece).decode(),
                    }
                )
                self.items[item_id] += len(piece) // 2 * 1000 // RATE
                await asyncio.sleep(pace)
            await self.emit(
                {"type": "response.output_audio.done", "response_id": response_id,
                 "item_id": item_id, "output_index": 0, "content_index": 0}
            )  # fmt: skip
            await self.emit(
                {
                    "type": "response.output_audio_transcript.done",
                    "response_id": response_id,
                    "item_id": item_id,
                    "output_index": 0,
                    "content_index": 0,
                    "transcript": transcript,
                }
            )
        except asyncio.CancelledError as e:
            status = "cancelled"
            details = {"type": "cancelled", "reason": e.args[0] if e.args else "client_cancelled"}
        finally:
            self.response_task = None
        if status != "cancelled":
            self._wait_for_the_caller(self.items[item_id] / 1000)
        usage = self._usage(self.items[item_id] / 1000)
        done = {"id": response_id, "status": status, "status_details": details, "usage": usage,
                "output": [{"id": item_id, "type": "message", "role": "assistant"}]}  # fmt: skip
        self.responses.append(done)
        with contextlib.suppress(Exception):
            await self.emit({"type": "response.done", "response": done})

    def _wait_for_the_caller(self, audio_s: float) -> None:
        """server_vad's idle_timeout_ms: counted from when the answer has been heard (its
        response.done plus its audio's playing time); the caller speaking first stops it."""
        td = self.turn_detection
        idle_ms = td.get("idle_timeout_ms") if td.get("type") == "server_vad" else None
        if not idle_ms:
            return
        if self._idle is not None:
            self._idle.cancel()
        self._idle = asyncio.get_running_loop().call_later(
            audio_s + idle_ms / 1000, self._start_nudge
        )

    def _start_nudge(self) -> None:
        task = asyncio.ensure_future(self._nudge())
        self._nudges.add(task)
        task.add_done_callback(self._nudges.discard)

    async def _nudge(self) -> None:
        """The caller stayed quiet: say so, then answer the silence."""
        if self._speaking or self.response_task:
            return
        at = int(self._audio_ms)
        self.idle_timeouts += 1
        with contextlib.suppress(Exception):  # the session may have closed meanwhile
            await self.emit({"type": "input_audio_buffer.timeout_triggered",
                             "item_id": new_id("item"), "audio_start_ms": at,
                             "audio_end_ms": at})  # fmt: skip
            await self.start_response({})

    async def cancel(self, reason: str) -> None:
        task = self.response_task
        if task is None:
            return
        task.cancel(reason)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def truncate(self, event: dict[str, Any]) -> None:
        item_id = event.get("item_id")
        end = event.get("audio_end_ms")
        if item_id not in self.items:
            await self.error("invalid_value", f"Item {item_id!r} not found.")
            return
        if self.items[item_id] == 0:
            await self.error("unsupported_content_type", "The item has no audio to truncate.")
            return
        if not isinstance(end, int) or end < 0 or end > self.items[item_id]:
            await self.error(
                "invalid_value",
                f"Audio content of {self.items[item_id]} ms is already shorter than {end} ms",
            )
            return
        self.truncates.append(event)
        await self.emit(
            {"type": "conversation.item.truncated", "item_id": item_id,
             "content_index": event.get("content_index", 0), "audio_end_ms": end}
        )  # fmt: skip


def _controls_problem(session: dict[str, Any]) -> str:
    """What OpenAI would refuse in the session's controls (the published types' ranges)."""
    audio = session.get("audio") or {}
    listening, speaking = audio.get("input") or {}, audio.get("output") or {}
    noise = listening.get("noise_reduction")
    if noise is not None and noise.get("type") not in {"near_field", "far_field"}:
        return "audio.input.noise_reduction.type must be near_field or far_field"
    transcription = listening.get("transcription") or {}
    for name in ("language", "prompt"):
        if name in transcription and not isinstance(transcription[name], str):
            return f"audio.input.transcription.{name} must be a string"
    speed = speaking.get("speed", 1.0)
    if not isinstance(speed, int | float) or not 0.25 <= speed <= 1.5:
        return "audio.output.speed must be between 0.25 and 1.5"
    limit = session.get("max_output_tokens", "inf")
    if limit != "inf" and (not isinstance(limit, int) or not 1 <= limit <= 4096):
        return "max_output_tokens must be between 1 and 4096, or 'inf'"
    td = listening.get("turn_detection") or {}
    if "idle_timeout_ms" in td and td.get("type") != "server_vad":
        return "idle_timeout_ms is only supported for server_vad"
    return ""


def _merge(into: dict[str, Any], update: dict[str, Any]) -> None:
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


class FakeRealtimeServer(StandInServer[FakeSession]):
    """Serves the fake on host:port; `sessions` keeps every connection's FakeSession."""

    path = "/v1/realtime"

    def __init__(self, options: Options | None = None) -> None:
        super().__init__()
        self.options = options or Options()

    def session(self, ws: ServerConnection) -> FakeSession:
        return FakeSession(ws, self.options)

    def refusal(self, connection: ServerConnection, request: Request) -> Response | None:
        if self.options.refuse_status:
            status = HTTPStatus(self.options.refuse_status)
            return Response(status.value, status.phrase, Headers(), status.phrase.encode())
        return None
