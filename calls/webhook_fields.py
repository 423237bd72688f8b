"""The fields of Sautikit's webhooks as we read them: states, directions, seconds and times
that arrive in many spellings (or not at all) become one value or None, never an error."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.utils import timezone

from streaming.ground.text import state_key

ENDED_OK = {"completed", "hangup", "ended"}
ENDED_UNANSWERED = {
    "busy",
    "failed",
    "noanswer",
    "notanswered",
    "canceled",
    "cancelled",
    "rejected",
}


STREAM_STATES = {"streamstarted", "streamstopped", "streamerror"}
# States the voice URL is re-invoked with after the call began: answer them with <Response/>.
LIFECYCLE = STREAM_STATES | ENDED_OK | ENDED_UNANSWERED


def is_lifecycle_state(state: str) -> bool:
    return state_key(state) in LIFECYCLE


def parse_direction(value: Any) -> str:
    text = str(value or "").lower()
    return text if text in {"inbound", "outbound"} else ""


def whole_seconds(value: Any) -> int | None:
    """Seconds from a webhook field as a whole non-negative number, or None."""
    try:
        seconds = round(float(value))
    except (TypeError, ValueError, OverflowError):
        return None
    return seconds if 0 <= seconds < 2**31 else None


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 time or unix seconds from a webhook, or None if it is neither.

    Times that exist on paper but not in UTC (0001-01-01T00:00+05:00) are None too.
    """
    if value in (None, ""):
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    try:
        parsed = datetime.fromisoformat(str(value)[:64].replace("Z", "+00:00"))
        if timezone.is_naive(parsed):
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


# A webhook's own times outside this window around its arrival are kept as sent (in its payload)
# but drive nothing: not durations, not the call's page. A day ahead at most; two days back,
# since Sautikit retries a delivery for about 33 hours and a late retry is still true.
PLAUSIBLE_AHEAD = timedelta(days=1)
PLAUSIBLE_BEHIND = timedelta(days=2)


def is_plausible(at: datetime, around: datetime) -> bool:
    return around - PLAUSIBLE_BEHIND <= at <= around + PLAUSIBLE_AHEAD


def plausible_time(value: Any, around: datetime) -> datetime | None:
    """parse_time(value) if it lies in the plausible window around `around`, else None."""
    parsed = parse_time(value)
    return parsed if parsed is not None and is_plausible(parsed, around) else None
