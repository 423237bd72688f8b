"""Phone numbers in E.164: "0712 345 678", "254712345678" and "+254712345678" are one number.

A national number needs the country it was written in: callers pass the project's
(settings.DEFAULT_COUNTRY_CODE).

Every rule about a caller (the blocklist, the limits per caller, which agent answers) compares
numbers, so every spelling of one number must come out as the same E.164 text, and anything
that is not a number as one value (WITHHELD) rather than as whatever was written: otherwise
each new spelling is a new caller. So: Unicode is folded first (NFKC: fullwidth digits and
plus), any decimal digit counts as its ASCII digit (Arabic-Indic ٠١٢ is 012), invisible
characters, spaces and dashes of every script are separators, and tel:/sip:/sips: URIs (with
a display name, <…>, ;params and @host) give their user part.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import unquote

# ASCII digits only, and \Z (not $, which also matches before a final newline). The same text
# is used as a database regex (calls.limits): PostgreSQL and Python read \A, [0-9], {m,n}, \Z
# alike.
E164_PATTERN = r"\A\+[1-9][0-9]{7,14}\Z"
E164 = re.compile(E164_PATTERN)
# What every caller that is not a number is, for every rule: one caller, however it was written.
WITHHELD = ""
# Longest national number written without its trunk "0" that we still read as national.
NATIONAL_MAX_DIGITS = 10
# Webhook fields and every stored number are at most 64 characters, and no spelling of a
# number is longer. NFKC can make text longer (one character can become 18), hence a second,
# looser bound after it.
MAX_LENGTH = 64
MAX_FOLDED_LENGTH = 4 * MAX_LENGTH
SCHEMES = ("tel:", "sip:", "sips:")
# Invisible (Cf: zero-width space and joiner, BOM, bidi marks; Cc: controls), spaces and line
# breaks of any script, dashes of any script: never part of a number.
IGNORED_CATEGORIES = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp", "Pd"})
# Punctuation people group digits with (after NFKC, which already made fullwidth and small
# forms ASCII): brackets, dots, slashes, the minus sign and middle dots.
IGNORED_CHARACTERS = frozenset("()[]./\u2212\u00b7\u2027\u30fb\u2219")
TRUNK_ZERO = re.compile(r"\(\s*0\s*\)")
# Where a URI's user part ends: its password (RFC 3261 userinfo), its params, its host.
USER_PART_END = re.compile(r"[:;@?]")


class InvalidNumber(ValueError):
    pass


def _fold(text: str) -> str | None:
    """NFKC, without the characters that are never part of a number (None if far too long)."""
    folded = unicodedata.normalize("NFKC", text)
    if len(folded) > MAX_FOLDED_LENGTH:
        return None
    # "+254 (0)712 345 678": the (0) is the trunk prefix, dialled only from inside the country.
    folded = TRUNK_ZERO.sub("", folded)
    return "".join(
        c
        for c in folded
        if c not in IGNORED_CHARACTERS and unicodedata.category(c) not in IGNORED_CATEGORIES
    )


def _user_part(text: str) -> str | None:
    """The number inside `"Name" <sip:+254…@host;…>`, `sips:…` or `tel:…;…`, or `text` itself."""
    if "<" in text:
        # The address is the last <…>; a display name is the caller's own words.
        text = text.rsplit("<", 1)[1].split(">", 1)[0]
    lowered = text.casefold()
    scheme = next((s for s in SCHEMES if lowered.startswith(s)), "")
    if not scheme and "@" not in text:
        return text
    user = USER_PART_END.split(text[len(scheme) :], 1)[0]
    # A SIP user part may be percent-encoded (%2B254…): decoded, it is folded like the rest.
    return _fold(unquote(user)) if "%" in user else user


def _ascii_digits(text: str) -> str | None:
    """`text` with every decimal digit (of any script) in ASCII, or None if anything but a
    leading plus is not a digit."""
    out = []
    for i, c in enumerate(text):
        digit = unicodedata.decimal(c, None)
        if digit is not None:
            out.append(str(digit))
        elif c == "+" and i == 0:
            out.append(c)
        else:
            return None
    return "".join(out)


def _plain(raw: str) -> str | None:
    """The ASCII digits (and leading plus) a number is written with, or None if it is not one."""
    if len(raw) > MAX_LENGTH:
        return None
    folded = _fold(raw)
    user = _user_part(folded) if folded is not None else None
    return _ascii_digits(user) if user is not None else None


def _not_a_number(raw: str) -> InvalidNumber:
    shown = raw if len(raw) <= MAX_LENGTH else raw[:MAX_LENGTH] + "…"
    return InvalidNumber(
        f"{shown!r} is not a phone number: use international form like +254712345678"
    )


def normalise(raw: str, country_code: str) -> str:
    """Return the E.164 form of a number, or raise InvalidNumber with a reason."""
    cc = country_code.lstrip("+")
    original = str(raw or "")
    text = _plain(original)
    if text is None:
        raise _not_a_number(original)
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
        raise _not_a_number(original)
    return number


def caller_form(raw: str, country_code: str) -> str:
    """Who a caller is for the rules: their E.164 number, or WITHHELD for anything that is
    not a number (anonymous, restricted, sip:alice@host, empty), however it is written."""
    try:
        return normalise(raw, country_code)
    except InvalidNumber:
        return WITHHELD


def normalise_or_keep(raw: str, country_code: str) -> str:
    """Best effort for numbers we only record (callers may be 'anonymous' or a SIP URI).

    What is kept is for people to read; the rules read it through caller_form."""
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
