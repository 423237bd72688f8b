"""Durations as operators read them."""

from __future__ import annotations


def clock(ms: int | float | None) -> str:
    """0:07 or 1:02:03 from milliseconds."""
    if ms is None:
        return "—"
    seconds = max(0, int(ms // 1000))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02}:{seconds:02}" if hours else f"{minutes}:{seconds:02}"
