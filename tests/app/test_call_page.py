"""The call's page in the admin: what an operator reads, and who may hear the recording."""

from __future__ import annotations

import io
import wave
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.core.files.base import ContentFile
from django.urls import reverse
from django.utils import timezone

from calls import timeline
from calls.models import Call, CallEvent, Turn

pytestmark = pytest.mark.django_db


@pytest.fixture
def call(agent) -> Call:
    started = timezone.now()
    call = Call.objects.create(
        call_id="PAGE_1",
        agent=agent,
        agent_revision=agent.current_revision,
        caller_number="+254700000009",
        started_at=started,
        bridge_started_at=started,
        answered_at=started,
        ended_at=started + timedelta(seconds=20),
        status="completed",
        ended_by="agent",
        end_reason="the agent ended the call",
    )
    turns = [
        ("agent", "g", 0, 1500, "Hello!", {}),
        ("caller", "c1", 2000, 3000, "When is my appointment?", {}),
        ("agent", "a1", 3400, 4000, "It is on —",
         {"latency_ms": 400, "interrupted": True, "full_text": "It is on Tuesday at ten.",
          "heard_ms": 600, "audio_ms": 1800}),
        ("caller", "c2", 3900, 4600, "Sorry, which day?", {}),
        ("tool", "call_1", 5000, 5200, "look_up", {"tool_name": "look_up", "tool_ok": False,
         "tool_arguments": {"day": "x"}, "tool_result": "the tool did not answer within 5 s"}),
        ("agent", "a2", 5900, 8000, "Tuesday at ten.", {"latency_ms": 1300}),
    ]  # fmt: skip
    for role, item, start, end, text, extra in turns:
        Turn.objects.create(call=call, role=role, item_id=item, started_ms=start, ended_ms=end,
                            text=text, **extra)  # fmt: skip
    call.record_event("voice", "incoming", {"sessionId": "PAGE_1"})
    return call


@pytest.fixture
def operator(client):
    user = User.objects.create_user("amina", password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename="view_call"))
    client.force_login(user)
    return client


def page(client, call: Call) -> str:
    response = client.get(reverse("admin:calls_call_change", args=[call.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_it_shows_the_conversation_in_order_with_its_figures(operator, call):
    html = page(operator, call)
    transcript = html[html.index('id="transcript"') :]
    order = ["Hello!", "When is my appointment?", "It is on —", "Sorry, which day?", "look_up",
             "Tuesday at ten."]  # fmt: skip
    at = 0
    for text in order:
        at = transcript.index(text, at)  # each after the one before
    assert "It meant to say: “It is on Tuesday at ten.”" in html
    assert "interrupted after 0.6 s" in html
    assert "answered in 400 ms" in html and "answered in 1300 ms" in html
    assert "the tool did not answer within 5 s" in html
    assert "850 ms" in html  # median answer time
    assert "slowest 1300 ms" in html
    assert "Agent" in html and "the agent ended the call" in html


def test_it_links_the_revision_used_and_the_instructions(operator, call):
    html = page(operator, call)
    revision = reverse("admin:agents_agentrevision_change", args=[call.agent_revision_id])
    assert f'href="{revision}"' in html
    agent = reverse("admin:agents_agent_change", args=[call.agent_id])
    assert f'href="{agent}#id_instructions"' in html


def test_it_draws_who_spoke_when(operator, call):
    html = page(operator, call)
    svg = html[html.index('<svg class="timeline"') :]
    svg = svg[: svg.index("</svg>")]
    assert svg.count('class="caller"') == 2
    assert svg.count('class="agent"') == 2
    assert svg.count('class="agent interrupted"') == 1
    assert svg.count('class="tool failed"') == 1
    assert svg.count('class="cut"') == 1


def test_the_timeline_puts_turns_where_they_happened(call):
    drawn = timeline.build(call, list(call.turns.all()), [])
    bars = {bar.title.split(":")[0]: bar for bar in drawn.bars}
    caller = next(b for b in drawn.bars if b.css == "caller")
    # 20 s of call would not fit: the scale comes from the last turn (8 s).
    px_per_ms = (timeline.WIDTH - timeline.LEFT - 20) / 8000
    assert caller.x == pytest.approx(timeline.LEFT + 2000 * px_per_ms, abs=0.1)
    assert caller.width == pytest.approx(1000 * px_per_ms, abs=0.2)
    assert [t.label for t in drawn.ticks][:3] == ["0:00", "0:01", "0:02"]
    assert bars  # every bar has a title for pointing at it


def test_it_groups_events_close_together(call):
    at = call.bridge_started_at
    events = [
        CallEvent(kind="call.started", occurred_at=at),
        CallEvent(kind="call.answered", occurred_at=at + timedelta(milliseconds=100)),
        CallEvent(kind="call.completed", occurred_at=at + timedelta(seconds=8)),
    ]
    drawn = timeline.build(call, [], events)
    labels = [m.label for m in drawn.marks if m.css == "event"]
    assert labels == ["ringing +1", "hung up"]


def test_an_empty_call_says_so(operator, agent):
    call = Call.objects.create(call_id="EMPTY", agent=agent)
    html = page(operator, call)
    assert "Nothing was said on this call." in html
    assert "No transcript for this call." in html


def test_only_people_who_may_see_the_call_hear_its_recording(client, operator, call, settings,
                                                            tmp_path):  # fmt: skip
    settings.MEDIA_ROOT = str(tmp_path)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(bytes(4 * 16000))
    call.recording.save("PAGE_1.wav", ContentFile(buffer.getvalue()))
    url = reverse("admin:calls_call_recording", args=[call.pk])
    html = page(operator, call)
    assert f'src="{url}"' in html
    assert "Recording (1.0 s)" in html
    response = operator.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "audio/wav"
    assert b"".join(response.streaming_content) == buffer.getvalue()

    # Seeking: the player asks for byte ranges.
    whole = buffer.getvalue()
    part = operator.get(url, HTTP_RANGE="bytes=44-143")
    assert part.status_code == 206
    assert part["Content-Range"] == f"bytes 44-143/{len(whole)}"
    assert b"".join(part.streaming_content) == whole[44:144]
    tail = operator.get(url, HTTP_RANGE="bytes=-10")
    assert b"".join(tail.streaming_content) == whole[-10:]
    assert operator.get(url, HTTP_RANGE=f"bytes={len(whole)}-").status_code == 416
    # Numbers no file reaches (and too long for int() to read) are unsatisfiable, not a 500.
    for huge in (f"bytes={'9' * 5000}-", f"bytes=0-{'9' * 5000}", f"bytes=-{'9' * 19}"):
        assert operator.get(url, HTTP_RANGE=huge).status_code == 416
    assert response["Accept-Ranges"] == "bytes"

    nobody = User.objects.create_user("guest", password="pw", is_staff=True)
    client.force_login(nobody)
    assert client.get(url).status_code == 403
    client.logout()
    assert client.get(url).status_code == 302  # to the login page


def test_a_call_without_recording_has_no_player(operator, call):
    assert "<audio" not in page(operator, call)
    url = reverse("admin:calls_call_recording", args=[call.pk])
    assert operator.get(url).status_code == 404


def test_the_timeline_stays_small_whatever_the_times(call):
    # An event stored with a time 30 years away (as webhooks could before they were checked).
    far = call.record_event("events", "call.answered", {}, occurred_at=call.started_at)
    CallEvent.objects.filter(pk=far.pk).update(
        occurred_at=call.started_at + timedelta(days=30 * 365)
    )
    drawn = timeline.build(call, list(call.turns.all()), list(call.events.all()))
    assert 2 <= len(drawn.ticks) <= timeline.MAX_TICKS


@pytest.mark.parametrize("days", [0.001, 0.3, 3, 400, 20000])
def test_tick_steps_are_round_and_few(days):
    span = round(days * 24 * 3600 * 1000)
    step = timeline._tick_step(span)
    assert span / step <= timeline.MAX_TICKS
    assert step in timeline.TICK_STEPS or step % timeline.TICK_STEPS[-1] == 0
