"""Which engine answers a call, and its bridge built: the one module that knows both.

An agent's `engine` (AgentSettings.engine) names one: OpenAI Realtime, which takes turns
(streaming/core/realtime/), or GPT-Live, which listens while it speaks (streaming/core/live/).
docs/engines.md compares them.
"""

from __future__ import annotations

from dataclasses import dataclass

from streaming.core.call.bridge import CallBridge, CallParts
from streaming.core.live.bridge import LiveBridge
from streaming.core.live.client import LiveClient
from streaming.core.realtime.bridge import RealtimeBridge
from streaming.core.realtime.client import RealtimeClient

REALTIME = "realtime"
LIVE = "live"


@dataclass(frozen=True)
class OpenAI:
    """Where the engines' sessions open, with which key, and how long opening may take."""

    realtime_url: str
    live_url: str
    api_key: str
    connect_timeout_s: float


def bridge_for(parts: CallParts, openai: OpenAI) -> CallBridge:
    """The bridge of the agent's engine (Realtime for anything but GPT-Live)."""
    if parts.agent.engine == LIVE:
        live = LiveClient(openai.live_url, openai.api_key, openai.connect_timeout_s)
        return LiveBridge(parts, live)
    realtime = RealtimeClient(openai.realtime_url, openai.api_key, parts.agent.model,
                              open_timeout=openai.connect_timeout_s)  # fmt: skip
    return RealtimeBridge(parts, realtime)
