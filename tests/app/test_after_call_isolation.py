"""One operator's slow endpoint holds up nobody else's after-call work: the runner as a server
process runs it (its threads, in this process), against a tarpit that answers nothing until the
test lets it and an ordinary endpoint of another agent."""

from __future__ import annotations

import threading

import pytest

from agents.models import Agent
from calls.aftercall import runner, webhook
from calls.aftercall.models import AfterCallTask, TaskKind, TaskState, destination
from calls.aftercall.runner import Lane, claim
from calls.models import AfterCall, Call
from tests.helpers import finished_call
from tests.live_stack import ToolEndpoint, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


class Tarpit:
    """An endpoint that holds every request until released (as a tarpit holds for ever)."""

    def __init__(self) -> None:
        self.released = threading.Event()
        self.in_flight = 0
        self.most_in_flight = 0
        self.lock = threading.Lock()
        self.endpoint = ToolEndpoint(self.answer)

    def answer(self, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        with self.lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        self.released.wait(60)
        with self.lock:
            self.in_flight -= 1
        return 200, b"{}"


@pytest.fixture
def endpoints(settings, text_api, monkeypatch):
    settings.TOOL_ALLOW_LOOPBACK = True
    settings.TOOL_SIGNING_SECRET = "master-secret-for-webhooks"
    settings.AFTER_CALL_POLL_S = 0.05
    settings.AFTER_CALL_WORKERS = 2
    monkeypatch.setattr(webhook, "TIMEOUT_S", 60.0)  # the tarpit is never the one to give up
    tarpit, fine = Tarpit(), ToolEndpoint(lambda body, headers: (200, b"{}"))
    yield tarpit, fine
    tarpit.released.set()
    tarpit.endpoint.close()
    fine.close()


def agent_sending_to(url: str, number: str) -> Agent:
    agent = Agent(name=number, phone_number=number, instructions="Help.", webhook_url=url)
    agent.save()
    return agent


def test_it_delivers_another_agents_calls_while_one_endpoint_holds_its_own(endpoints):
    tarpit, fine = endpoints
    slow = agent_sending_to(tarpit.endpoint.url, "+254711000801")
    quick = agent_sending_to(fine.url, "+254711000802")
    # The slow agent's calls end first: a runner taking tasks in turn would wait on them.
    for n in range(4):
        finished_call(slow, call_id=f"slow-{n}")
    finished_call(quick, call_id="quick-1")

    started = runner.start()
    assert started is not None
    try:
        assert wait_until(lambda: bool(fine.requests), timeout=20), "held up by the tarpit"
        # Delivered is written once the answer is read, a moment after the request arrives.
        assert wait_until(
            lambda: Call.objects.get(call_id="quick-1").webhook == AfterCall.DONE, timeout=20
        )
        assert not tarpit.released.is_set() and tarpit.in_flight == 1
        # Summaries are not held up either: every call gets one, the tarpit still holding.
        assert wait_until(lambda: Call.objects.exclude(analysis=AfterCall.DONE).count() == 0)
        assert not tarpit.released.is_set()
    finally:
        tarpit.released.set()
        if started is not None:
            assert wait_until(
                lambda: Call.objects.filter(webhook=AfterCall.DONE).count() == 5, timeout=30
            )
            started.stop()
    assert tarpit.most_in_flight == 1  # one attempt at a time per endpoint


def test_it_leaves_a_failing_endpoint_alone_for_a_while(endpoints):
    """A destination whose attempt failed gets no thread until its hold is over."""
    clock = [0.0]
    lane = Lane(TaskKind.WEBHOOK, workers=2, now=lambda: clock[0])
    where = destination(TaskKind.WEBHOOK, "https://Hooks.Example.com:8443/calls?x=1")
    assert where == "https://hooks.example.com:8443"
    # Another spelling of one endpoint is the same destination: no more turns for it.
    for spelling in ("HTTPS://u:p@hooks.example.com.:8443/x", "https://HOOKS.example.com:8443"):
        assert destination(TaskKind.WEBHOOK, spelling) == where
    assert destination(TaskKind.WEBHOOK, "https://t.example/") == destination(
        TaskKind.WEBHOOK, "https://t.example:443/other"
    )
    lane.running = 1
    lane.busy.add(where)
    lane._done(where, ok=False)
    assert lane.held_until[where] == runner.DESTINATION_HOLD_S
    lane.running = 1
    lane._done(where, ok=False)  # twice in a row: held twice as long
    assert lane.held_until[where] == 2 * runner.DESTINATION_HOLD_S
    lane.running = 1
    lane._done(where, ok=True)
    assert where not in lane.held_until and lane.running == 0
    lane.pool.shutdown()
    assert destination(TaskKind.ANALYSIS, "") == ""  # our own summary model: never held


def test_it_finds_other_destinations_behind_one_with_a_backlog(endpoints):
    """Hundreds of due tasks of one (held) destination hide no other's."""
    tarpit, fine = endpoints
    slow = agent_sending_to(tarpit.endpoint.url, "+254711000803")
    quick = agent_sending_to(fine.url, "+254711000804")
    for n in range(250):
        call = finished_call(slow, call_id=f"backlog-{n}")
        AfterCallTask.objects.create(call=call, kind=TaskKind.WEBHOOK)
    waiting = AfterCallTask.objects.create(call=finished_call(quick, call_id="behind-1"),
                                           kind=TaskKind.WEBHOOK)  # fmt: skip
    held = {destination(TaskKind.WEBHOOK, tarpit.endpoint.url)}
    assert [t.pk for t in claim(TaskKind.WEBHOOK, 4, skip=held)] == [waiting.pk]
    # Not held: still one at a time for it, the rest of the threads for the others.
    waiting.refresh_from_db()
    assert waiting.state == TaskState.RUNNING
    assert len(claim(TaskKind.WEBHOOK, 4)) == 1
