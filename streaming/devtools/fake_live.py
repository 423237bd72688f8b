"""A stand-in for OpenAI's GPT-Live API (`wss://api.openai.com/v1/live/sessions`), offline, for
`make run` without a key, the tests and the benchmarks. Faithful to openai-python's published
types (`openai.types.live`); the tests judge every event it sends against them.

What it does, as GPT-Live does:
- `session.start` first, checked strictly (unknown fields refused, formats and rates as
  published), answered with `session.started` and the resolved session;
- a continuous output track from then on: `session.output_audio.delta` every `chunk_ms`, paced
  in real time, silence when the model is not speaking, in the session's format (`audio/pcm` at
  16 or 24 kHz, `audio/pcmu` / `audio/pcma` at 8 kHz);
- it listens all the time: when the caller speaks (an energy detector) it stops speaking at
  once (no cancel or truncate from the client: the model does it itself), and when the caller
  has been quiet for `silence_ms` it answers with a tone for `reply_ms`;
- transcripts as deltas with `start_ms` / `end_ms` on the session's audio clock, no turns;
- `session.commentary.append` is spoken (a greeting); `session.instructions.append` is taken;
- `session.usage.updated` every second of session, `session.close` → `session.closed` with
  the reason and the cumulative seconds, and the same with `expired` at `max_session_s`;
- delegation to Responses: a caller turn scripted in `tool_calls` is answered, when the session
  lists that function, with `session.delegation.created` and the backend's function call as
  `response.event`s (`response.output_item.done`, `response.completed` with its usage); once
  every open call has a `response.item.create` (function_call_output) and `response.create`
  comes, the backend completes again and the model speaks the result;
- errors as `error {code, message, type, param}`, naming the client event when it had an id.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import itertools
import json
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers

from streaming.core.audio.clock import loop_now
from streaming.devtools import g711
from streaming.devtools.signals import keep_wav
from streaming.devtools.standin import SessionStats, StandInServer, authorised

PATH = "/v1/live/sessions"
MODELS = ("gpt-live-1", "gpt-live-1.1")
RATES = {"audio/pcm": (16000, 24000), "audio/pcmu": (8000,), "audio/pcma": (8000,)}
# What session.start's `session` may hold (openai.types.live.SessionConfigParam).
SESSION_KEYS = {"model", "audio", "client", "delegation", "input", "instructions", "store"}
CLIENT_EVENTS = {
    "session.start", "session.update", "session.input_audio.append",
    "session.input_audio.mute", "session.input_audio.unmute", "session.instructions.append",
    "session.thinking.append", "session.commentary.append", "response.item.create",
    "response.create", "session.close",
}  # fmt: skip
MAX_INSTRUCTIONS_CHARS = 16_384 * 4  # 16,384 tokens, at about 4 characters a token
ids = itertools.count(1)


def new_id(prefix: str) -> str:
    return f"{prefix}_{next(ids):06d}"


class Refused(Exception):
    def __init__(self, code: str, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.param = code, message, param


@dataclass
class LiveOptions:
    api_key: str | None = None  # None: any key (or none) is accepted
    chunk_ms: int = 20  # audio per output delta
    reply_hz: float = 440.0
    reply_ms: int = 1500
    silence_ms: int = 500  # quiet this long after speech: the caller has finished
    speech_start_ms: int = 60  # loud this long: the caller is speaking
    level_dbfs: float = -30.0  # louder than this is speech
    max_session_s: float = 3600.0
    answers: list[str] = field(default_factory=lambda: ["(a synthesised answer)"])
    # Caller turn (1 = the first time the caller spoke) -> (function name, arguments): that
    # turn is delegated, if the session's Responses delegation lists the function.
    tool_calls: dict[int, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    stats_path: str | None = None  # append one JSON line of timings per finished session
    keep_audio: str | None = None  # a folder: each session's received audio, as <session>.wav


class FakeLiveSession:
    """One connection; the tests read its state after the call."""

    def __init__(self, ws: ServerConnection, options: LiveOptions) -> None:
        self.ws = ws
        self.options = options
        self.headers = ws.request.headers if ws.request else Headers()
        self.session: dict[str, Any] | None = None
        self.format = "audio/pcm"
        self.rate = 24000
        self.received = bytearray()  # the caller's audio, as S16LE at the session's rate
        self.sent: list[dict[str, Any]] = []  # every server event, output audio included
        self.got: list[dict[str, Any]] = []  # every client event (JSON objects), as it came
        self.speaking_ms: list[tuple[int, int]] = []  # (start, end) of each answer spoken
        self.stopped_at: list[float] = []  # loop_now() of each answer talked over
        # Timings for the benchmarks, on the loop's clock: time.monotonic(), which every process
        # here shares (or, in a test's own process, its VirtualTimeLoop's clock):
        self.received_at: list[tuple[float, int]] = []  # (when, caller bytes so far) per append
        self.speech_events: list[tuple[str, float]] = []  # ("started", when) the caller spoke
        self.speech_sent_at: list[float] = []  # the first chunk of each stretch of speech
        self.caller_turns = 0
        self.instructions_appended: list[str] = []
        self.function_calls: dict[str, dict[str, Any]] = {}  # call_id -> the call, as sent
        self.tool_outputs: dict[str, str] = {}  # call_id -> the output the client gave
        self._delegation = ""  # the delegation in progress
        self._client_event_id: str | None = None
        self._id = new_id("sess")
        self._speech: np.ndarray = np.zeros(0)  # what is left to say, as float samples
        self._speech_total = 0  # samples of the answer being said, said or not
        self._words: list[str] = []  # its words
        self._words_said = 0
        self._speech_started_ms = 0
        self._track_ms = 0  # the output track's clock: audio sent so far
        self._loud_ms = self._quiet_ms = 0
        self._caller_speaking = False
        self._caller_from_ms = 0
        self._heard_ms = 0  # caller audio received, in ms of audio
        self._answers = 0
        self._started_at = 0.0

    # -- sending ------------------------------------------------------------------------

    async def emit(self, event: dict[str, Any], with_id: bool = True) -> None:
        if with_id:
            event = {"event_id": new_id("event"), **event}
            if self._client_event_id:
                event["client_event_id"] = self._client_event_id
        self.sent.append(event)
        await self.ws.send(json.dumps(event))

    async def error(self, refused: Refused) -> None:
        body = {"code": refused.code, "message": refused.message, "type": "invalid_request_error",
                "param": refused.param}  # fmt: skip
        if self._client_event_id:
            body["client_event_id"] = self._client_event_id
        await self.emit({"type": "error", "error": body})

    # -- the connection ---------------------------------------------------------------------

    async def run(self) -> None:
        if not authorised(self.headers, self.options.api_key):
            await self.error(Refused("invalid_api_key", "Incorrect API key provided."))
            await self.ws.close(3000, "invalid_api_key")
            return
        track: asyncio.Task[None] | None = None
        try:
            async for raw in self.ws:
                try:
                    event = json.loads(raw)
                    if not isinstance(event, dict):
                        raise ValueError
                except ValueError:
                    await self.error(Refused("invalid_json", "The event is not a JSON object."))
                    continue
                self.got.append(event)
                self._client_event_id = event.get("event_id")
                try:
                    if self.session is None:
                        self._start(event)
                        await self.emit({"type": "session.started", "session": self.resource()})
                        self._started_at = loop_now()
                        track = asyncio.create_task(self._output_track())
                    elif await self.handle(event):
                        return
                except Refused as refused:
                    await self.error(refused)
                    if self.session is None:
                        await self.ws.close(1008, "session.start refused")
                        return
                finally:
                    self._client_event_id = None
        finally:
            if track is not None:
                track.cancel()
                # (It may have ended already, on sending to a socket that had closed.)
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await track
            # What the session heard (decoded, at its rate), for whoever checks it.
            folder = self.options.keep_audio if self.session is not None else None
            audio_file = keep_wav(folder, self._id, bytes(self.received), self.rate)
            if self.options.stats_path:
                self._write_stats(self.options.stats_path, audio_file)

    def _write_stats(self, path: str, audio_file: str) -> None:
        SessionStats(
            instructions=(self.session or {}).get("instructions", ""),
            audio_file=audio_file,
            received_at=self.received_at,
            first_delta_sent_at=self.speech_sent_at[0] if self.speech_sent_at else None,
            speech_events=self.speech_events,
            truncates=[],  # GPT-Live has none: the model stops by itself
            errors=[e["error"] for e in self.sent if e["type"] == "error"],
        ).append_to(path)

    def _start(self, event: dict[str, Any]) -> None:
        if event.get("type") != "session.start":
            raise Refused("session_not_started", "Send session.start first.", "type")
        unknown = set(event) - {"type", "session", "event_id"}
        if unknown:
            raise Refused("unknown_parameter", f"Unknown parameter: '{sorted(unknown)[0]}'.",
                          sorted(unknown)[0])  # fmt: skip
        session = event.get("session")
        if not isinstance(session, dict):
            raise Refused("missing_required_parameter", "Missing 'session'.", "session")
        unknown = set(session) - SESSION_KEYS
        if unknown:
            name = sorted(unknown)[0]
            raise Refused("unknown_parameter", f"Unknown parameter: 'session.{name}'.",
                          f"session.{name}")  # fmt: skip
        if session.get("model") not in MODELS:
            raise Refused("invalid_value", f"Invalid model {session.get('model')!r}: use one "
                          f"of {', '.join(MODELS)}.", "session.model")  # fmt: skip
        instructions = session.get("instructions")
        if instructions is not None and not isinstance(instructions, str):
            raise Refused("invalid_type", "'session.instructions' must be a string.",
                          "session.instructions")  # fmt: skip
        if instructions and len(instructions) > MAX_INSTRUCTIONS_CHARS:
            raise Refused("string_above_max_length", "Instructions are limited to 16,384 "
                          "tokens.", "session.instructions")  # fmt: skip
        self._audio(session.get("audio") or {})
        self._check_delegation(session.get("delegation"))
        self.session = session

    def _audio(self, audio: Any) -> None:
        if not isinstance(audio, dict) or set(audio) - {"format", "output"}:
            raise Refused("unknown_parameter", "'session.audio' takes format and output.",
                          "session.audio")  # fmt: skip
        fmt = audio.get("format") or {"type": "audio/pcm", "rate": 24000}
        if not isinstance(fmt, dict) or set(fmt) != {"type", "rate"}:
            raise Refused("invalid_value", "'session.audio.format' is {type, rate}.",
                          "session.audio.format")  # fmt: skip
        if fmt["type"] not in RATES or fmt["rate"] not in RATES[fmt["type"]]:
            raise Refused("invalid_value", f"{fmt['type']} at {fmt['rate']} Hz is not "
                          "supported.", "session.audio.format")  # fmt: skip
        output = audio.get("output") or {}
        if not isinstance(output, dict) or set(output) - {"voice"}:
            raise Refused("unknown_parameter", "'session.audio.output' takes voice.",
                          "session.audio.output")  # fmt: skip
        self.format, self.rate = fmt["type"], fmt["rate"]

    def _check_delegation(self, delegation: Any) -> None:
        if delegation is None or delegation == {"type": "client"}:
            return
        if not isinstance(delegation, dict) or delegation.get("type") != "responses":
            raise Refused("invalid_value", "'session.delegation' is client or responses.",
                          "session.delegation")  # fmt: skip
        unknown = set(delegation) - {"type", "responses", "acknowledgement_delay_ms"}
        responses = delegation.get("responses")
        if unknown or not isinstance(responses, dict) or not responses.get("model"):
            raise Refused("invalid_value", "'session.delegation.responses' needs a model.",
                          "session.delegation.responses")  # fmt: skip
        for n, tool in enumerate(responses.get("tools") or []):
            extra = set(tool) - {"type", "name", "description", "parameters", "strict"}
            if tool.get("type") != "function" or not tool.get("name") or extra:
                raise Refused("invalid_value", "Only function tools {type, name, description, "
                              "parameters, strict} are played here.",
                              f"session.delegation.responses.tools[{n}]")  # fmt: skip

    def _functions(self) -> set[str]:
        delegation = (self.session or {}).get("delegation") or {}
        tools = (delegation.get("responses") or {}).get("tools") or []
        return {tool["name"] for tool in tools}

    def resource(self) -> dict[str, Any]:
        """The resolved session, as session.started and session.closed carry it."""
        assert self.session is not None
        voice = (self.session.get("audio") or {}).get("output", {}).get("voice", "marin")
        resource: dict[str, Any] = {
            "id": self._id,
            "expires_at": int(time.time() + self.options.max_session_s),
            "model": self.session["model"],
            "status": "active",
            "audio": {
                "format": {"type": self.format, "rate": self.rate},
                "output": {"voice": voice},
            },
            "delegation": self.session.get("delegation"),
            "instructions": self.session.get("instructions"),
            "store": bool(self.session.get("store", False)),
        }
        return resource

    # -- client events after the start ------------------------------------------------------

    async def handle(self, event: dict[str, Any]) -> bool:
        """Handle one client event; True once the session is closed."""
        kind = event.get("type")
        if kind not in CLIENT_EVENTS:
            raise Refused("unknown_event", f"Unknown event type {kind!r}.", "type")
        if kind == "session.start":
            raise Refused("session_already_started", "The session has already started.")
        if kind == "session.input_audio.append":
            await self._append(event.get("audio"))
        elif kind == "session.commentary.append":
            content = self._content(event)
            start = self._track_ms
            self._say(content)
            await self.emit({"type": "session.commentary.appended", "start_ms": start,
                             "end_ms": start})  # fmt: skip
        elif kind == "session.instructions.append":
            self.instructions_appended.append(self._content(event))
            await self.emit({"type": "session.instructions.appended",
                             "start_ms": self._track_ms, "end_ms": self._track_ms})  # fmt: skip
        elif kind == "response.item.create":
            self._tool_output(event.get("item"))
        elif kind == "response.create":
            await self._backend_answers()
        elif kind == "session.close":
            await self.close("close_requested")
            return True
        return False

    @staticmethod
    def _content(event: dict[str, Any]) -> str:
        if not isinstance(event.get("content"), str) or "delegation_id" not in event:
            raise Refused("missing_required_parameter", "content and delegation_id are "
                          "required.", "content")  # fmt: skip
        return str(event["content"])

    async def close(self, reason: str) -> None:
        seconds = round(loop_now() - self._started_at, 3) if self._started_at else 0.0
        await self.emit({"type": "session.closed", "reason": reason,
                         "session": self.resource(), "usage": {"seconds": seconds}})  # fmt: skip
        await self.ws.close(1000, reason)

    async def _append(self, audio: Any) -> None:
        try:
            data = base64.b64decode(audio, validate=True) if isinstance(audio, str) else None
        except (binascii.Error, ValueError):
            data = None
        if data is None:
            raise Refused("invalid_value", "'audio' must be base64.", "audio")
        pcm = g711.DECODE[self.format](data) if self.format in g711.DECODE else data
        self.received += pcm
        self.received_at.append((loop_now(), len(self.received)))
        frame = self.rate // 50 * 2
        for at in range(0, len(pcm) - frame + 1, frame):
            await self._listen(np.frombuffer(pcm[at : at + frame], dtype="<i2"))

    async def _listen(self, frame: np.ndarray) -> None:
        """Speech or not, 20 ms at a time: the model stops when talked over, and answers when
        the caller has finished."""
        self._heard_ms += 20
        rms = float(np.sqrt(np.mean(frame.astype(np.float64) ** 2))) / 32768
        loud = rms > 10 ** (self.options.level_dbfs / 20)
        if not self._caller_speaking:
            self._loud_ms = self._loud_ms + 20 if loud else 0
            if self._loud_ms >= self.options.speech_start_ms:
                self._caller_speaking = True
                self.speech_events.append(("started", loop_now()))
                self._caller_from_ms = self._heard_ms - self._loud_ms
                self._quiet_ms = 0
                self._stop_speaking()
            return
        self._quiet_ms = 0 if loud else self._quiet_ms + 20
        if self._quiet_ms >= self.options.silence_ms:
            self._caller_speaking = False
            self._loud_ms = 0
            self.caller_turns += 1
            until = self._heard_ms - self._quiet_ms
            await self.emit({"type": "session.input_transcript.delta",
                             "delta": "(the caller spoke) ", "start_ms": self._caller_from_ms,
                             "end_ms": until})  # fmt: skip
            scripted = self.options.tool_calls.get(self.caller_turns)
            if scripted and scripted[0] in self._functions():
                await self._delegate(*scripted)
                return
            answers = self.options.answers or ["(a synthesised answer)"]
            self._say(answers[self._answers % len(answers)])
            self._answers += 1

    # -- delegation to Responses ---------------------------------------------------------

    async def _delegate(self, name: str, arguments: dict[str, Any]) -> None:
        self._delegation = new_id("dlg")
        response_id = new_id("resp")
        call = {"type": "function_call", "id": new_id("fc"), "call_id": new_id("call"),
                "name": name, "arguments": json.dumps(arguments),
                "status": "completed"}  # fmt: skip
        self.function_calls[call["call_id"]] = call
        delegation = {"id": self._delegation, "target": "responses", "type": "delegation",
                      "response_id": response_id}  # fmt: skip
        await self.emit({"type": "session.delegation.created", "offset_ms": self._track_ms,
                         "delegation": delegation})  # fmt: skip
        await self._backend({"type": "response.output_item.done", "output_index": 0,
                             "item": call})  # fmt: skip
        await self._backend(_completed(response_id, [call]))

    async def _backend(self, event: dict[str, Any]) -> None:
        await self.emit({"type": "response.event", "delegation_id": self._delegation,
                         "event": event})  # fmt: skip

    def _tool_output(self, item: Any) -> None:
        if not isinstance(item, dict) or item.get("type") != "function_call_output":
            raise Refused("invalid_value", "Only function_call_output items are played here.",
                          "item")  # fmt: skip
        if item.get("call_id") not in self.function_calls:
            raise Refused("invalid_value", f"No function call with id {item.get('call_id')!r}.",
                          "item.call_id")  # fmt: skip
        output = item.get("output")
        if not isinstance(output, str):
            raise Refused("invalid_type", "'item.output' must be a string here.", "item.output")
        self.tool_outputs[item["call_id"]] = output

    async def _backend_answers(self) -> None:
        """response.create: the backend answers once every open call has its output."""
        waiting = [c for c in self.function_calls if c not in self.tool_outputs]
        if waiting:
            raise Refused("function_call_output_missing", f"No output yet for {waiting[0]}.")
        last = list(self.tool_outputs.values())[-1] if self.tool_outputs else ""
        text = {"type": "output_text", "text": last, "annotations": []}
        message = {"type": "message", "id": new_id("msg"), "role": "assistant",
                   "status": "completed", "content": [text]}  # fmt: skip
        await self._backend(_completed(new_id("resp"), [message]))
        self._say(f"(the tool said: {last})")

    # -- speaking ---------------------------------------------------------------------------

    def _say(self, text: str) -> None:
        """Queue an answer: a tone for reply_ms, its words going out as it plays."""
        n = self.rate * self.options.reply_ms // 1000
        t = np.arange(n) / self.rate
        fade = np.minimum(1.0, np.minimum(np.arange(n), np.arange(n)[::-1]) / (self.rate / 200))
        tone = 0.3 * np.sin(2 * math.pi * self.options.reply_hz * t) * fade
        if not self._speech.size:
            self._speech_started_ms = self._track_ms
            self._speech_total, self._words, self._words_said = 0, [], 0
        self._speech = np.concatenate([self._speech, tone])
        self._speech_total += n
        self._words += text.split()

    def _stop_speaking(self) -> None:
        """Talked over: the model stops at once (what it had not said is never said)."""
        if self._speech.size:
            self.speaking_ms.append((self._speech_started_ms, self._track_ms))
            self.stopped_at.append(loop_now())
        self._speech = np.zeros(0)
        self._words = []

    async def _output_track(self) -> None:
        """One delta every chunk_ms, in real time, for as long as the session lasts."""
        n = self.rate * self.options.chunk_ms // 1000
        usage_every = 1000 // self.options.chunk_ms
        start = loop_now()
        speaking = False
        for tick in itertools.count(1):
            chunk = self._speech[:n]
            self._speech = self._speech[n:]
            if chunk.size and not speaking:
                self.speech_sent_at.append(loop_now())
            speaking = chunk.size > 0
            if chunk.size < n:
                chunk = np.concatenate([chunk, np.zeros(n - chunk.size)])
            pcm = (np.clip(chunk, -1, 1) * 32767).astype("<i2").tobytes()
            data = g711.ENCODE[self.format](pcm) if self.format in g711.ENCODE else pcm
            begin = self._track_ms
            self._track_ms += self.options.chunk_ms
            await self.emit({"type": "session.output_audio.delta",
                             "delta": base64.b64encode(data).decode(), "start_ms": begin,
                             "end_ms": self._track_ms}, with_id=False)  # fmt: skip
            if speaking:
                await self._transcribe(begin)
                if not self._speech.size:
                    self.speaking_ms.append((self._speech_started_ms, self._track_ms))
            if tick % usage_every == 0:
                seconds = round(loop_now() - self._started_at, 3)
                await self.emit({"type": "session.usage.updated", "usage": {"seconds": seconds}})
                if seconds >= self.options.max_session_s:
                    await self.close("expired")
                    return
            await asyncio.sleep(max(0.0, start + tick * self.options.chunk_ms / 1000
                                    - loop_now()))  # fmt: skip

    async def _transcribe(self, begin: int) -> None:
        """The words of what is being said, spread evenly over its audio."""
        played = 1 - self._speech.size / max(1, self._speech_total)
        due = math.ceil(len(self._words) * played) - self._words_said
        if due <= 0:
            return
        text = " ".join(self._words[self._words_said : self._words_said + due]) + " "
        self._words_said += due
        await self.emit({"type": "session.output_transcript.delta", "delta": text,
                         "start_ms": begin, "end_ms": self._track_ms})  # fmt: skip


def _completed(response_id: str, output: list[dict[str, Any]]) -> dict[str, Any]:
    """The backend's `response.completed`, with the usage its tokens are billed by."""
    usage = {"input_tokens": 120, "input_tokens_details": {"cached_tokens": 0},
             "output_tokens": 20, "output_tokens_details": {"reasoning_tokens": 0},
             "total_tokens": 140}  # fmt: skip
    return {"type": "response.completed",
            "response": {"id": response_id, "object": "response", "status": "completed",
                         "output": output, "usage": usage}}  # fmt: skip


class FakeLiveServer(StandInServer[FakeLiveSession]):
    path = PATH
    max_size = 16 * 1024 * 1024

    def __init__(self, options: LiveOptions | None = None) -> None:
        super().__init__()
        self.options = options or LiveOptions()

    def session(self, ws: ServerConnection) -> FakeLiveSession:
        return FakeLiveSession(ws, self.options)
