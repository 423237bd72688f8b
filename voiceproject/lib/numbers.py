"""Phone numbers in E.164: "0712 345 678", "254712345678" and "+254712345678" are one number.

A national number needs the country it was written in: callers pass the project's
(settings.DEFAULT_COUNTRY_CODE).
"""

from __future__ import annotations

import re

E164 = re.compile(r"^\+[1-9]\d{7,14}$")
SEPARATORS = re.compile(r"[\s\-.()/\u00a0]")
# Longest national number written without its trunk "0" that we still read as national.
NATIONAL_MAX_DIGITS = 10


class InvalidNumber(ValueError):
    pass


def normalise(raw: str, country_code: str) -> str:
    """Return the E.164 form of a number, or raise InvalidNumber with a reason."""
    cc = country_code.lstrip("+")
    text = SEPARATORS.sub("", str(raw or ""))
    lowered = text.lower()
    if lowered.startswith(("tel:", "sip:")):
        # tel:+254… or a SIP URI (WebRTC callers): the user part is the number.
        text = text[4:].split("@", 1)[0].split(";", 1)[0]
    if not text:
        raise InvalidNumber("the number is empty")

    if text.startswith("+"):
        digits = text[1:]
    elif text.startswith("00"):
        digits = text[2:]
    elif text.startswith("0"):
        digits = cc + text[1:]
    elif text.startswith(cc) and len(text) > NATIONAL_MAX_DIGITS - 1:
        digits = text
    elif len(text) <= NATIONAL_MAX_DIGITS - 1:
        digits = cc + text
    else:
        digits = text

    number = "+" + digits
    if not E164.match(number):
        raise InvalidNumber(
            f"{raw!r} is not a phone number: use international form like +254712345678"
        )
    return number


def normalise_or_keep(raw: str, country_code: str) -> str:
    """Best effort for numbers we only record (callers may be 'anonymous' or a SIP URI)."""
    try:
        return normalise(raw, country_code)
    except InvalidNumber:
        return str(raw or "").strip()


def search_form(term: str, country_code: str) -> str:
    """What an operator's search for "0712 345 678" should match (+254712345678), or ""."""
    try:
        return normalise(term, country_code)
    except InvalidNumber:
        return ""
