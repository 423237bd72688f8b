"""Handing a caller over: how a call's ending chooses a transfer or the fallback number.

Through the consumer (the transfer_call tool and Sautikit's <Dial>): tests/app/test_transfer.py."""

from __future__ import annotations

from streaming.core.call.endings import EndedBy, Ending


def test_a_failed_call_goes_to_the_fallback_number():
    ending = Ending.decide(
        "OpenAI unavailable",
        failed=True,
        ended_by=EndedBy.UNKNOWN,
        hand_over=False,
        transfer_to="",
        fallback_to="+254700000001",
    )
    assert ending == Ending(
        "OpenAI unavailable; handed over to +254700000001", EndedBy.ERROR, True, "+254700000001"
    )


def test_a_transfer_under_way_is_kept_and_a_plain_end_hands_over_nothing():
    transfer = Ending.decide("drain", failed=False, ended_by=EndedBy.LIMIT, hand_over=True,
                             transfer_to="+254700000009", fallback_to="+254700000001")  # fmt: skip
    assert (transfer.transfer_to, transfer.reason) == ("+254700000009", "drain")
    hung_up = Ending.decide(
        "caller hung up",
        failed=False,
        ended_by=EndedBy.CALLER,
        hand_over=False,
        transfer_to="",
        fallback_to="+254700000001",
    )
    assert hung_up == Ending("caller hung up", EndedBy.CALLER, False, "")
