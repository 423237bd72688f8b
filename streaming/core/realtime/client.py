"""A small client for the OpenAI Realtime API (GA interface) over websockets, and the messages
that set up a call's session: the only module that writes Realtime message shapes."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import websockets

from streaming.core.audio.pcm import REALTIME_RATE
from streaming.core.call.agent_settings import SEMANTIC_VAD, AgentSettings
from streaming.core.call.upstream import UpstreamError, UpstreamSocket, error_text

TRANSCRIPTION_MODEL = "gpt-4o-mini-transcribe"
# An answer's output tokens per second of speech: about 20 of audio and a few of its transcript
# (docs/protocols.md). "Longest answer" in seconds becomes max_output_tokens with it.
OUTPUT_TOKENS_PER_S = 24
# Our session.update carries this event_id, so an `error` naming it is known to refuse the
# agent's settings: the call would go on with OpenAI's defaults (no instructions) otherwise.
SESSION_UPDATE_EVENT_ID = "session-settings"
APPEND_HEAD, APPEND_TAIL = '{"type":"input_audio_buffer.append","audio":"', '"}'


def turn_detection(agent: AgentSettings) -> dict[str, Any]:
    """The session's `turn_detection`: how OpenAI decides the caller has finished."""
    config: dict[str, Any] = {"type": agent.turn_detection}
    if agent.turn_detection == SEMANTIC_VAD:
        config["eagerness"] = agent.eagerness
    else:
        config.update(
            threshold=agent.vad_threshold,
            prefix_padding_ms=agent.vad_prefix_padding_ms,
            silence_duration_ms=agent.vad_silence_duration_ms,
        )
        if agent.idle_nudge_seconds:
            config["idle_timeout_ms"] = agent.idle_nudge_seconds * 1000
    config.update(create_response=True, interrupt_response=True)
    return config


def session_update(agent: AgentSettings, tools: list[dict[str, Any]]) -> dict[str, Any]:
    """The call's first message: the agent's instructions, voice, audio formats and tools.
    Controls left at their defaults are not sent: OpenAI's defaults are the same."""
    pcm = {"type": "audio/pcm", "rate": REALTIME_RATE}
    transcription = {"model": TRANSCRIPTION_MODEL}
    if agent.transcription_language:
        transcription["language"] = agent.transcription_language
    if agent.transcription_prompt:
        transcription["prompt"] = agent.transcription_prompt
    listening: dict[str, Any] = {
        "format": pcm,
        "transcription": transcription,
        "turn_detection": turn_detection(agent),
    }
    if agent.noise_reduction:
        listening["noise_reduction"] = {"type": agent.noise_reduction}
    speaking: dict[str, Any] = {"format": pcm, "voice": agent.voice}
    if agent.speaking_speed != 1.0:
        speaking["speed"] = agent.speaking_speed
    session: dict[str, Any] = {
        "type": "realtime",
        "instructions": agent.instructions,
        "output_modalities": ["audio"],
        "audio": {"input": listening, "output": speaking},
    }
    if agent.longest_answer_seconds:
        session["max_output_tokens"] = agent.longest_answer_seconds * OUTPUT_TOKENS_PER_S
    if tools:
        session["tools"] = tools
        session["tool_choice"] = "auto"
    return {"type": "session.update", "event_id": SESSION_UPDATE_EVENT_ID, "session": session}


def greeting_request(agent: AgentSettings) -> dict[str, Any] | None:
    """The agent speaking first, if it has a greeting."""
    if not agent.greeting:
        return None
    return {"type": "response.create", "response": {"instructions": agent.greeting}}


def realtime_url(base: str, model: str) -> str:
    parts = urlsplit(base)
    query = (parts.query + "&" if parts.query else "") + urlencode({"model": model})
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


class RealtimeClient(UpstreamSocket):
    def __init__(self, url: str, api_key: str, model: str, open_timeout: float = 10) -> None:
        super().__init__(open_timeout)
        self.url = realtime_url(url, model)
        self.api_key = api_key

    async def connect(self) -> dict[str, Any]:
        """Open the session and return its first event (session.created)."""
        await self._connect(self.url, self.api_key)
        first = await self._first_event()
        if first.get("type") == "error":
            detail = error_text(first)
            await self.close()
            raise UpstreamError(f"OpenAI refused the session: {detail}")
        return first

    async def _first_event(self) -> dict[str, Any]:
        try:
            raw = await asyncio.wait_for(self._open().recv(), timeout=self.open_timeout)
        except websockets.ConnectionClosed as e:
            raise UpstreamError(f"OpenAI closed the session at once: {_close_text(e)}") from e
        except TimeoutError:
            await self.close()
            raise UpstreamError("OpenAI sent nothing after connecting") from None
        event: dict[str, Any] = json.loads(raw)
        return event

    # -- what the bridge says to OpenAI -------------------------------------------------------

    async def configure(self, agent: AgentSettings, tools: list[dict[str, Any]]) -> None:
        await self.send(session_update(agent, tools))

    async def greet(self, agent: AgentSettings) -> None:
        """The agent speaks first, if it has a greeting."""
        greeting = greeting_request(agent)
        if greeting is not None:
            await self.send(greeting)

    async def truncate(self, item_id: str, audio_end_ms: int) -> None:
        """The caller heard `audio_end_ms` of an answer, and no more."""
        await self.send({"type": "conversation.item.truncate", "item_id": item_id,
                         "content_index": 0, "audio_end_ms": audio_end_ms})  # fmt: skip

    async def send_tool_output(self, function_call_id: str, output: str) -> None:
        await self.send({"type": "conversation.item.create",
                         "item": {"type": "function_call_output", "call_id": function_call_id,
                                  "output": output}})  # fmt: skip

    async def create_response(self) -> None:
        await self.send({"type": "response.create"})

    async def append_audio(self, pcm24k: bytes) -> None:
        if pcm24k:
            # Fifty a second per call: written directly (base64 needs no JSON escaping), as
            # json.dumps would scan the whole payload for characters to escape.
            audio = base64.b64encode(pcm24k).decode("ascii")
            await self._open().send(APPEND_HEAD + audio + APPEND_TAIL)


def _close_text(e: websockets.ConnectionClosed) -> str:
    rcvd = e.rcvd
    return f"code {rcvd.code} {rcvd.reason}".strip() if rcvd else "no close frame"
