"""Operators read why a call ended, and how its summary or webhook went, as sentences; the
technical text stays one click away ("Technical detail"), and in the CSV beside the words."""

from __future__ import annotations

import csv
import io
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from calls import in_words
from calls.aftercall.models import AfterCallTask, Outcome, TaskKind
from calls.liveness import NEVER_CONNECTED
from calls.models import AfterCall, Call
from streaming.core.call.endings import EndedBy, Ending
from streaming.core.call.hangup import HangUp
from streaming.core.call.time_limits import Limits
from streaming.core.call.toolbox import ToolBox
from tests.helpers import finished_call


def _hang_up(transfer_to: str = "") -> str:
    hang_up = HangUp(ToolBox(end_call=True, transfer_to=transfer_to, custom={}))
    hang_up.builtin("transfer_call" if transfer_to else "end_call")
    request = hang_up.requested()
    assert request is not None
    return request.reason


def _handed_over(reason: str) -> str:
    return Ending.decide(reason, failed=True, ended_by=EndedBy.ERROR, hand_over=False,
                         transfer_to="", fallback_to="+254711999000").reason  # fmt: skip


# Each end reason the code writes (produced by the code itself where it is built in one place),
# and a phrase its words must hold.
ENDINGS = [
    ("caller hung up", "The caller hung up."),
    ("Sautikit: StreamStopped", "The caller hung up."),
    ("Sautikit: StreamError", "audio stream broke"),
    ("Sautikit: Completed", "The call ended."),
    ("Sautikit: call.completed", "The call ended."),
    ("Sautikit: call.failed", "reported that the call failed"),
    ("Sautikit: NoAnswer", "Nobody answered."),
    ("Sautikit: Busy", "The line was busy."),
    ("hung up: NORMAL_CLEARING", "The call ended normally."),
    ("hung up: USER_BUSY", "The line was busy."),
    ("hung up: SOMETHING_NEW", "The phone company ended the call."),
    ("failed: SIP 503 Service Unavailable", "could not complete the call"),
    ("no agent for number +254711000555", "no agent has the number +254711000555"),
    ("no agent for number (none given)", "no number was given"),
    ("agent Reception is inactive", "the agent Reception is switched off"),
    ("agent Reception is not published yet", "has no published version yet"),
    ("refused: +254700000001 is blocked", "+254700000001 is on the blocked list"),
    ("refused: +254700000001 already has 2 live call(s) (LIMIT_LIVE_CALLS_PER_CALLER)",
     "already on as many calls as one caller may be"),
    ("refused: a withheld number had 20 calls in the last hour "
     "(LIMIT_CALLS_PER_CALLER_PER_HOUR)", "as often as allowed in an hour"),
    ("refused: Reception already has 3 live call(s) (its own limit)",
     "the agent was already on as many calls"),
    ("refused: 50 calls already live (LIMIT_LIVE_CALLS_TOTAL)", "the line was already on"),
    (_hang_up(), "The agent ended the call."),
    (_hang_up() + " (no goodbye heard)", "Its goodbye was not heard"),
    (_hang_up(transfer_to="+254711222333"), "handed the caller over to +254711222333"),
    (Limits(max_call_s=600, silence_timeout_s=30).overrun(600, 0, False) or "",
     "longest call (10 minutes)"),
    (Limits(max_call_s=600, silence_timeout_s=30).overrun(5, 30, False) or "",
     "Nobody spoke for 30 seconds"),
    ("OpenAI ended the session (60-minute limit)", "OpenAI's limit of 60 minutes"),
    ("OpenAI refused the agent's settings (invalid_value: voice)", "check the agent's voice"),
    ("OpenAI unavailable: OpenAI session failed: ConnectionRefusedError(111, 'refused')",
     "OpenAI could not be reached"),
    ("OpenAI closed the session (code 1011 internal error)", "OpenAI broke off"),
    ("GPT-Live ended the session (its time limit)", "GPT-Live's time limit"),
    ("GPT-Live ended the session (a safety filter)", "safety filter"),
    ("GPT-Live closed the session (code 1006)", "GPT-Live broke off"),
    ("GPT-Live lost the connection", "connection to GPT-Live was lost"),
    ("server lost: process web-1:4242 stopped answering", "stopped answering"),
    ("server stopping: drain limit reached (900 s)", "being restarted"),
    ("server stopping: ended at once (asked twice)", "being restarted"),
    (NEVER_CONNECTED, "never connected the audio"),
    (_handed_over("OpenAI closed the session (code 1011)"),
     "OpenAI broke off the conversation in the middle of the call. The caller was handed "
     "over to +254711999000."),
]  # fmt: skip

AFTER_CALL = [
    ("OpenAI could not be reached: ConnectError('[Errno 111] Connection refused')",
     "OpenAI could not be reached"),
    ('OpenAI answered 401: {"error": {"message": "Incorrect API key"}}',
     "refused the server's key"),
    ("OpenAI answered 429: rate limited", "asked us to wait"),
    ("OpenAI answered 502: <html><body>Bad gateway</body></html>", "a problem of its own"),
    ("OpenAI answered 400: bad request", "refused the request (HTTP 400)"),
    ("OpenAI's answer could not be used: KeyError('output')", "could not be read"),
    ("unexpected error: RuntimeError('boom')", "Something unexpected went wrong"),
    ("could not be reached (ConnectError)", "could not be reached"),
    ("answered HTTP 500", "answered with an error (HTTP 500)"),
    ("answered HTTP 204", "Delivered"),
]  # fmt: skip


@pytest.mark.parametrize(("raw", "phrase"), ENDINGS)
def test_it_says_each_ending_in_words(raw, phrase):
    said = in_words.ending(raw)
    assert phrase in said.words
    assert not in_words.TECHNICAL.search(said.words), said.words
    assert said.detail in ("", raw)


@pytest.mark.parametrize(("raw", "phrase"), AFTER_CALL)
def test_it_says_each_after_call_outcome_in_words(raw, phrase):
    said = in_words.after_call(raw)
    assert phrase in said.words
    assert said.detail == raw


def test_it_keeps_unknown_technical_text_under_a_sentence():
    said = in_words.ending("LocalProtocolError(\"Illegal header value b'Bearer '\")")
    assert said.words == "A technical problem; the details are below."
    assert "LocalProtocolError" in said.detail
    plain = in_words.ending("the clinic closed early")
    assert (plain.words, plain.detail) == ("The clinic closed early.", "")
    assert not in_words.ending("")


def _visible(html: str) -> str:
    """The page's text as read without opening any "Technical detail"."""
    html = re.sub(r"<details.*?</details>", "", html, flags=re.S)
    html = re.sub(r"<(script|style|title)\b.*?</\1>", "", html, flags=re.S)
    return re.sub(r"<[^>]+>", " ", html)


@pytest.mark.django_db
def test_the_call_page_says_how_it_ended_and_keeps_the_detail_folded(agent, admin_client):
    call = finished_call(agent)
    Call.objects.filter(pk=call.pk).update(end_reason="Sautikit: StreamStopped",
                                           analysis=AfterCall.FAILED)  # fmt: skip
    task = AfterCallTask.objects.get(call=call, kind=TaskKind.ANALYSIS)
    raw = "OpenAI could not be reached: LocalProtocolError(\"Illegal header value b'Bearer '\")"
    task.finish(Outcome(False, raw, give_up=True), timezone.now(), 12)
    page = admin_client.get(reverse("admin:calls_call_change", args=[call.pk])).content.decode()
    seen = _visible(page)
    assert "The caller hung up." in seen
    assert "OpenAI could not be reached from the server" in seen
    assert "Sautikit: StreamStopped" not in seen and "LocalProtocolError" not in seen
    assert "Sautikit: StreamStopped" in page  # one click away
    assert "LocalProtocolError" in page


@pytest.mark.django_db
def test_the_call_list_and_its_csv_say_how_calls_ended(agent, admin_client):
    call = finished_call(agent)
    Call.objects.filter(pk=call.pk).update(end_reason="hung up: NORMAL_CLEARING")
    page = admin_client.get(reverse("admin:calls_call_changelist")).content.decode()
    assert "The call ended normally." in page
    assert 'title="hung up: NORMAL_CLEARING"' in page
    export = admin_client.get(reverse("admin:calls_call_export"))
    rows = list(csv.reader(io.StringIO(b"".join(export.streaming_content).decode())))
    row = dict(zip(rows[0], rows[1], strict=True))
    assert row["how it ended"] == "The call ended normally."
    assert row["end reason (technical)"] == "hung up: NORMAL_CLEARING"
