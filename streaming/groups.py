"""Channel-layer group names: one per call, so any process can reach that call's live bridge.

Each call id has its own group and no other id reaches it: ids Channels can take as they are
become `call.<id>`; any other id becomes `callh.<hash>`, which no `call.` name can spell, so an
ordinary id written as a hash (`h` and 40 hex digits) cannot land in another call's group.
"""

from __future__ import annotations

import hashlib
import re

# Channels accepts ASCII letters, digits, hyphens, underscores and periods, under 100 characters.
SAFE = re.compile(r"^[A-Za-z0-9_.-]{1,80}\Z")


def call_group(call_id: str) -> str:
    if SAFE.match(call_id):
        return f"call.{call_id}"
    return "callh." + hashlib.sha256(call_id.encode()).hexdigest()[:40]
