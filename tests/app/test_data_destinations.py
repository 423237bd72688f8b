"""Where call data goes is as sensitive as who may read it: the end-of-call webhook's address
and the custom tools' endpoints are changed only by staff who may read calls and have “Can
change where call data is sent”; a queued call goes to the address it was queued for or
nowhere; “send again” needs the right to read the call; every change is kept (who, when, from
what to what)."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps
from django.contrib.admin.models import LogEntry
from django.test import Client
from django.urls import reverse

from agents.models import Agent, Tool
from calls.aftercall.models import AfterCallTask, TaskKind, TaskState
from calls.aftercall.runner import run_due
from calls.models import AfterCall, Call
from tests.helpers import agent_form, finished_call, staff
from tests.live_stack import ToolEndpoint

pytestmark = pytest.mark.django_db

AGENT_EDITING = ["view_agent", "change_agent", "add_agent", "view_agentrevision", "view_tool",
                 "add_tool", "change_tool", "delete_tool"]  # fmt: skip
PARAMETERS = '{"type": "object", "properties": {}, "required": []}'


# Each may change agents, and lacks at least one of the two rights a destination needs.
NOT_ALLOWED = {
    "an agent editor who cannot read calls": [*AGENT_EDITING],
    "a call reader": [*AGENT_EDITING, "view_call"],
    "a publisher who reads calls": [*AGENT_EDITING, "view_call", "publish_agent"],
    "the destination right without reading calls": [*AGENT_EDITING, "change_data_destinations"],
}
STEWARD = [*AGENT_EDITING, "view_call", "change_data_destinations"]


@pytest.fixture
def endpoints(settings):
    """Two systems that accept anything: the operator's, and another one."""
    settings.TOOL_ALLOW_LOOPBACK = True
    settings.TOOL_SIGNING_SECRET = "master-secret-for-webhooks"
    made = [ToolEndpoint(lambda body, headers: (200, b"{}")) for _ in range(2)]
    yield made
    for endpoint in made:
        endpoint.close()


@pytest.fixture
def sending(agent, endpoints, text_api) -> Agent:
    agent.webhook_url = endpoints[0].url
    agent.save(author="tests")
    return agent


def save_page(client: Client, agent: Agent, **fields: str):
    saved = {"name": agent.name, "phone_number": agent.phone_number, "voice": agent.voice,
             "instructions": agent.instructions, "greeting": agent.greeting,
             "webhook_url": agent.webhook_url}  # fmt: skip
    form = agent_form(**{**saved, **fields})
    return client.post(reverse("admin:agents_agent_change", args=[agent.pk]), form)


def tool_row(tool: Tool, **fields: str) -> dict[str, str]:
    return {"tools-TOTAL_FORMS": "1", "tools-INITIAL_FORMS": "1", "tools-0-id": str(tool.pk),
            "tools-0-agent": str(tool.agent_id), "tools-0-name": tool.name,
            "tools-0-description": tool.description, "tools-0-parameters": PARAMETERS,
            "tools-0-endpoint": tool.endpoint, "tools-0-timeout_seconds": "5",
            "tools-0-secret_env": "", "tools-0-is_enabled": "on",
            **{f"tools-0-{name}": value for name, value in fields.items()}}  # fmt: skip


def queued(call: Call) -> AfterCallTask:
    """The summary written, the delivery queued (not yet tried)."""
    run_due()
    call.refresh_from_db()
    assert call.analysis == AfterCall.DONE
    return AfterCallTask.objects.get(call=call, kind=TaskKind.WEBHOOK)


@pytest.mark.parametrize("who", list(NOT_ALLOWED))
def test_it_ignores_a_webhook_address_in_a_crafted_post_from_staff_without_both_rights(
    client, sending, endpoints, who
):
    client.force_login(staff("someone", *NOT_ALLOWED[who]))
    page = client.get(reverse("admin:agents_agent_change", args=[sending.pk])).content.decode()
    tag = page[page.index('name="webhook_url"') :]
    assert " disabled" in tag[: tag.index(">")]
    assert "has the permission “Can change where call data is sent”" in page

    response = save_page(client, sending, name="Clinic (renamed)", webhook_url=endpoints[1].url,
                         webhook_secret_env="TOOL_SECRET_MINE")  # fmt: skip
    assert response.status_code == 302
    sending.refresh_from_db()
    assert sending.name == "Clinic (renamed)"
    assert (sending.webhook_url, sending.webhook_secret_env) == (endpoints[0].url, "")


def test_it_gives_a_new_agent_from_staff_without_both_rights_no_webhook(client, endpoints):
    client.force_login(staff("someone", *NOT_ALLOWED["a call reader"]))
    client.post(reverse("admin:agents_agent_add"), agent_form(webhook_url=endpoints[1].url))
    assert Agent.objects.get().webhook_url == ""


def test_it_lets_a_call_reader_with_the_destination_right_change_it_and_keeps_who_did(
    client, sending, endpoints
):
    client.force_login(staff("steward", *STEWARD))
    assert save_page(client, sending, webhook_url=endpoints[1].url).status_code == 302
    sending.refresh_from_db()
    assert sending.webhook_url == endpoints[1].url

    # In its versions (the agent's history, each version's page) …
    revision = sending.current_revision
    assert revision.author.username == "steward"
    assert revision.changes["webhook_url"] == {"from": endpoints[0].url, "to": endpoints[1].url}
    # … and in the admin's own log, which the agent's “History” page shows.
    entry = LogEntry.objects.get(change_message__startswith="Where call data is sent")
    assert entry.user.username == "steward" and entry.object_id == str(sending.pk)
    assert (
        f"send finished calls to: {endpoints[0].url} → {endpoints[1].url}" in entry.change_message
    )
    history = client.get(reverse("admin:agents_agent_history", args=[sending.pk])).content.decode()
    assert "Where call data is sent" in history


@pytest.mark.parametrize("who", list(NOT_ALLOWED))
def test_it_ignores_a_tool_endpoint_in_a_crafted_post_from_staff_without_both_rights(
    client, agent, endpoints, who
):
    tool = Tool.objects.create(agent=agent, name="look_up", description="Finds a booking.",
                               endpoint=endpoints[0].url)  # fmt: skip
    client.force_login(staff("someone", *NOT_ALLOWED[who]))
    response = save_page(client, agent, **tool_row(tool, endpoint=endpoints[1].url))
    assert response.status_code == 302
    tool.refresh_from_db()
    assert tool.endpoint == endpoints[0].url

    # Nor a new tool: it would be a new address for what callers say.
    new = {"tools-TOTAL_FORMS": "1", "tools-INITIAL_FORMS": "0", "tools-0-name": "exfiltrate",
           "tools-0-description": "Send everything.", "tools-0-parameters": PARAMETERS,
           "tools-0-endpoint": endpoints[1].url, "tools-0-timeout_seconds": "5",
           "tools-0-secret_env": "", "tools-0-is_enabled": "on"}  # fmt: skip
    save_page(client, agent, **new)
    assert list(agent.tools.values_list("name", flat=True)) == ["look_up"]


def test_it_lets_staff_with_both_rights_add_a_tool_and_logs_its_address(client, agent, endpoints):
    client.force_login(staff("steward", *STEWARD))
    new = {"tools-TOTAL_FORMS": "1", "tools-INITIAL_FORMS": "0", "tools-0-name": "look_up",
           "tools-0-description": "Finds a booking.", "tools-0-parameters": PARAMETERS,
           "tools-0-endpoint": endpoints[1].url, "tools-0-timeout_seconds": "5",
           "tools-0-secret_env": "", "tools-0-is_enabled": "on"}  # fmt: skip
    assert save_page(client, agent, **new).status_code == 302
    assert agent.tools.get().endpoint == endpoints[1].url
    entry = LogEntry.objects.get(change_message__startswith="Where call data is sent")
    assert f"custom tool “look_up”: (none) → {endpoints[1].url}" in entry.change_message


def test_it_does_not_copy_destinations_for_staff_without_both_rights_by_save_as_new(
    client, sending, endpoints
):
    Tool.objects.create(agent=sending, name="look_up", description="Finds a booking.",
                        endpoint=endpoints[0].url)  # fmt: skip
    client.force_login(staff("someone", *NOT_ALLOWED["a call reader"]))
    tool = sending.tools.get()
    form = {**tool_row(tool, endpoint=endpoints[1].url), "_saveasnew": "Save as new",
            "name": "Copy", "phone_number": "0733 000 000",
            "webhook_url": endpoints[1].url}  # fmt: skip
    save_page(client, sending, **form)
    copy = Agent.objects.get(name="Copy")
    assert copy.webhook_url == "" and not copy.tools.exists()


def test_it_sends_a_queued_call_to_the_address_it_was_queued_for_or_nowhere(sending, endpoints):
    call = finished_call(sending)
    task = queued(call)
    assert task.url == endpoints[0].url
    # The address changes before the delivery is tried (by anyone: here the database itself).
    Agent.objects.filter(pk=sending.pk).update(webhook_url=endpoints[1].url)
    run_due()
    task.refresh_from_db()
    call.refresh_from_db()
    assert endpoints[0].requests == [] and endpoints[1].requests == []
    assert task.state == TaskState.FAILED and call.webhook == AfterCall.FAILED
    assert "changed since the call was queued" in task.last_error

    # A call that ends afterwards goes to the new address.
    later = finished_call(Agent.objects.get(pk=sending.pk), call_id="ended-2")
    assert queued(later).url == endpoints[1].url
    run_due()
    assert len(endpoints[1].requests) == 1


def test_send_again_needs_the_right_to_read_the_call(client, sending, endpoints):
    call = finished_call(sending)
    queued(call)
    run_due()
    assert len(endpoints[0].requests) == 1
    client.force_login(staff("editor", *AGENT_EDITING))
    url = reverse("admin:calls_call_send_again", args=[call.pk])
    assert client.post(url).status_code == 403
    assert client.get(reverse("admin:calls_call_change", args=[call.pk])).status_code == 403
    run_due()
    assert len(endpoints[0].requests) == 1

    # Reading the call and changing agents is enough to send it again where it was sent.
    client.force_login(staff("reader", *AGENT_EDITING, "view_call"))
    assert 'id="send-again"' in client.get(reverse("admin:calls_call_change",
                                                   args=[call.pk])).content.decode()  # fmt: skip
    assert client.post(url).status_code == 302
    run_due()
    assert len(endpoints[0].requests) == 2


def test_send_again_to_a_changed_address_needs_the_destination_right(client, sending, endpoints):
    call = finished_call(sending)
    queued(call)
    Agent.objects.filter(pk=sending.pk).update(webhook_url=endpoints[1].url)
    run_due()  # not sent: the address changed
    page_url = reverse("admin:calls_call_change", args=[call.pk])
    url = reverse("admin:calls_call_send_again", args=[call.pk])

    for who in ("a call reader", "a publisher who reads calls"):
        client.force_login(staff(who.replace(" ", "-"), *NOT_ALLOWED[who]))
        assert 'id="send-again"' not in client.get(page_url).content.decode()
        assert client.post(url).status_code == 403
    run_due()
    assert endpoints[1].requests == []

    client.force_login(staff("steward", *STEWARD))
    assert 'id="send-again"' in client.get(page_url).content.decode()
    assert client.post(url).status_code == 302
    run_due()
    assert len(endpoints[1].requests) == 1 and endpoints[0].requests == []
    assert AfterCallTask.objects.get(call=call, kind=TaskKind.WEBHOOK).url == endpoints[1].url


def test_send_again_of_a_call_never_queued_needs_the_destination_right(
    client, agent, endpoints, text_api
):
    call = finished_call(agent)  # no address then: nothing queued
    run_due()
    call.refresh_from_db()
    assert call.webhook == AfterCall.NONE
    Agent.objects.filter(pk=agent.pk).update(webhook_url=endpoints[1].url)
    url = reverse("admin:calls_call_send_again", args=[call.pk])
    client.force_login(staff("reader", *NOT_ALLOWED["a call reader"]))
    assert client.post(url).status_code == 403
    assert not AfterCallTask.objects.filter(call=call, kind=TaskKind.WEBHOOK).exists()


def test_it_restores_no_tool_address_for_staff_without_both_rights(client, agent, endpoints):
    tool = Tool.objects.create(agent=agent, name="look_up", description="Finds a booking.",
                               endpoint=endpoints[1].url)  # fmt: skip
    old = agent.current_revision
    tool.endpoint = endpoints[0].url
    tool.save()
    page_url = reverse("admin:agents_agentrevision_change", args=[old.pk])
    url = reverse("admin:agents_agentrevision_restore", args=[old.pk])

    client.force_login(staff("reader", *NOT_ALLOWED["a call reader"]))
    page = client.get(page_url).content.decode()
    assert 'id="restore-blocked"' in page and 'id="restore"' not in page
    assert client.post(url).status_code == 403
    tool.refresh_from_db()
    assert tool.endpoint == endpoints[0].url

    client.force_login(staff("steward", *STEWARD))
    assert client.post(url).status_code == 302
    tool.refresh_from_db()
    assert tool.endpoint == endpoints[1].url
    entry = LogEntry.objects.get(change_message__startswith="Where call data is sent")
    assert entry.user.username == "steward"


def test_it_keeps_deliveries_queued_before_the_upgrade_on_the_address_of_that_time(
    sending, endpoints
):
    call = finished_call(sending)
    task = queued(call)
    AfterCallTask.objects.filter(pk=task.pk).update(url="")  # as queued before this migration
    # Changed after the call was queued, as in the incident.
    sending.webhook_url = endpoints[1].url
    sending.save(author="someone")
    migration = importlib.import_module("calls.migrations.0008_webhook_task_keeps_its_address")
    migration.address_when_queued(apps, None)
    task.refresh_from_db()
    assert task.url == endpoints[0].url
    run_due()
    assert endpoints[0].requests == [] and endpoints[1].requests == []
