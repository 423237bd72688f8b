from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from agents.models import Agent
from streaming.ground.numbers import (
    WITHHELD,
    InvalidNumber,
    caller_form,
    normalise,
    normalise_or_keep,
    search_form,
)


@pytest.mark.parametrize(
    "raw",
    [
        "0712 345 678",
        "0712-345-678",
        "+254712345678",
        "254712345678",
        "+254 712 345 678",
        "00254712345678",
        "712345678",
        "(0712) 345.678",
        "tel:+254712345678",
        "sip:+254712345678@sip.example.com",
    ],
)
def test_it_normalises_one_number_written_many_ways(raw):
    assert normalise(raw, "254") == "+254712345678"


@pytest.mark.django_db
def test_it_reads_national_numbers_in_the_lines_country(settings):
    settings.DEFAULT_COUNTRY_CODE = "255"
    Agent(name="A", phone_number="0712 345 678", instructions="x").save()
    assert Agent.objects.get().phone_number == "+255712345678"
    assert normalise("0712 345 678", "+256") == "+256712345678"


def test_it_keeps_other_countries_in_international_form():
    assert normalise("+1 (415) 555-0100", "254") == "+14155550100"
    assert normalise("14155550100", "254") == "+14155550100"


@pytest.mark.parametrize("raw", ["", "   ", "abc", "+0712345678", "12", "+1234567890123456"])
def test_it_refuses_what_is_not_a_number(raw):
    with pytest.raises(InvalidNumber):
        normalise(raw, "254")


def test_it_keeps_callers_that_are_not_numbers():
    assert normalise_or_keep(" anonymous ", "254") == "anonymous"
    assert normalise_or_keep("0700000001", "254") == "+254700000001"


@pytest.mark.django_db
def test_it_treats_spellings_of_one_number_as_the_same_agent():
    Agent(name="A", phone_number="0712 345 678", instructions="x").save()
    assert Agent.objects.get().phone_number == "+254712345678"
    assert Agent.objects.for_number("254712345678").name == "A"
    duplicate = Agent(name="B", phone_number="+254 712 345 678", instructions="x")
    with pytest.raises(ValidationError) as e:
        duplicate.full_clean()
    assert "phone_number" in e.value.message_dict


@pytest.mark.django_db
def test_it_explains_a_bad_number_in_the_form():
    agent = Agent(name="A", phone_number="call me", instructions="x")
    with pytest.raises(ValidationError) as e:
        agent.full_clean()
    assert "international form" in e.value.message_dict["phone_number"][0]


ARABIC_INDIC, FULLWIDTH = 0x0660, 0xFF10  # each script's digit zero


def in_script(number: str, zero: int) -> str:
    """`number` with its ASCII digits written in the script whose digit zero is `zero`."""
    return "".join(chr(zero + int(c)) if "0" <= c <= "9" else c for c in number)


@pytest.mark.parametrize(
    "raw",
    [
        "+254 (0)712 345 678",  # the trunk 0 written in brackets, as printed on cards
        "00254 (0) 712 345678",
        in_script("+254712345678", ARABIC_INDIC),
        in_script("0712345678", ARABIC_INDIC),  # the same, written nationally
        in_script("0712345678", 0x06F0),  # Extended Arabic-Indic (Persian, Urdu)
        in_script("0712345678", 0x0966),  # Devanagari
        "\uff0b" + in_script("254712345678", FULLWIDTH),  # and a fullwidth plus
        in_script("0712345678", 0x1D7CE),  # mathematical bold
        "+254712345678\u200b",  # zero-width space
        "\ufeff+254\u200d712\u200c345\u2060678\u200e",  # BOM, joiners, word joiner, bidi mark
        "+254\u00a0712\u2009345\u202f678",  # no-break, thin and narrow spaces
        "+254\u2010712\u2013345\u2014678",  # hyphen, en and em dashes
        "0712\u2212345\u2212678",  # minus signs
        "0712·345·678",
        "0712\t345\n678",
        "sips:+254712345678@sip.example.com",
        "SIP:+254712345678@sip.example.com",
        "Tel:+254-712-345-678;ext=12",
        "sip:+254712345678;user=phone@sip.example.com;transport=tls",
        "sip:%2B254712345678@sip.example.com",
        "sip:+254712345678:secret@sip.example.com",
        "<sip:+254712345678@sip.example.com>",
        '"Reception" <sip:0712345678@sip.example.com>',
        "+254712345678@sip.example.com",
    ],
)
def test_it_folds_every_spelling_of_a_number_into_one(raw):
    assert normalise(raw, "254") == "+254712345678"
    assert caller_form(raw, "254") == "+254712345678"
    assert search_form(raw, "254") == "+254712345678"


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "anonymous",
        "Anonymous",
        "restricted",
        "unknown",
        "private",
        "alice",
        "sip:alice@sip.example.com",
        "sip:anonymous@anonymous.invalid",
        '"+254712345678" <sip:anonymous@sip.example.com>',  # the display name is not the address
        "sip:@sip.example.com",
        "+254712345678x",
        "+254+712345678",
        "〇七一二",  # ideographic numerals are not decimal digits
        "\u202e876543217452+",  # reversed for the eye by a bidi override
        "browser:amina",
    ],
)
def test_it_makes_everything_that_is_not_a_number_one_withheld_caller(raw):
    assert caller_form(raw, "254") == WITHHELD
    with pytest.raises(InvalidNumber):
        normalise(raw, "254")


def test_it_bounds_what_it_reads_before_and_after_folding():
    # Within 64 characters a number is read; beyond, nothing is (the webhook refuses longer).
    assert normalise("+254712345678" + " " * 51, "254") == "+254712345678"
    assert caller_form("+254712345678" + " " * 52, "254") == WITHHELD
    # U+FDFA is one character that NFKC makes 18.
    assert caller_form("\ufdfa" * 60, "254") == WITHHELD
    with pytest.raises(InvalidNumber) as e:
        normalise("9" * 10_000, "254")
    assert len(str(e.value)) < 200


@pytest.mark.django_db
def test_it_finds_the_agent_for_any_spelling_of_its_number():
    Agent(name="A", phone_number=in_script("254 712 345 678", FULLWIDTH), instructions="x").save()
    assert Agent.objects.get().phone_number == "+254712345678"
    assert Agent.objects.for_number(in_script("0712345678", ARABIC_INDIC)).name == "A"
    assert Agent.objects.for_number("sips:+254712345678@sip.example.com").name == "A"
    assert Agent.objects.for_number("+254712345678\u200b").name == "A"
    assert Agent.objects.for_number("sip:alice@sip.example.com") is None
