"""Text as strangers send it: what no database can hold taken out, and the many spellings of
one Sautikit state made one."""

from __future__ import annotations

import re
from typing import Any

LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def strip_nul(value: Any) -> Any:
    """Drop NUL characters, which PostgreSQL cannot store in text or JSON, and replace lone
    surrogates (JSON's "\\ud800"), which no database can encode, with U+FFFD."""
    if isinstance(value, str):
        if not value.isascii():
            value = LONE_SURROGATE.sub("\ufffd", value)
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {strip_nul(str(k)): strip_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [strip_nul(v) for v in value]
    return value


def state_key(state: str) -> str:
    """StreamStopped, stream-stopped and STREAM_STOPPED are one state."""
    return state.lower().replace("-", "").replace("_", "")
