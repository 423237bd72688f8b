"""Sautikit webhook signatures.

The documented form is `X-Sautikit-Signature: t=<unix>,v1=<hex>` with
v1 = HMAC-SHA256(secret, raw_body + "." + t). Some of Sautikit's pages show a
plain hex HMAC-SHA256 of the raw body instead; both are accepted, so neither may
stand in for the other: a timestamped v1 over `body + "." + t` is also a plain HMAC
of the bytes `body.t`, so a plain signature of a body shaped like that is refused.

No signature is good for more than one delivery's worth of effect: verify() returns
the fingerprint of exactly the signed bytes, which the webhooks keep as the delivery's
id, so the same signed message again is a repeat. The timestamped form is also good
only inside the window; the plain form, which carries no time, is good once.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass

HEADER = "X-Sautikit-Signature"
# Unix seconds as Sautikit writes them. int() would also take "+17…", " 17…" and "1_7…": each
# a different spelling of one signed message, so only plain digits are read.
TIMESTAMP = re.compile(r"^[0-9]{1,12}\Z")
# The tail a timestamped message has: "." and a unix time (nine digits or more since 1973).
# A body ending like this could be a timestamped message with its time moved into the body.
TIMESTAMP_TAIL = re.compile(rb"\.[0-9]{9,}\Z")
FINGERPRINT_PREFIX = "sig:"


class SignatureError(Exception):
    """Why a webhook's signature was refused (a short sentence for the 403 body)."""


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The header value Sautikit would send; used by the call simulator and the tests."""
    t = int(time.time()) if timestamp is None else timestamp
    return f"t={t},v1={_hmac(secret, body + b'.' + str(t).encode())}"


def sign_plain(secret: str, body: bytes) -> str:
    return _hmac(secret, body)


@dataclass(frozen=True)
class Verified:
    """What a request's signature proved: whether anything was checked, and the fingerprint
    of exactly the bytes it signs (the body, and its time in the timestamped form)."""

    signed: bool
    fingerprint: str = ""
    secret: int = -1  # which of the secrets given signed it, by position (-1: none checked)


UNSIGNED = Verified(signed=False)


def verify(
    body: bytes,
    header: str | None,
    secrets: Iterable[str],
    tolerance: int = 300,
    now: float | None = None,
    accept_plain: bool = True,
) -> Verified:
    """Return if `header` signs `body` with one of `secrets`; raise SignatureError otherwise.

    With no secret configured there is nothing to check and every request passes. The plain
    form is accepted because some of Sautikit's pages show it; whoever checks our own requests
    (custom tools, the end-of-call webhook: always timestamped) passes `accept_plain=False`.
    """
    named = list(secrets)  # by position: Verified.secret says which one signed
    if not any(named):
        return UNSIGNED
    if not header or not header.strip():
        raise SignatureError(f"{HEADER} header missing")
    header = header.strip()
    if not header.isascii():
        # hmac.compare_digest raises on non-ASCII text: refused here, never a 500.
        raise SignatureError(f"{HEADER} is not ASCII")
    fields = _parse(header)
    if "t" in fields:
        signed, given = _timestamped(body, fields, tolerance, now)
    elif not accept_plain:
        raise SignatureError("signature has no timestamp: expected t=…,v1=…")
    else:
        if TIMESTAMP_TAIL.search(body):
            raise SignatureError(
                "a plain signature is not accepted for a body ending in '.<digits>': "
                "that is the shape of a timestamped message; sign with t=…,v1=…"
            )
        signed, given = body, [header.removeprefix("sha256=").strip().lower()]
    expected = [(i, _hmac(secret, signed)) for i, secret in enumerate(named) if secret]
    # Every pair is compared, so the time taken does not tell which one matched.
    matches = [i for i, digest in expected for value in given if hmac.compare_digest(digest, value)]
    if not matches:
        raise SignatureError("signature does not match")
    return Verified(True, FINGERPRINT_PREFIX + hashlib.sha256(signed).hexdigest(), matches[0])


def _timestamped(
    body: bytes, fields: dict[str, list[str]], tolerance: int, now: float | None
) -> tuple[bytes, list[str]]:
    """The bytes a timestamped header signs and its v1 values, if its time is in the window."""
    if len(fields["t"]) > 1:
        raise SignatureError("signature has more than one timestamp")
    raw_t = fields["t"][0]
    if not TIMESTAMP.match(raw_t):
        raise SignatureError("signature timestamp is not a whole number")
    t = int(raw_t)
    current = time.time() if now is None else now
    if abs(current - t) > tolerance:
        raise SignatureError(f"signature timestamp outside the {tolerance} s window")
    given = [v.lower() for v in fields.get("v1", [])]
    if not given:
        raise SignatureError("signature has no v1 value")
    return body + b"." + raw_t.encode(), given


def _parse(header: str) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if sep and key in {"t", "v1"}:
            fields.setdefault(key, []).append(value.strip())
    return fields


def _hmac(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
