"""Sautikit's webhooks: the voice callback, the stream status callback and the events_url."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone

from agents.models import Agent
from calls import limits, responses
from calls.models import Call, CallEvent, Source
from calls.webhook_fields import (
    STREAM_STATES,
    is_lifecycle_state,
    is_plausible,
    parse_direction,
    parse_time,
    read_event,
    whole_seconds,
)
from calls.webhook_http import (
    Answered,
    WebhookError,
    WebhookRequest,
    delivery_id,
    field,
    signed_payload,
    text,
    webhook,
)
from streaming import metrics
from streaming.ground import signatures
from streaming.ground.numbers import normalise_or_keep
from streaming.ground.text import state_key
from streaming.groups import call_group
from streaming.tokens import stream_url

log = logging.getLogger(__name__)

# How long a webhook waits for the channel layer (Redis) to take a message for a live bridge.
PUBLISH_TIMEOUT_S = 1.0
CALL_ID_FIELDS = ("sessionId", "CallId", "callSid", "CallSid", "call_id")
# Call ids travel in the stream URL's path: keep them to characters that need no escaping there.
CALL_ID = re.compile(r"^[A-Za-z0-9_.:+=~-]+\Z")


def _call_id(payload: dict[str, Any], *names: str) -> str:
    call_id = field(payload, *names)
    if not call_id:
        raise WebhookError(400, f"call id missing: expected one of {', '.join(names)}")
    if not CALL_ID.match(call_id):
        raise WebhookError(400, "call id has characters other than letters, digits and _.:+=~-")
    return call_id


def _secrets(agent: Agent | None) -> list[str]:
    return [settings.SAUTIKIT_SIGNING_SECRET, agent.signing_secret() if agent else ""]


def _known_call(call_id: str) -> Call | None:
    return Call.objects.filter(call_id=call_id).select_related("agent").first()


def _signer(known: Call | None, named: Agent | None) -> Agent | None:
    """Whose secret signs a webhook: a known call's own agent, whatever the body names.

    Only a call not yet tied to an agent goes by the number in the body; otherwise leaving the
    number out (or naming another agent's) would side-step the agent's own secret.
    """
    if known is not None and known.agent_id:
        return known.agent
    return named


AGENT_SECRET = 1  # its place in _secrets(): [the workspace's, the agent's own]


def _check_claim(known: Call | None, verified: signatures.Verified) -> None:
    """A number's own secret speaks for that number's calls only: it may not tie a call we
    already have, and that has no agent yet, to its agent (only the workspace secret may)."""
    if verified.secret == AGENT_SECRET and known is not None and not known.agent_id:
        raise WebhookError(403, "signed with a number's own secret for a call that is not its own")


def _base_url(request: HttpRequest) -> str:
    return settings.PUBLIC_BASE_URL or request.build_absolute_uri("/").rstrip("/")


def _is_repeat(event_id: str | None) -> bool:
    return bool(event_id) and CallEvent.objects.filter(event_id=event_id).exists()


@contextlib.contextmanager
def _stored_once(event_id: str | None, duplicate: Callable[[], HttpResponse]) -> Iterator[None]:
    """A transaction storing one delivery; the same delivery racing us in another request and
    winning (the unique event id decides) is answered as the repeat it is."""
    try:
        with transaction.atomic():
            yield
    except IntegrityError:
        if _is_repeat(event_id):
            raise Answered(duplicate()) from None
        raise  # anything else is not a duplicate: the webhook decorator answers 422


def _duplicate() -> HttpResponse:
    return text("duplicate: already recorded")


async def _group_send(group: str, message: dict[str, Any]) -> None:
    await asyncio.wait_for(get_channel_layer().group_send(group, message), PUBLISH_TIMEOUT_S)


def _publish(call_id: str, message: dict[str, Any]) -> None:
    """Tell the call's live bridge, in whichever process it runs, waiting PUBLISH_TIMEOUT_S at
    most: the event is stored already, and a stalled Redis must not stall the webhook."""
    try:
        async_to_sync(_group_send)(call_group(call_id), message)
    except Exception as e:
        # The bridge still hears it: its process reads what the database says of its calls
        # (calls.liveness), and it ends when Sautikit closes the socket.
        log.error("could not publish %s for call %s: %r", message.get("type"), call_id, e)


def _locked_call(call_id: str) -> tuple[Call, bool]:
    return Call.objects.select_for_update().get_or_create(call_id=call_id)


def _over_a_limit(call: Call, agent: Agent, now: datetime) -> limits.Refusal | None:
    limits.serialise(call.caller_number, agent)  # held until the transaction ends
    return limits.refusal(call, agent, now)


def _find_agent(dialled: str, caller: str) -> tuple[Agent | None, bool]:
    """The agent for the dialled number; WebRTC calls may arrive with the two numbers swapped."""
    agent = Agent.objects.for_number(dialled) if dialled else None
    if agent is None and caller:
        swapped = Agent.objects.for_number(caller)
        if swapped is not None:
            return swapped, True
    return agent, False


def _numbers(payload: dict[str, Any]) -> tuple[str, str]:
    caller = field(payload, "callerNumber", "From", "from", limit=64)
    dialled = field(payload, "destinationNumber", "To", "to", "clientDialedNumber", limit=64)
    return caller, dialled


@dataclass(frozen=True)
class _Found:
    """What naming a webhook's secrets looked up, for the webhook to use as it is."""

    known: Call | None  # the call, if we have it already
    agent: Agent | None = None  # the agent the webhook is for
    swapped: bool = False  # voice: caller and callee arrived the other way round


def _voice_signer(payload: dict[str, Any]) -> tuple[list[str], _Found]:
    known = _known_call(_call_id(payload, *CALL_ID_FIELDS))
    caller, dialled = _numbers(payload)
    agent, swapped = _find_agent(dialled, caller)
    return _secrets(_signer(known, agent)), _Found(known, agent, swapped)


def _status_signer(payload: dict[str, Any]) -> tuple[list[str], _Found]:
    known = _known_call(_call_id(payload, *CALL_ID_FIELDS))
    return _secrets(_signer(known, None)), _Found(known)


@webhook
def voice(request: WebhookRequest) -> HttpResponse:
    payload, verified, found = signed_payload(request, _voice_signer)
    call_id = _call_id(payload, *CALL_ID_FIELDS)
    _check_claim(found.known, verified)
    caller, dialled = _numbers(payload)
    agent, swapped = found.agent, found.swapped
    if swapped:
        caller, dialled = dialled, caller
    event_id = delivery_id(request, payload, verified)
    if _is_repeat(event_id):
        return responses.empty()

    state = field(payload, "callSessionState", limit=40)
    is_active = field(payload, "isActive", limit=8)
    now = timezone.now()
    stream_state = refused_as = ""
    with _stored_once(event_id, responses.empty):
        call, _ = _locked_call(call_id)
        call.record_event(Source.VOICE, state or "incoming", payload, event_id, now)
        country = settings.DEFAULT_COUNTRY_CODE
        call.caller_number = normalise_or_keep(call.caller_number or caller, country)[:64]
        call.dialled_number = call.dialled_number or normalise_or_keep(dialled, country)[:64]
        call.direction = call.direction or parse_direction(field(payload, "direction"))
        call.client_request_id = call.client_request_id or field(payload, "clientRequestId")
        if swapped:
            call.metadata["numbers_swapped"] = True
        if agent and not call.agent_id:
            call.attach_agent(agent)

        transfer = call.take_transfer() if is_active != "0" and not call.is_over else ""
        if transfer:
            # The agent handed the call over and closed the stream: Sautikit asks what next.
            call.note_session_state(state, now)
            call.record_event(Source.VOICE, "transfer.dial", {"number": transfer})
            stream_state = state if state_key(state) in STREAM_STATES else ""
            response = responses.dial(transfer)
        elif is_active == "0" or is_lifecycle_state(state):
            call.note_session_state(state or "Completed", now)
            call.duration_seconds = call.duration_seconds or whole_seconds(
                field(payload, "durationInSeconds", "duration", "CallDuration", limit=32)
            )
            call.hangup_cause = call.hangup_cause or field(payload, "hangupCause", limit=64)
            stream_state = state if state_key(state) in STREAM_STATES else ""
            response = responses.empty()
        elif call.has_stream or call.is_over:
            # A repeat of the first callback: never fork a second stream for one call.
            response = responses.empty()
        elif agent is None:
            call.reject(f"no agent for number {dialled or '(none given)'}")
            refused_as = "unknown_number"
            response = responses.say_and_hangup(responses.UNKNOWN_NUMBER)
        elif not agent.is_active or agent.published_revision_id is None:
            # Never published: callers get no unreviewed draft, only the inactive apology.
            why = "inactive" if not agent.is_active else "not published yet"
            call.reject(f"agent {agent.name} is {why}")
            refused_as = "inactive_agent"
            response = responses.say_and_hangup(responses.INACTIVE_AGENT)
        elif refused := _over_a_limit(call, agent, now):
            call.reject(refused.reason)
            call.metadata["refused"] = refused_as = "blocked" if refused.blocked else "limit"
            if refused.blocked:
                response = responses.reject()
            else:
                response = responses.say_and_hangup(responses.LINES_BUSY)
        else:
            call.session_state = state[:40] or call.session_state
            call.request_stream()
            base = _base_url(request)
            version = call.agent_revision  # the published one: a draft's line settings wait too
            response = responses.stream(
                name=f"call-{call.pk}",
                url=stream_url(base, call.call_id),
                track=version.value("track") if version else agent.track,
                sample_rate=version.value("sample_rate") if version else agent.sample_rate,
                status_url=base + reverse("calls:stream-status"),
            )
        call.save()
    if refused_as:
        metrics.CALLS_REFUSED.labels(refused_as).inc()
    if stream_state:
        _publish(call_id, _stream_message(call, stream_state, payload))
    elif call.is_over and call.bridge_started_at and not call.bridge_ended_at:
        # Sautikit says the call is over while its bridge (and OpenAI session) still runs.
        _publish(call_id, {"type": "call.ended", "call_id": call_id, "kind": state or "Completed"})
    return response


@webhook
def stream_status(request: WebhookRequest) -> HttpResponse:
    payload, verified, _ = signed_payload(request, _status_signer)
    call_id = _call_id(payload, *CALL_ID_FIELDS)
    state = field(payload, "callSessionState", limit=40) or _state_from_stream_event(
        field(payload, "streamEvent", limit=40)
    )
    if not state:
        raise WebhookError(400, "callSessionState missing (StreamStarted, StreamStopped, …)")
    event_id = delivery_id(request, payload, verified)
    if _is_repeat(event_id):
        return _duplicate()

    now = timezone.now()
    with _stored_once(event_id, _duplicate):
        call, created = _locked_call(call_id)
        call.record_event(Source.STREAM_STATUS, state, payload, event_id, now)
        call.stream_sid = call.stream_sid or field(payload, "streamSid")
        call.note_session_state(state, now)
        if state_key(state) == "streamerror":
            detail = field(payload, "error", "errorMessage", "reason", "message", limit=500)
            if detail:
                call.stream_error = f"Sautikit reported a stream error: {detail}"
        call.save()
    _publish(call_id, _stream_message(call, state, payload))
    if created:
        return text(f"stored: call {call_id} not seen yet, it will be attached when it is", 202)
    return text("ok")


def _event_signer(payload: dict[str, Any]) -> tuple[list[str], _Found]:
    data = payload.get("data")
    if not field(payload, "kind", limit=64):
        raise WebhookError(400, "kind missing")
    if not isinstance(data, dict):
        raise WebhookError(400, "data missing or not an object")
    known = _known_call(_call_id(data, "call_id", "session_id", "sessionId"))
    agent = _signer(known, None) or Agent.objects.for_number(field(data, "to", limit=64))
    return _secrets(agent), _Found(known, agent)


@webhook
def events(request: WebhookRequest) -> HttpResponse:
    payload, verified, found = signed_payload(request, _event_signer)
    agent = found.agent
    kind = field(payload, "kind", limit=64)
    data = payload["data"]
    call_id = _call_id(data, "call_id", "session_id", "sessionId")
    _check_claim(found.known, verified)
    event_id = delivery_id(request, payload, verified)
    if not event_id:
        raise WebhookError(400, "event_id missing")
    if _is_repeat(event_id):
        return _duplicate()

    occurred_at = _occurred_at(payload.get("occurred_at"), timezone.now())
    with _stored_once(event_id, _duplicate):
        call, _ = _locked_call(call_id)
        call.record_event(Source.EVENTS, kind, payload, event_id, occurred_at)
        if agent and not call.agent_id:
            call.attach_agent(agent)
        fields = read_event(kind, data, occurred_at, settings.DEFAULT_COUNTRY_CODE)
        call.apply_event(kind, fields, occurred_at)
        call.save()
    if kind in {"call.completed", "call.failed"}:
        _publish(call_id, {"type": "call.ended", "call_id": call_id, "kind": kind})
    if kind not in KNOWN_EVENTS:
        return text(f"stored: kind {kind} is not one we act on", 202)
    return text("ok")


def _occurred_at(value: Any, now: datetime) -> datetime:
    """When an event happened: as sent if that is plausible, else when it arrived."""
    if value in (None, ""):
        return now
    parsed = parse_time(value)
    if parsed is None:
        raise WebhookError(400, "occurred_at is not a time: send ISO 8601 or unix seconds")
    return parsed if is_plausible(parsed, now) else now


KNOWN_EVENTS = {
    "call.started",
    "call.answered",
    "call.completed",
    "call.failed",
    "call.recording.ready",
}


def _stream_message(call: Call, state: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "stream.status",
        "call_id": call.call_id,
        "state": state,
        "stream_sid": call.stream_sid,
        "payload": payload,
    }


def _state_from_stream_event(event: str) -> str:
    # streamEvent = "stream-stopped" has been seen without callSessionState.
    return "".join(part.capitalize() for part in event.split("-")) if event else ""
