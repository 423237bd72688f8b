"""One caller, however their number is written, is one caller for the blocklist and the limits
per caller; whatever is not a number is the one withheld caller. At the voice webhook, as
Sautikit posts it."""

from __future__ import annotations

import pytest

from calls.models import BlockedNumber, Call, Status
from tests.helpers import load, post_json, ring, streamed

pytestmark = pytest.mark.django_db
URL = "/sautikit/voice/"
NUMBER = "+254700000001"
ARABIC_INDIC, FULLWIDTH = 0x0660, 0xFF10  # each script's digit zero
FULLWIDTH_PLUS = "\uff0b"


def in_script(number: str, zero: int) -> str:
    """`number` with its ASCII digits written in the script whose digit zero is `zero`."""
    return "".join(chr(zero + int(c)) if "0" <= c <= "9" else c for c in number)


SPELLINGS = [
    NUMBER,
    in_script(NUMBER, ARABIC_INDIC),
    FULLWIDTH_PLUS + in_script(NUMBER[1:], FULLWIDTH) + "\u200b",  # a zero-width space after
    f"sips:{NUMBER}@sip.example.com",
]


def test_it_streams_two_of_four_spellings_of_one_number(client, agent, limits):
    roots = [ring(client, f"S{i}", caller) for i, caller in enumerate(SPELLINGS)]
    assert [streamed(root) for root in roots] == [True, True, False, False]
    assert set(Call.objects.values_list("caller_number", flat=True)) == {NUMBER}
    assert "already has 2 live call(s)" in Call.objects.get(call_id="S3").end_reason


@pytest.mark.parametrize("blocked_as", ["0700 000 001", in_script("0700-000-001", ARABIC_INDIC)])
def test_it_rejects_a_blocked_number_in_every_spelling(client, agent, limits, blocked_as):
    BlockedNumber.objects.create(number=blocked_as, note="abuse")
    for i, caller in enumerate(SPELLINGS):
        assert ring(client, f"B{i}", caller).find("Reject") is not None, caller
        call = Call.objects.get(call_id=f"B{i}")
        assert call.status == Status.REJECTED
        assert call.end_reason == f"refused: {NUMBER} is blocked"
    assert streamed(ring(client, "other", "+254700000002"))


def test_it_counts_callers_that_are_not_numbers_as_one_withheld_caller(client, agent, limits):
    assert streamed(ring(client, "W1", "anonymous"))
    assert streamed(ring(client, "W2", "sip:alice@sip.example.com"))
    for i, caller in enumerate(["Anonymous", "restricted", "sip:bob@sip.example.com"]):
        assert not streamed(ring(client, f"W{3 + i}", caller)), caller
        assert "a withheld number already has 2" in Call.objects.get(call_id=f"W{3 + i}").end_reason
    # What was sent is kept for people to read.
    assert Call.objects.get(call_id="W2").caller_number == "sip:alice@sip.example.com"
    assert streamed(ring(client, "N1", NUMBER))


@pytest.mark.usefixtures("on_recording_day")
def test_it_still_counts_a_withheld_caller_whose_events_name_them(client, agent, limits):
    """The events webhook fills in an empty caller with its `from` as sent."""
    assert streamed(ring(client, "E1", ""))
    event = load("event_call_started")
    event["data"].update(call_id="E1", **{"from": "anonymous"})
    assert post_json(client, "/sautikit/events/", event).status_code == 200
    assert Call.objects.get(call_id="E1").caller_number == "anonymous"
    assert streamed(ring(client, "E2", ""))
    assert not streamed(ring(client, "E3", "private"))


def test_a_blocked_entry_that_is_not_a_number_blocks_the_withheld_caller(client, agent, limits):
    BlockedNumber.objects.create(number="anonymous", note="prank calls")
    assert ring(client, "A1", "Restricted").find("Reject") is not None
    assert Call.objects.get(call_id="A1").end_reason == "refused: a withheld number is blocked"
    assert streamed(ring(client, "A2", NUMBER))


@pytest.mark.usefixtures("on_recording_day")
def test_it_stores_the_number_of_a_call_whose_events_came_first(client, agent, limits):
    event = load("event_call_started")
    event["data"].update(call_id="F1", **{"from": SPELLINGS[1]})
    assert post_json(client, "/sautikit/events/", event).status_code == 200
    assert streamed(ring(client, "F1", SPELLINGS[1]))
    assert Call.objects.get(call_id="F1").caller_number == NUMBER
    assert streamed(ring(client, "F2", NUMBER))
    assert not streamed(ring(client, "F3", NUMBER))
