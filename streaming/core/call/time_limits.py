"""A call's time limits: the longest call and the longest silence its agent allows, and OpenAI's
own cap on a session."""

from __future__ import annotations

from dataclasses import dataclass

from streaming.core.call.agent_settings import AgentSettings

# OpenAI closes every Realtime session after 60 minutes with code 1001. Its clock starts a
# moment before ours, so a 1001 this close to the hour is that limit; earlier, OpenAI went away.
OPENAI_SESSION_LIMIT_S = 60 * 60
OPENAI_LIMIT_SLACK_S = 60


@dataclass(frozen=True)
class Limits:
    max_call_s: float
    silence_timeout_s: float
    # Caller audio kept while OpenAI is still connecting (then dropped oldest first).
    pending_audio_s: float = 5

    @classmethod
    def of(cls, agent: AgentSettings) -> Limits:
        return cls(
            max_call_s=60 * agent.max_call_minutes, silence_timeout_s=agent.silence_timeout_seconds
        )

    def overrun(self, lasted_s: float, quiet_s: float, playing: bool) -> str | None:
        """Why the call must end now (it lasted `lasted_s`, nobody spoke for `quiet_s`), or None."""
        max_call = min(self.max_call_s, OPENAI_SESSION_LIMIT_S)
        if lasted_s >= max_call:
            return f"maximum call duration reached ({int(max_call)} s)"
        if quiet_s >= self.silence_timeout_s and not playing:
            return f"silence timeout ({int(self.silence_timeout_s)} s)"
        return None


def is_openai_session_limit(close_code: int | None, lasted_s: float) -> bool:
    """Whether OpenAI closing the session (code, after `lasted_s`) was its 60-minute limit."""
    return close_code == 1001 and lasted_s >= OPENAI_SESSION_LIMIT_S - OPENAI_LIMIT_SLACK_S
