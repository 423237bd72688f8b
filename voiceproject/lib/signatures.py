"""Sautikit webhook signatures.

The documented form is `X-Sautikit-Signature: t=<unix>,v1=<hex>` with
v1 = HMAC-SHA256(secret, raw_body + "." + t). Some of Sautikit's pages show a
plain hex HMAC-SHA256 of the raw body instead; both are accepted. Only the
timestamped form can be checked for replays.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterable

HEADER = "X-Sautikit-Signature"


class SignatureError(Exception):
    """Why a webhook's signature was refused (a short sentence for the 403 body)."""


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The header value Sautikit would send; used by the call simulator and the tests."""
    t = int(time.time()) if timestamp is None else timestamp
    return f"t={t},v1={_hmac(secret, body + b'.' + str(t).encode())}"


def sign_plain(secret: str, body: bytes) -> str:
    return _hmac(secret, body)


def verify(
    body: bytes,
    header: str | None,
    secrets: Iterable[str],
    tolerance: int = 300,
    now: float | None = None,
) -> None:
    """Return if `header` signs `body` with one of `secrets`; raise SignatureError otherwise.

    With no secret configured there is nothing to check and every request passes.
    """
    secrets = [s for s in secrets if s]
    if not secrets:
        return
    if not header or not header.strip():
        raise SignatureError(f"{HEADER} header missing")
    header = header.strip()
    fields = _parse(header)
    if "t" in fields:
        _verify_timestamped(body, fields, secrets, tolerance, now)
    else:
        given = header.removeprefix("sha256=").strip().lower()
        if not any(hmac.compare_digest(_hmac(s, body), given) for s in secrets):
            raise SignatureError("signature does not match")


def _verify_timestamped(
    body: bytes,
    fields: dict[str, list[str]],
    secrets: list[str],
    tolerance: int,
    now: float | None,
) -> None:
    raw_t = fields["t"][0]
    try:
        t = int(raw_t)
    except ValueError:
        raise SignatureError("signature timestamp is not a whole number") from None
    current = time.time() if now is None else now
    if abs(current - t) > tolerance:
        raise SignatureError(f"signature timestamp outside the {tolerance} s window")
    given = [v.lower() for v in fields.get("v1", [])]
    if not given:
        raise SignatureError("signature has no v1 value")
    signed = body + b"." + raw_t.encode()
    expected = [_hmac(s, signed) for s in secrets]
    # Every pair is compared, so the time taken does not tell which one matched.
    matches = [hmac.compare_digest(e, g) for e in expected for g in given]
    if not any(matches):
        raise SignatureError("signature does not match")


def _parse(header: str) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if sep and key in {"t", "v1"}:
            fields.setdefault(key, []).append(value.strip())
    return fields


def _hmac(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
