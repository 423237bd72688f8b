"""How a call ended, as the bridge reports it and the call's record keeps it."""

from __future__ import annotations

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
