"""An agent's settings in the groups its page shows them in: the one list of them.

A revision keeps every field named here (REVISED_FIELDS); the agent's page builds its fieldsets
from these groups (agents.admin.agent), in this order, with the page's own extras beside them
("Hear this voice", whether a secret is set); and a test holds the settings a call gets
(streaming.core.call.agent_settings.AgentSettings) to these fields, less NOT_IN_A_CALL.
A new setting goes into one group here, and is then kept, shown and compared.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldGroup:
    title: str
    says: str  # under the title, for operators
    fields: tuple[str, ...]  # Agent fields, in the order the page shows them


WHAT_CALLERS_HEAR = FieldGroup(
    "What callers hear",
    "Changes here are a draft: try them with “Talk to this agent”; phone callers get them when "
    "someone who may publish presses Publish.",
    ("instructions", "greeting", "voice"),
)
NAME_AND_NUMBER = FieldGroup(
    "Name and number",
    "Name, number and “active” apply as soon as you save; only someone who may publish "
    "changes the number and “active”. A new agent answers no calls until it is published.",
    ("name", "phone_number", "is_active"),
)
TOOLS = FieldGroup(
    "Tools and handing over",
    "Ending the call, passing it to a person, and custom tools (listed under this group).",
    ("end_call_enabled", "transfer_number", "fallback_number"),
)
# Folded on the page until someone opens them.
FOLDED = (
    FieldGroup(
        "Engine",
        "Realtime (the default) takes turns: the settings under “How it talks and listens” apply "
        "to it. GPT-Live listens while it speaks and stops by itself when talked over: those "
        "settings do not apply, it costs a flat amount per minute (docs/engines.md), and its "
        "tools are run by a second model that follows the “instructions for tools”.",
        ("engine", "model", "backend_instructions", "backend_model"),
    ),
    FieldGroup(
        "How it talks and listens",
        "Realtime engine only (GPT-Live decides these itself). How the agent knows the caller "
        "has finished, how it hears them and how it speaks. The defaults suit most lines.",
        (
            "turn_detection",
            "vad_threshold",
            "vad_prefix_padding_ms",
            "vad_silence_duration_ms",
            "eagerness",
            "idle_nudge_seconds",
            "noise_reduction",
            "transcription_language",
            "transcription_prompt",
            "speaking_speed",
            "longest_answer_seconds",
        ),
    ),
    TOOLS,
    FieldGroup(
        "Limits",
        "How long a call may last and how many this agent takes at once. “Most calls at once” "
        "applies as soon as you save, so only someone who may publish changes it.",
        ("max_call_minutes", "silence_timeout_seconds", "max_live_calls"),
    ),
    FieldGroup("Recording", "", ("record_calls",)),
    FieldGroup(
        "Where finished calls go",
        "A summary and the notes on every call, and every finished call sent to a system of "
        "yours. The address applies as soon as you save, so only someone who may read calls "
        "and change where call data is sent changes it.",
        ("summarise_calls", "analysis_model", "webhook_url", "webhook_secret_env"),
    ),
    FieldGroup(
        "Phone line (ask a developer before changing)",
        "",
        ("track", "sample_rate", "signing_secret_env"),
    ),
)
GROUPS = (WHAT_CALLERS_HEAR, NAME_AND_NUMBER, *FOLDED)

# The settings that shape a call. Each save that changes one of them keeps a revision.
REVISED_FIELDS = tuple(name for group in GROUPS for name in group.fields)

# Revised settings a call's bridge never reads: who the agent is and which calls reach it,
# which secret signs them, and where finished calls go (the after-call work reads those).
NOT_IN_A_CALL = frozenset(
    {
        "name",
        "phone_number",
        "is_active",
        "track",
        "signing_secret_env",
        "max_live_calls",
        "summarise_calls",
        "analysis_model",
        "webhook_url",
        "webhook_secret_env",
    }
)
