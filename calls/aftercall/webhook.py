"""The end-of-call webhook: once a call's record is complete (over, its summary and notes
written or given up on), a signed JSON POST of all of it to the agent's address.

At least once: retried with backoff until a 2xx (calls.aftercall.models.BACKOFF_S); every
delivery of one call carries the same X-Webhook-Id, so a receiver can drop repeats. The same
safety rules as custom tools (streaming.ground.outbound): no address inside our network, one
deadline per attempt, the answer read no further than 16 KB. Signed like a tool request, with
the agent's own key (Agent.webhook_signing_secret).

A call goes to the address its agent had when the call was queued (AfterCallTask.url), or
nowhere: an address changed since then gets none of the calls queued before, whoever changed
it, until someone who may choose destinations presses "send again" (aimed_elsewhere).
"""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.urls import reverse

from agents.models import WEBHOOK_KEY_NAME
from calls.aftercall.models import AfterCallTask, Outcome, TaskKind, agent_webhook_url
from calls.models import AfterCall, Call
from streaming.core.call.toolbox import signed_message
from streaming.ground.outbound import Refused, endpoint_problem, post_capped
from streaming.ground.signatures import sign

SIGNATURE_HEADER = "X-Webhook-Signature"
EVENT = "call.ended"
TIMEOUT_S = 10.0
MAX_BODY_BYTES = 512 * 1024  # a long call's transcript fits many times over
MAX_ANSWER_BYTES = 16 * 1024


def run(task: AfterCallTask) -> Outcome:
    call = task.call
    agent = call.agent
    now = agent.webhook_url if agent is not None else ""
    if agent is None or not now:
        return Outcome(False, "the agent has no webhook address any more", give_up=True)
    url = task.url
    if url != now:
        return Outcome(
            False,
            f"not sent: the agent's webhook address changed since the call was queued (from "
            f"{url or 'none'} to {now}); “Send to the webhook again” sends it to the new one",
            give_up=True,
        )
    problem = endpoint_problem(url, settings.TOOL_ALLOW_LOOPBACK)
    if problem:
        return Outcome(False, f"the webhook is not reachable from here ({problem})")
    secret = agent.webhook_signing_secret()
    if not secret:
        return Outcome(False, "no signing secret on the server (TOOL_SIGNING_SECRET)")
    body = encode(payload(call))
    headers = {
        "Content-Type": "application/json",
        "Accept-Encoding": "identity",
        "X-Webhook-Id": f"{call.call_id}:{EVENT}",
        "X-Call-Id": call.call_id,
        SIGNATURE_HEADER: sign(
            secret, signed_message("POST", url, call.call_id, WEBHOOK_KEY_NAME, body)
        ),
    }
    try:
        status, _ = asyncio.run(_post(url, body, headers))
    except TimeoutError:
        return Outcome(False, f"no answer within {TIMEOUT_S:g} s")
    except Refused as e:
        return Outcome(False, str(e))
    except Exception as e:  # network errors of every kind: tried again later
        return Outcome(False, f"could not be reached ({type(e).__name__})")
    if not 200 <= status < 300:
        return Outcome(False, f"answered HTTP {status}", status)
    call.webhook = AfterCall.DONE
    call.save(update_fields=["webhook", "updated_at"])
    return Outcome(True, f"answered HTTP {status}", status)


async def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    async with asyncio.timeout(TIMEOUT_S):
        return await post_capped(url, body, headers, settings.TOOL_ALLOW_LOOPBACK,
                                 MAX_ANSWER_BYTES, "the webhook", cut=True)  # fmt: skip


def gave_up(task: AfterCallTask) -> None:
    call = task.call
    call.webhook = AfterCall.FAILED
    call.save(update_fields=["webhook", "updated_at"])


def aimed_elsewhere(call: Call) -> bool:
    """Whether “send again” would send the call where it was never meant to go: to an address
    the agent has now but did not have when the call was queued, or a call never queued."""
    task = call.tasks.filter(kind=TaskKind.WEBHOOK).first()
    return task is None or task.url != agent_webhook_url(call.agent_id)


def send_again(call: Call) -> AfterCallTask:
    """An operator's “send again”: a new round of attempts, now, to the agent's address now."""
    task, created = AfterCallTask.objects.get_or_create(call=call, kind=TaskKind.WEBHOOK)
    if not created:
        task.restart(agent_webhook_url(call.agent_id))
    call.webhook = AfterCall.PENDING
    call.save(update_fields=["webhook", "updated_at"])
    return task


def payload(call: Call) -> dict[str, Any]:
    """Everything on the call's page, as JSON (documented in docs/webhooks.md)."""
    revision = call.agent_revision
    agent = call.agent
    cost = call.cost
    return {
        "type": EVENT,
        "id": f"{call.call_id}:{EVENT}",
        "call": {
            "id": call.call_id,
            "test": call.is_test,
            "direction": call.direction or None,
            "caller": call.caller_number,
            "dialled": call.dialled_number,
            "status": call.status,
            "started_at": _time(call.started_at),
            "answered_at": _time(call.answered_at),
            "ended_at": _time(call.ended_at),
            "duration_seconds": call.billed_seconds,
            "ended_by": call.ended_by or None,
            "end_reason": call.end_reason,
            "failure_reason": call.failure_reason,
            "transfer_to": call.transfer_to or None,
            "recording": bool(call.recording),
            "page": _page(call),
        },
        "agent": {
            "name": agent.name if agent else None,
            "phone_number": agent.phone_number if agent else None,
            "version": revision.number if revision else None,
        },
        "summary": call.summary if call.analysis == AfterCall.DONE else None,
        "notes": call.notes if call.analysis == AfterCall.DONE else None,
        "analysis": call.analysis or AfterCall.NONE,
        "cost": {
            "openai_usd": cost.openai_usd,
            "sautikit_kes": cost.sautikit_kes,
            "total_kes": cost.total_kes,
        },
        "transcript": [_turn(turn) for turn in call.turns.all()],
    }


def encode(data: dict[str, Any]) -> bytes:
    """JSON, at most MAX_BODY_BYTES: a transcript too long loses turns from its middle."""
    body = _dumps(data)
    turns = data["transcript"]
    if len(body) <= MAX_BODY_BYTES or not turns:
        return body
    data["transcript_cut"] = True
    # Each turn measured once (with the ", " that follows it in a list), so a huge transcript
    # costs a few encodings rather than one per turn dropped: then the middle one goes until
    # the rest fit, as many as one would drop re-encoding each time.
    sizes = [len(_dumps(turn)) + 2 for turn in turns]
    excess = len(_dumps(data)) - MAX_BODY_BYTES
    kept = list(range(len(turns)))
    while excess > 0 and kept:
        excess -= sizes[kept.pop(len(kept) // 2)]
    turns[:] = [turns[i] for i in kept]
    body = _dumps(data)
    while len(body) > MAX_BODY_BYTES and turns:  # the first turn has no ", ": a byte or two
        del turns[len(turns) // 2]
        body = _dumps(data)
    return body


def _dumps(data: dict[str, Any]) -> bytes:
    return json.dumps(data, ensure_ascii=False, default=_plain).encode()


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"not JSON: {type(value).__name__}")


def _turn(turn: Any) -> dict[str, Any]:
    said: dict[str, Any] = {"role": turn.role, "text": turn.text, "started_ms": turn.started_ms,
                            "ended_ms": turn.ended_ms, "interrupted": turn.interrupted}  # fmt: skip
    if turn.tool_name:
        said["tool"] = {"name": turn.tool_name, "arguments": turn.tool_arguments,
                        "result": turn.tool_result, "ok": turn.tool_ok}  # fmt: skip
    return said


def _time(value: Any) -> str | None:
    return value.isoformat() if value else None


def _page(call: Call) -> str | None:
    path = reverse("admin:calls_call_change", args=[call.pk])
    return settings.PUBLIC_BASE_URL + path if settings.PUBLIC_BASE_URL else path
