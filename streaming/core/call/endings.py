"""How a call ended, as the bridge reports it and the call's record keeps it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class EndedBy(StrEnum):
    CALLER = "caller"
    AGENT = "agent"
    LIMIT = "limit"
    ERROR = "error"
    UNKNOWN = ""

    @property
    def label(self) -> str:
        """The name operators read on a call's page."""
        return _LABELS[self]


_LABELS = {
    EndedBy.CALLER: "Caller",
    EndedBy.AGENT: "Agent",
    EndedBy.LIMIT: "Time limit",
    EndedBy.ERROR: "Error",
    EndedBy.UNKNOWN: "Unknown",
}


@dataclass(frozen=True)
class Ending:
    """Why a call's bridge ended, who ended it, and where the caller goes next, if anywhere."""

    reason: str
    ended_by: EndedBy
    failed: bool
    transfer_to: str

    @classmethod
    def decide(
        cls,
        reason: str,
        *,
        failed: bool,
        ended_by: EndedBy,
        hand_over: bool,
        transfer_to: str,
        fallback_to: str,
    ) -> Ending:
        """A failed call, or one ended with `hand_over`, goes to the fallback number if there is
        one and the agent is not already transferring it."""
        ended_by = EndedBy.ERROR if failed else ended_by
        if (failed or hand_over) and fallback_to and not transfer_to:
            return cls(f"{reason}; handed over to {fallback_to}", ended_by, failed, fallback_to)
        return cls(reason, ended_by, failed, transfer_to)


@dataclass(frozen=True)
class CallEnd:
    """What the bridge did and how it ended: the value the consumer records."""

    ending: Ending
    frames_written: int
    playout_underruns: int
    barge_ins: int
    responses: int  # the model's responses (answers, tool calls, the greeting)
    caller_audio_dropped_s: float = 0.0  # sent faster than real time (streaming.core.audio.pacing)
