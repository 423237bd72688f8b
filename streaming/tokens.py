"""Signed, expiring tokens that let exactly one call open its stream socket: Sautikit's (in the
<Stream> URL), or a staff member's browser talking to an agent (one use, short-lived)."""

from __future__ import annotations

from urllib.parse import quote

from django.conf import settings
from django.core import signing

SALT = "streaming.stream-token"
BROWSER_SALT = "streaming.browser-token"  # a browser's token never opens Sautikit's route
# Between the talk page asking to start and its socket opening: a second or so.
BROWSER_TOKEN_MAX_AGE = 30
# "." needs no escaping in a URL, unlike the default ":".
SEP = "."
# The WebSocket route the bridge consumer listens on (see streaming/routing.py).
STREAM_PATH = "/sautikit/stream/{call_id}/"


def _signer(salt: str) -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=salt, sep=SEP)


def make_token(call_id: str, salt: str = SALT) -> str:
    # sign() gives "<call_id>.<timestamp>.<signature>"; the call id travels in the path.
    signed = _signer(salt).sign(call_id)
    return signed[len(call_id) + 1 :]


def check_token(call_id: str, token: str, max_age: int | None = None, salt: str = SALT) -> bool:
    """True when the token was made for this call id and is younger than max_age seconds."""
    if max_age is None:
        max_age = settings.STREAM_TOKEN_MAX_AGE
    try:
        value = _signer(salt).unsign(f"{call_id}{SEP}{token}", max_age=max_age)
    except signing.BadSignature:  # SignatureExpired is a BadSignature too
        return False
    return value == call_id


def stream_url(base_url: str, call_id: str) -> str:
    """The ws(s):// URL Sautikit opens for this call: wss for an https origin, ws for http."""
    if base_url.startswith("https://"):
        origin = "wss://" + base_url[len("https://") :]
    elif base_url.startswith("http://"):
        origin = "ws://" + base_url[len("http://") :]
    else:
        raise ValueError(f"base URL must start with http:// or https://, got {base_url!r}")
    path = STREAM_PATH.format(call_id=quote(call_id, safe=""))
    return f"{origin.rstrip('/')}{path}?token={quote(make_token(call_id), safe='')}"
