"""Channel-layer group names: one per call, so any process can reach that call's live bridge."""

from __future__ import annotations

import hashlib
import re

# Channels accepts ASCII letters, digits, hyphens, underscores and periods, under 100 characters.
SAFE = re.compile(r"^[A-Za-z0-9_.-]{1,80}$")


def call_group(call_id: str) -> str:
    if SAFE.match(call_id):
        return f"call.{call_id}"
    return "call.h" + hashlib.sha256(call_id.encode()).hexdigest()[:40]
