"""What a call costs: OpenAI usage priced per kind of token, Sautikit per second by direction."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from calls.costs import Cost, openai_usd, sautikit_kes, tokens_from_usage
from calls.models import Call

USAGE = {
    "total_tokens": 1500,
    "input_tokens": 1200,
    "output_tokens": 300,
    "input_token_details": {
        "text_tokens": 400,
        "audio_tokens": 800,
        "cached_tokens": 500,
        "cached_tokens_details": {"text_tokens": 300, "audio_tokens": 200},
    },
    "output_token_details": {"text_tokens": 50, "audio_tokens": 250},
}


def test_it_prices_cached_tokens_apart_from_the_rest():
    assert tokens_from_usage(USAGE) == {
        "input_text": 100,
        "input_cached_text": 300,
        "input_audio": 600,
        "input_cached_audio": 200,
        "output_text": 50,
        "output_audio": 250,
    }


def test_it_takes_cached_tokens_from_text_first_without_details():
    usage = {**USAGE, "input_token_details": {"text_tokens": 400, "audio_tokens": 800,
                                              "cached_tokens": 500}}  # fmt: skip
    tokens = tokens_from_usage(usage)
    assert (tokens["input_cached_text"], tokens["input_cached_audio"]) == (400, 100)
    assert (tokens["input_text"], tokens["input_audio"]) == (0, 700)


@pytest.mark.parametrize("usage", [None, {}, {"input_token_details": {"text_tokens": "x"}}])
def test_it_counts_nothing_for_missing_or_broken_usage(usage):
    assert sum(tokens_from_usage(usage).values()) == 0


def test_it_uses_the_published_gpt_realtime_prices_by_default():
    # 1M of each kind: 4 + 0.40 + 32 + 0.40 + 16 + 64 dollars.
    tokens = dict.fromkeys(tokens_from_usage(USAGE), 1_000_000)
    assert openai_usd(tokens) == Decimal("116.80")
    # 100 * 4 + 300 * 0.40 + 600 * 32 + 200 * 0.40 + 50 * 16 + 250 * 64 = 36,600 per million.
    assert openai_usd(tokens_from_usage(USAGE)) == Decimal("0.036600")


def test_it_reads_prices_from_settings(settings):
    settings.PRICE_USD_PER_M = {**settings.PRICE_USD_PER_M, "output_audio": Decimal("20")}
    assert openai_usd({"output_audio": 1_000_000}) == Decimal("20")


def test_outbound_minutes_are_billed_per_second_and_inbound_is_free():
    assert sautikit_kes("outbound", 90) == Decimal("4.50")
    assert sautikit_kes("outbound", 1) == Decimal("0.05")
    assert sautikit_kes("inbound", 600) == Decimal("0.00")
    assert sautikit_kes("", 600) == Decimal("0.00")


def test_it_shows_the_total_in_both_currencies(settings):
    settings.KES_PER_USD = Decimal("130")
    cost = Cost(Decimal("0.10"), Decimal("6.50"))
    assert cost.total_kes == Decimal("19.50")
    assert cost.total_usd == Decimal("0.1500")


@pytest.mark.django_db
def test_a_call_sums_its_responses_usage(agent):
    call = Call.objects.create(call_id="C1", agent=agent, direction="outbound",
                               duration_seconds=60)  # fmt: skip
    call.add_usage(tokens_from_usage(USAGE))
    call.add_usage(tokens_from_usage(USAGE))
    call.save()
    call.refresh_from_db()
    assert call.responses == 2
    assert call.tokens_input_cached_text == 600
    assert call.openai_cost_usd == Decimal("0.073200")
    assert call.cost.sautikit_kes == Decimal("3.00")


@pytest.mark.django_db
def test_a_call_without_a_reported_duration_is_billed_from_its_times(agent):
    answered = timezone.now()
    ended = answered + timedelta(seconds=42)
    call = Call.objects.create(
        call_id="C2", agent=agent, direction="outbound", answered_at=answered, ended_at=ended
    )
    assert call.billed_seconds == 42
    assert call.cost.sautikit_kes == Decimal("2.10")
