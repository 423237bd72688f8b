"""The end-of-call webhook: a finished call's whole record, signed, POSTed to the agent's
address once the summary is written, at least once (retried with backoff), with the attempts on
the call's page and a “send again”; never to an address inside our network."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from agents.models import WEBHOOK_KEY_NAME, Agent
from agents.tools import derived_key
from calls.aftercall import webhook
from calls.aftercall.models import AfterCallTask, TaskKind, TaskState
from calls.aftercall.runner import run_due
from calls.models import AfterCall, Call, Status
from streaming.core.call.toolbox import signed_message
from streaming.ground import signatures
from tests.helpers import finished_call
from tests.live_stack import ToolEndpoint

pytestmark = pytest.mark.django_db

MASTER = "master-secret-for-webhooks"


@pytest.fixture
def receiver():
    """The operator's system: answers each delivery with the next status in `statuses`."""
    statuses: list[int] = []

    def answer(body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        return (statuses.pop(0) if statuses else 200), b'{"thanks": true}'

    endpoint = ToolEndpoint(answer)
    endpoint.statuses = statuses
    yield endpoint
    endpoint.close()


@pytest.fixture
def sending(agent, receiver, text_api, settings):
    settings.TOOL_ALLOW_LOOPBACK = True
    settings.TOOL_SIGNING_SECRET = MASTER
    agent.webhook_url = receiver.url
    agent.save()
    return agent


def deliver(call: Call) -> None:
    """The summary, then the delivery (each run_due takes what is due)."""
    run_due()
    call.refresh_from_db()
    assert call.analysis == AfterCall.DONE
    run_due()
    call.refresh_from_db()


def test_it_posts_the_finished_call_once_its_summary_is_written(sending, receiver):
    call = finished_call(sending)
    assert call.webhook == AfterCall.UNDECIDED  # waits for the summary
    assert not AfterCallTask.objects.filter(kind=TaskKind.WEBHOOK).exists()
    deliver(call)
    assert call.webhook == AfterCall.DONE

    [(body, headers)] = receiver.requests
    sent = json.loads(body)
    assert sent["type"] == "call.ended"
    assert sent["id"] == headers["X-Webhook-Id"] == f"{call.call_id}:call.ended"
    assert sent["call"]["id"] == call.call_id and sent["call"]["test"] is False
    assert sent["call"]["status"] == "completed" and sent["call"]["ended_by"] == "caller"
    assert sent["agent"] == {"name": "Clinic", "phone_number": sending.phone_number,
                             "version": call.agent_revision.number}  # fmt: skip
    assert sent["summary"].startswith("The caller spoke 2 time(s)")
    assert sent["analysis"] == "done"
    assert sent["cost"]["openai_usd"] == str(call.cost.openai_usd)
    assert [t["role"] for t in sent["transcript"]] == ["agent", "caller", "tool", "agent", "caller"]
    assert sent["transcript"][2]["tool"]["name"] == "look_up_booking"

    # What the receiver's developer checks: the agent's own key, over the whole request.
    key = derived_key(MASTER, sending.phone_number, WEBHOOK_KEY_NAME)
    signed = signed_message("POST", receiver.url, call.call_id, WEBHOOK_KEY_NAME, body)
    signatures.verify(signed, headers["X-Webhook-Signature"], [key])
    with pytest.raises(signatures.SignatureError):
        signatures.verify(signed, headers["X-Webhook-Signature"], [MASTER])


def test_it_retries_with_backoff_and_lists_every_attempt(sending, receiver, client):
    receiver.statuses.extend([503, 500])
    call = finished_call(sending)
    deliver(call)
    task = AfterCallTask.objects.get(kind=TaskKind.WEBHOOK)
    assert task.state == TaskState.PENDING
    assert task.next_attempt_at > timezone.now() + timedelta(seconds=5)
    assert call.webhook == AfterCall.PENDING
    for _ in range(2):
        task.next_attempt_at = timezone.now()
        task.save()
        run_due()
        task.refresh_from_db()
    assert task.state == TaskState.DONE
    assert [(a.ok, a.status_code) for a in task.attempts_made.all()] == [
        (False, 503), (False, 500), (True, 200),
    ]  # fmt: skip
    assert len(receiver.requests) == 3
    ids = {headers["X-Webhook-Id"] for _, headers in receiver.requests}
    assert ids == {f"{call.call_id}:call.ended"}  # one id: the receiver drops repeats

    client.force_login(User.objects.create_superuser("operator"))
    page = client.get(reverse("admin:calls_call_change", args=[call.pk])).content.decode()
    assert page.count('class="attempt failed"') == 2
    assert "answered HTTP 503" in page
    assert 'id="send-again"' in page


def test_send_again_delivers_it_once_more(sending, receiver, client):
    call = finished_call(sending)
    deliver(call)
    url = reverse("admin:calls_call_send_again", args=[call.pk])

    viewer = User.objects.create_user("viewer", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_call"))
    client.force_login(viewer)
    assert client.post(url).status_code == 403
    client.force_login(User.objects.create_superuser("operator"))
    assert client.get(url).status_code == 405
    response = client.post(url, follow=True)
    assert "Sending again" in response.content.decode()
    call.refresh_from_db()
    assert call.webhook == AfterCall.PENDING
    run_due()
    call.refresh_from_db()
    assert call.webhook == AfterCall.DONE
    assert len(receiver.requests) == 2
    assert AfterCallTask.objects.get(kind=TaskKind.WEBHOOK).attempts_made.count() == 2


def test_it_is_not_sent_while_the_call_goes_on(sending, receiver):
    call = finished_call(sending)
    # Handed over to a person: the call goes on, and Sautikit's events will end it.
    Call.objects.filter(pk=call.pk).update(status=Status.IN_PROGRESS, webhook="")
    call.refresh_from_db()
    call.transfer_to = "+254722000111"
    run_due()  # the summary
    call.refresh_from_db()
    assert call.webhook == AfterCall.UNDECIDED
    call.status = Status.COMPLETED
    call.save()
    assert call.webhook == AfterCall.PENDING


def test_no_address_means_nothing_is_sent(agent, text_api):
    call = finished_call(agent)
    run_due()
    call.refresh_from_db()
    assert call.webhook == AfterCall.NONE


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("https://10.0.0.7/hook", "10.0.0.7 is a private address"),
        ("https://169.254.169.254/latest", "link-local"),
        ("https://127.0.0.1:9/hook", "127.0.0.1 is this machine"),
        ("http://hooks.example.com/x", "only https:// addresses"),
    ],
)
def test_it_never_posts_inside_our_network(agent, text_api, settings, address, why):
    settings.TOOL_SIGNING_SECRET = MASTER
    settings.TOOL_ALLOW_LOOPBACK = False
    with pytest.raises(ValidationError, match="This address cannot be used"):
        Agent(name="X", phone_number="0711000999", instructions="x",
              webhook_url=address).full_clean()  # fmt: skip
    # Set anyway (by a script, or before the rules): refused at sending time, without a
    # connection (none of these is reachable from a test machine, and none is tried).
    Agent.objects.filter(pk=agent.pk).update(webhook_url=address)
    call = finished_call(Agent.objects.get(pk=agent.pk))
    run_due()
    run_due()
    task = AfterCallTask.objects.get(kind=TaskKind.WEBHOOK)
    [attempt] = task.attempts_made.all()
    assert not attempt.ok and why in attempt.detail
    assert call.pk


def test_a_huge_transcript_is_cut_from_the_middle(agent):
    data = {"type": "call.ended", "transcript": [{"text": "x" * 1000} for _ in range(2000)]}
    body = webhook.encode(data)
    assert len(body) <= webhook.MAX_BODY_BYTES
    sent = json.loads(body)
    assert sent["transcript_cut"] is True
    assert 0 < len(sent["transcript"]) < 2000


def test_without_a_signing_secret_it_waits_and_says_why(agent, receiver, text_api, settings):
    settings.TOOL_ALLOW_LOOPBACK = True
    settings.TOOL_SIGNING_SECRET = ""
    agent.webhook_url = receiver.url
    agent.save()
    finished_call(agent)
    run_due()
    run_due()
    task = AfterCallTask.objects.get(kind=TaskKind.WEBHOOK)
    assert task.state == TaskState.PENDING
    assert "no signing secret on the server" in task.last_error
    assert receiver.requests == []
