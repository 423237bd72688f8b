"""What a call costs: OpenAI tokens (USD) and the Sautikit leg (KES), from prices in settings."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.conf import settings

MILLION = Decimal(1_000_000)
# Token counts a call keeps, as Call fields named tokens_<kind>.
TOKEN_KINDS = (
    "input_text",
    "input_cached_text",
    "input_audio",
    "input_cached_audio",
    "output_text",
    "output_audio",
)


def tokens_from_usage(usage: dict[str, Any] | None) -> dict[str, int]:
    """Split one response.done `usage` into the six priced kinds.

    OpenAI counts cached tokens inside the input totals; here cached ones are taken out of the
    uncached kinds so each token is priced once. Without `cached_tokens_details`, cached tokens
    are taken from text first (instructions are what a cache usually holds).
    """
    usage = usage or {}
    inp = usage.get("input_token_details") or {}
    out = usage.get("output_token_details") or {}
    text_in = _count(inp.get("text_tokens"))
    audio_in = _count(inp.get("audio_tokens"))
    if not inp and usage.get("input_tokens"):
        audio_in = _count(usage.get("input_tokens"))
    cached = _count(inp.get("cached_tokens"))
    details = inp.get("cached_tokens_details") or {}
    if details:
        cached_text = min(text_in, _count(details.get("text_tokens")))
        cached_audio = min(audio_in, _count(details.get("audio_tokens")))
    else:
        cached_text = min(text_in, cached)
        cached_audio = min(audio_in, cached - cached_text)
    text_out = _count(out.get("text_tokens"))
    audio_out = _count(out.get("audio_tokens"))
    if not out and usage.get("output_tokens"):
        audio_out = _count(usage.get("output_tokens"))
    return {
        "input_text": text_in - cached_text,
        "input_cached_text": cached_text,
        "input_audio": audio_in - cached_audio,
        "input_cached_audio": cached_audio,
        "output_text": text_out,
        "output_audio": audio_out,
    }


def _count(value: Any) -> int:
    try:
        return max(0, int(value or 0))
    except (TypeError, ValueError):
        return 0


def openai_usd(tokens: dict[str, int]) -> Decimal:
    prices = settings.PRICE_USD_PER_M
    total = sum((Decimal(tokens.get(kind, 0)) * prices[kind] for kind in TOKEN_KINDS), Decimal(0))
    return (total / MILLION).quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)


def live_usd(seconds: float, backend_tokens: dict[str, Any]) -> Decimal:
    """A GPT-Live session: its minutes at the per-minute price, and its backend's tokens (the
    tools' model; cached input at the cached price)."""
    prices = settings.LIVE_BACKEND_PRICE_USD_PER_M
    cached = _count(backend_tokens.get("cached"))
    fresh = max(0, _count(backend_tokens.get("input")) - cached)
    tokens = (fresh * prices["input"] + cached * prices["input_cached"]
              + _count(backend_tokens.get("output")) * prices["output"])  # fmt: skip
    minutes = Decimal(str(max(0.0, float(seconds)))) / 60
    total = minutes * settings.LIVE_PRICE_USD_PER_MINUTE + tokens / MILLION
    return total.quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)


def sautikit_kes(direction: str, seconds: int | None) -> Decimal:
    """Billed per second at the per-minute price of the call's direction (inbound is free)."""
    per_minute = settings.SAUTIKIT_KES_PER_MINUTE.get(direction or "inbound", Decimal(0))
    return (per_minute * Decimal(seconds or 0) / 60).quantize(Decimal("0.01"), ROUND_HALF_UP)


@dataclass(frozen=True)
class Cost:
    openai_usd: Decimal
    sautikit_kes: Decimal

    @property
    def total_kes(self) -> Decimal:
        return (self.openai_usd * settings.KES_PER_USD + self.sautikit_kes).quantize(
            Decimal("0.01"), ROUND_HALF_UP
        )

    @property
    def total_usd(self) -> Decimal:
        rate = settings.KES_PER_USD or Decimal(1)
        return (self.openai_usd + self.sautikit_kes / rate).quantize(
            Decimal("0.0001"), ROUND_HALF_UP
        )
