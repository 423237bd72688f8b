from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from agents.models import Agent
from voiceproject.lib.numbers import InvalidNumber, normalise, normalise_or_keep


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
