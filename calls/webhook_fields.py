"""The fields of Sautikit's webhooks as we read them: states, directions, seconds and times
that arrive in many spellings (or not at all) become one value or None, never an error."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.utils import timezone

from streaming.ground.numbers import normalise_or_keep
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


# What a call.recording.ready event says of its recording, kept on the call.
RECORDING_KEYS = ("recording_id", "duration_seconds", "size_bytes", "download_url", "expires_at")


@dataclass(frozen=True)
class EventFields:
    """What an events_url envelope says of its call, read and bounded: Call.apply_event takes
    these, never the payload (which is kept as it came, as the call's event)."""

    direction: str  # "inbound", "outbound" or ""
    caller: str  # in E.164 when it can be read as a number, else as sent
    dialled: str
    answered_at: datetime | None  # Sautikit's own times, when plausible
    ended_at: datetime | None
    duration_seconds: int | None
    hangup_cause: str
    failure_reason: str
    recording: dict[str, Any] | None  # the recording a call.recording.ready announces


def read_event(
    kind: str, data: dict[str, Any], occurred_at: datetime, country_code: str
) -> EventFields:
    """The fields of one event's `data`, in the many spellings they come in."""
    recording = None
    if kind == "call.recording.ready":
        recording = {key: data.get(key) for key in RECORDING_KEYS}
    return EventFields(
        direction=parse_direction(data.get("direction")),
        caller=normalise_or_keep(str(data.get("from") or "")[:64], country_code),
        dialled=str(data.get("to") or "")[:64],
        answered_at=plausible_time(data.get("answered_at"), occurred_at),
        ended_at=plausible_time(data.get("ended_at"), occurred_at),
        duration_seconds=whole_seconds(data.get("duration_seconds")),
        hangup_cause=str(data.get("hangup_cause") or "")[:64],
        failure_reason=str(data.get("failure_reason") or ""),
        recording=recording,
    )
