"""What each call was about: the summary and the agent's notes, written after the call by a
text model (the Responses API stand-in here), retried while OpenAI is unavailable."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from agents.models import NoteField
from calls.aftercall import analysis
from calls.aftercall.models import MAX_ATTEMPTS, AfterCallTask, TaskKind, TaskState
from calls.aftercall.runner import run_due
from calls.models import AfterCall, Call
from streaming.devtools import fake_text
from streaming.devtools.fake_text import request_problem, respond
from tests.helpers import finished_call

pytestmark = pytest.mark.django_db

SUMMARY = "The caller spoke 2 time(s) and the agent answered 2 time(s)."


@pytest.fixture
def noting(agent):
    """The clinic's agent, noting four things of every call (published)."""
    for position, (name, kind, choices) in enumerate(
        [
            ("caller's name", "text", ""),
            ("appointment booked?", "yes_no", ""),
            ("reason", "choice", "booking\nquestion\nother"),
            ("people booked for", "number", ""),
        ]
    ):
        NoteField.objects.create(agent=agent, name=name, kind=kind, choices=choices,
                                 description=f"The {name}.", position=position)  # fmt: skip
    agent.publish("tests")
    return agent


def again_now(kind: str = TaskKind.ANALYSIS) -> None:
    """The backoff is over (the test does not wait for it)."""
    AfterCallTask.objects.filter(kind=kind).update(next_attempt_at=timezone.now())


def test_it_writes_a_summary_and_the_notes_after_the_call(noting, text_api, settings):
    call = finished_call(noting)
    assert call.analysis == AfterCall.PENDING
    assert run_due() == 1
    call.refresh_from_db()
    assert call.analysis == AfterCall.DONE
    assert call.summary == SUMMARY
    assert call.notes == {
        "caller's name": "(noted: caller's name)",
        "appointment booked?": True,  # the stand-in says yes when a tool was used
        "reason": "booking",
        "people booked for": 2,
    }

    [body] = text_api.options.requests
    assert body["model"] == "gpt-5-mini"
    assert body["store"] is False
    assert body["reasoning"] == {"effort": "low"}
    assert "Caller: I would like to book for Tuesday, my name is Wanjiru." in body["input"]
    assert "(the agent used the tool look_up_booking:" in body["input"]
    fmt = body["text"]["format"]
    assert fmt["strict"] is True and fmt["type"] == "json_schema"
    assert fmt["schema"]["properties"]["notes"]["required"] == [
        "caller_s_name", "appointment_booked", "reason", "people_booked_for",
    ]  # fmt: skip


def test_its_cost_is_added_to_the_calls(noting, text_api, settings):
    call = finished_call(noting)
    before = call.cost.openai_usd
    run_due()
    call.refresh_from_db()
    usage = call.metadata["analysis"]["usage"]
    prices = settings.ANALYSIS_PRICE_USD_PER_M
    expected = (usage["input_tokens"] * prices["input"]
                + usage["output_tokens"] * prices["output"]) / Decimal(1_000_000)  # fmt: skip
    assert call.analysis_cost_usd == expected.quantize(Decimal("0.000001"))
    assert call.analysis_cost_usd > 0
    assert call.cost.openai_usd == before + call.analysis_cost_usd


def test_cached_and_reasoning_tokens_are_priced_as_openai_bills_them(settings):
    usage = {"input_tokens": 1000, "input_tokens_details": {"cached_tokens": 400},
             "output_tokens": 300, "output_tokens_details": {"reasoning_tokens": 200}}  # fmt: skip
    # 600 fresh at 0.25, 400 cached at 0.025, 300 out (reasoning included) at 2.00, per million.
    assert analysis.cost(usage) == Decimal("0.000760")


def test_it_retries_while_openai_is_unavailable_and_shows_it_pending(noting, text_api, client):
    text_api.options.fail_first = 2
    call = finished_call(noting)
    client.force_login(User.objects.create_superuser("operator"))
    page = reverse("admin:calls_call_change", args=[call.pk])

    run_due()
    task = AfterCallTask.objects.get(kind=TaskKind.ANALYSIS)
    assert task.state == TaskState.PENDING
    assert task.next_attempt_at > timezone.now() + timedelta(seconds=5)  # backing off
    assert "OpenAI answered 500" in task.last_error
    assert run_due() == 0  # not due yet
    shown = client.get(page).content.decode()
    assert "Pending: the summary is written shortly after the call" in shown
    assert "The last try failed, and it is tried again: OpenAI had a problem of its own." in shown
    assert "OpenAI answered 500" in shown  # its detail, one click away

    again_now()
    run_due()
    again_now()
    run_due()
    call.refresh_from_db()
    assert call.analysis == AfterCall.DONE
    assert [a.ok for a in task.attempts_made.all()] == [False, False, True]
    shown = client.get(page).content.decode()
    assert SUMMARY in shown
    assert "appointment booked?</th><td>yes" in shown


def test_it_gives_up_after_its_last_attempt(noting, text_api):
    text_api.options.fail_first = 100
    call = finished_call(noting)
    for _ in range(MAX_ATTEMPTS[TaskKind.ANALYSIS]):
        again_now()
        run_due()
    call.refresh_from_db()
    assert call.analysis == AfterCall.FAILED
    assert AfterCallTask.objects.get().state == TaskState.FAILED
    assert run_due() == 0


def test_it_takes_the_notes_of_the_version_the_call_ran_on(noting, text_api):
    NoteField.objects.create(agent=noting, name="mood", kind="text")  # a draft: not published
    call = finished_call(noting)
    run_due()
    call.refresh_from_db()
    assert "mood" not in call.notes
    assert len(call.notes) == 4


def test_it_summarises_without_notes_and_not_when_switched_off(agent, text_api):
    call = finished_call(agent)
    run_due()
    call.refresh_from_db()
    assert call.summary == SUMMARY and call.notes == {}

    agent.summarise_calls = False
    agent.save()
    agent.publish()
    quiet = finished_call(agent, "ended-2")
    assert quiet.analysis == AfterCall.NONE
    assert not AfterCallTask.objects.filter(call=quiet).exists()


def test_nothing_said_is_not_summarised(agent, text_api):
    call = finished_call(agent, said=())
    assert call.analysis == AfterCall.NONE
    assert run_due() == 0


def test_an_unusable_answer_is_tried_again(noting, text_api, monkeypatch):
    def wrong(body):
        answer = respond(body)
        answer["output"][0]["content"][0]["text"] = '{"summary": "x"}'  # no notes
        return answer

    monkeypatch.setattr(fake_text, "respond", wrong)
    finished_call(noting)
    run_due()
    task = AfterCallTask.objects.get()
    assert task.state == TaskState.PENDING
    assert "does not match the notes asked for" in task.last_error


def test_the_stand_in_refuses_what_openai_refuses():
    body = analysis.request_body("gpt-5-mini", [], "Caller: hello")
    assert request_problem(body) is None
    assert request_problem({**body, "temperature_boost": 1}) == (
        "temperature_boost", "Unknown parameter: 'temperature_boost'.",
    )  # fmt: skip
    loose = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}
    body["text"]["format"]["schema"] = loose
    param, message = request_problem(body)
    assert param == "text.format.schema"
    assert "'additionalProperties' is required to be supplied and to be false" in message


def test_the_call_list_shows_and_filters_the_notes(noting, text_api, client):
    booked = finished_call(noting, "ended-1")
    asked = finished_call(noting, "ended-2", said=(("caller", "Are you open?"),
                                                   ("agent", "Yes, until six.")))  # fmt: skip
    run_due()
    client.force_login(User.objects.create_superuser("operator"))
    listing = reverse("admin:calls_call_changelist")
    page = client.get(listing).content.decode()
    assert "appointment booked?: yes" in page and "appointment booked?: no" in page
    # In the agent's order, on PostgreSQL too (its jsonb keeps keys in an order of its own).
    assert page.index("name: (noted: caller") < page.index("appointment booked?: yes")
    filtered = client.get(listing, {"note": "appointment booked?=yes"})
    assert list(filtered.context["cl"].result_list) == [Call.objects.get(pk=booked.pk)]
    assert client.get(listing, {"note": "appointment booked?=no"}).context["cl"].result_list[
        0
    ].pk == asked.pk  # fmt: skip
    assert client.get(listing, {"analysis": "done"}).status_code == 200
    csv = b"".join(client.get(reverse("admin:calls_call_export")).streaming_content).decode()
    assert "summary,notes" in csv.splitlines()[0]
    assert SUMMARY in csv


def test_the_search_finds_calls_by_their_summary_and_notes(noting, text_api, client):
    finished_call(noting, "ended-1")
    finished_call(noting, "ended-2", said=(("caller", "Are you open?"),))
    run_due()
    Call.objects.filter(call_id="ended-2").update(notes={"reason": "Pharmacy hours"})
    client.force_login(User.objects.create_superuser("operator"))
    listing = reverse("admin:calls_call_changelist")

    def found(term: str) -> list[str]:
        return sorted(c.call_id for c in client.get(listing, {"q": term}).context["cl"].result_list)

    assert found("answered 2 time") == ["ended-1"]  # a summary's words
    assert found("pharmacy") == ["ended-2"]  # a note's
    assert found("open") == ["ended-2"]  # the transcript, as before


def test_a_list_note_needs_its_answers(agent):
    note = NoteField(agent=agent, name="reason", kind="choice", choices="booking")
    with pytest.raises(ValidationError, match="List 2 to 20 answers"):
        note.full_clean()
    with pytest.raises(ValidationError, match="Up to 48 letters"):
        NoteField(agent=agent, name="<b>", kind="text").full_clean()


def test_notes_are_versioned_and_restored_with_the_agent(noting):
    with_notes = noting.published_revision
    assert with_notes.snapshot["notes"][0]["name"] == "caller's name"
    noting.notes.all().delete()
    noting.save()  # (a queryset delete keeps no revision; a save does)
    assert noting.current_revision.snapshot["notes"] == []
    noting.restore(with_notes, "tests")
    assert noting.notes.count() == 4
    assert noting.notes.get(name="reason").choices == "booking\nquestion\nother"
