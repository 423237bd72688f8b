"""What a call knows of its agent: one revision's settings, typed and frozen.

Built once per call, when its stream opens, by agents.models.AgentRevision.call_settings(); every
default is the Agent model field's, and OpenAI's message shapes are made from these values in
each engine's client only (streaming/core/realtime/client.py, streaming/core/live/client.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from streaming.core.call.toolbox import ToolSpec

SEMANTIC_VAD = "semantic_vad"


@dataclass(frozen=True)
class AgentSettings:
    engine: str  # "realtime" or "live" (GPT-Live)
    model: str
    instructions: str
    backend_instructions: str  # GPT-Live: for the backend model that runs the tools
    backend_model: str  # GPT-Live: that model
    voice: str
    greeting: str
    sample_rate: int
    turn_detection: str  # "server_vad" (pauses) or "semantic_vad" (meaning)
    vad_threshold: float
    vad_prefix_padding_ms: int
    vad_silence_duration_ms: int
    eagerness: str
    idle_nudge_seconds: int  # 0: never
    noise_reduction: str  # "near_field", "far_field", or "" for off
    transcription_language: str  # ISO 639-1, or "" to let the model guess
    transcription_prompt: str
    speaking_speed: float
    longest_answer_seconds: int  # 0: no limit
    max_call_minutes: int
    silence_timeout_seconds: int
    end_call_enabled: bool
    transfer_number: str
    fallback_number: str
    record_calls: bool
    # The agent's enabled custom tools, as the revision saved them; their signing secrets are
    # read from the environment when the settings are built, never stored.
    tools: tuple[ToolSpec, ...]
