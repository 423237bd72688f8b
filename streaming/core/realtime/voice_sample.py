"""A voice heard before it answers a call: one short Realtime session that says a line in the
chosen voice and closes, for the agent's page ("Hear this voice"). No call, no caller audio."""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import wave

import websockets

from streaming.core.audio.pcm import REALTIME_RATE
from streaming.core.call.upstream import UpstreamError, error_text
from streaming.core.realtime.client import RealtimeClient

# Long enough for a greeting (at most 1,000 characters), short enough that a sample never runs
# up a bill or a page's wait: the first 20 seconds of it.
MAX_SECONDS = 20
MAX_TEXT = 1000
READ_ALOUD = (
    "You are a voice being auditioned for a telephone line. Read aloud exactly the words you "
    "are given, warmly and naturally, as if answering a call. Say nothing else."
)


def sample_session(voice: str, speed: float) -> dict[str, object]:
    speaking: dict[str, object] = {
        "format": {"type": "audio/pcm", "rate": REALTIME_RATE},
        "voice": voice,
    }
    if speed != 1.0:
        speaking["speed"] = speed
    return {
        "type": "session.update",
        "session": {
            "type": "realtime",
            "instructions": READ_ALOUD,
            "output_modalities": ["audio"],
            "audio": {"output": speaking},
        },
    }


async def speak(
    url: str,
    api_key: str,
    model: str,
    voice: str,
    text: str,
    *,
    speed: float = 1.0,
    open_timeout: float = 8,
    deadline_s: float = 30,
) -> bytes:
    """`text` said in `voice`: 24 kHz S16LE mono, at most MAX_SECONDS. Raises UpstreamError
    with what went wrong, in words, when OpenAI cannot be reached or refuses."""
    client = RealtimeClient(url, api_key, model, open_timeout=open_timeout)
    await client.connect()
    audio = bytearray()
    cap = MAX_SECONDS * REALTIME_RATE * 2
    try:
        await client.send(sample_session(voice, speed))
        await client.send(
            {
                "type": "response.create",
                "response": {"instructions": f"Say exactly: {text[:MAX_TEXT]}"},
            }
        )
        async with asyncio.timeout(deadline_s):
            async for event in client.events():
                kind = event.get("type")
                if kind == "response.output_audio.delta":
                    audio += base64.b64decode(event.get("delta") or "")
                    if len(audio) >= cap:
                        break
                elif kind == "response.done":
                    status = (event.get("response") or {}).get("status")
                    if status not in ("completed", None):
                        raise UpstreamError(f"OpenAI stopped the sample ({status})")
                    break
                elif kind == "error":
                    raise UpstreamError(f"OpenAI refused the sample: {error_text(event)}")
            else:
                code, reason = client.closed_how()
                raise UpstreamError(f"OpenAI closed the session: code {code} {reason}".strip())
    except TimeoutError:
        raise UpstreamError(f"OpenAI did not finish the sample in {deadline_s:g} s") from None
    except websockets.WebSocketException as e:
        raise UpstreamError(f"OpenAI closed the session: {e}") from None
    except (binascii.Error, ValueError) as e:
        raise UpstreamError(f"OpenAI sent audio that could not be read: {e}") from None
    finally:
        await client.close()
    return bytes(audio[:cap])


def as_wav(pcm: bytes, rate: int = REALTIME_RATE) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
    return out.getvalue()
