"""The call list and a call's page read at a glance: the columns an operator needs, pages
titled by caller and time, the engine and model that answered, test calls marked and
filterable."""

from __future__ import annotations

import re
from datetime import datetime

import pytest
from django.contrib.auth.models import Permission, User
from django.urls import reverse
from django.utils import timezone

from calls.admin import answered_by, short_time
from calls.models import Call, Direction
from tests.helpers import finished_call

LIST = reverse("admin:calls_call_changelist")


@pytest.fixture
def reader(client, db) -> User:
    user = User.objects.create_user("amina", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename="view_call"))
    client.force_login(user)
    return user


def test_the_list_has_the_columns_an_operator_reads(client, reader, agent):
    finished_call(agent)
    html = client.get(LIST).content.decode()
    heads = re.findall(r'<th scope="col" class="[^"]*column-(\w+)', html)
    assert heads == [
        "when",
        "caller",
        "agent_name",
        "duration_display",
        "how_it_ended",
        "summary_short",
        "cost_kes",
    ]
    assert "The caller hung up." in html
    assert ">Clinic<" in html  # the agent by its name


def test_test_calls_are_marked_and_filterable(client, reader, agent):
    finished_call(agent, "phone-1")
    test = finished_call(agent, "browser-1")
    Call.objects.filter(pk=test.pk).update(
        direction=Direction.BROWSER, metadata={"browser": {"user": "amina"}}
    )
    html = client.get(LIST).content.decode()
    assert '<span class="badge test">test</span> amina' in html
    only_tests = client.get(LIST + f"?direction__exact={Direction.BROWSER}").content.decode()
    assert "1 call" in only_tests and "badge test" in only_tests
    phones = client.get(LIST + f"?direction__exact={Direction.INBOUND}").content.decode()
    assert "badge test" not in phones


def test_a_call_page_is_titled_by_caller_and_time(client, reader, agent):
    call = finished_call(agent)
    Call.objects.filter(pk=call.pk).update(
        started_at=timezone.make_aware(datetime(2026, 12, 7, 9, 5))
    )
    html = client.get(reverse("admin:calls_call_change", args=[call.pk])).content.decode()
    assert "<h1>Call from +254700000001, Mon 7 Dec 2026 at 09:05</h1>" in html
    assert "<title>Call from +254700000001, Mon 7 Dec 2026 at 09:05 |" in html
    assert f"<h2>{call.call_id}</h2>" not in html  # the id is among the technical details


def test_the_call_page_names_the_engine_and_model(client, reader, agent):
    call = finished_call(agent)
    assert answered_by(call) == "OpenAI Realtime, gpt-realtime"
    html = client.get(reverse("admin:calls_call_change", args=[call.pk])).content.decode()
    assert '<span id="answered-by">OpenAI Realtime, gpt-realtime</span>' in html
    agent.engine, agent.model = "live", "gpt-live-1.1"
    agent.save(author="tests")
    agent.publish("tests")
    live = finished_call(agent, "live-1")
    assert answered_by(live) == "OpenAI GPT-Live, gpt-live-1.1 (tools: gpt-5-mini)"


def test_times_in_the_list_are_short():
    now = timezone.localtime()
    assert short_time(now) == now.strftime("today %H:%M")
    old = timezone.make_aware(datetime(2020, 3, 4, 10, 30))
    assert short_time(old) == "4 Mar 2020 10:30"


def test_the_search_box_says_what_it_searches(client, reader):
    html = client.get(LIST).content.decode()
    assert "Finds calls by the caller&#x27;s or the dialled number" in html
