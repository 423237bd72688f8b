"""The stream sockets' call records on Django's ORM: streaming.records.CallRecords, which
voiceproject.asgi hands the consumers. Small helpers the consumer awaits; the reports of every
call are written by one thread of their own."""

from __future__ import annotations

import asyncio
import functools
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import InterfaceError, OperationalError, connection, transaction
from django.utils import timezone

from agents.models import Agent
from calls import in_words, limits
from calls.costs import TOKEN_KINDS, tokens_from_usage
from calls.models import (
    TERMINAL,
    Call,
    Direction,
    Role,
    Source,
    Status,
    Turn,
    recording_name,
)
from calls.talk import PERMISSION
from streaming.core.audio.recording import Recorder
from streaming.core.call.time_limits import Limits
from streaming.core.call.toolbox import ToolBox
from streaming.core.engines import OpenAI
from streaming.records import PROCESS, CallRecords, CallSetup


def call_setup(call: Call, agent: Agent) -> CallSetup:
    """What the bridge needs from a call: settings and tools as the call's revision saved them,
    secrets read now."""
    revision = call.agent_revision
    settings_ = revision.call_settings() if revision is not None else agent.call_settings()
    return CallSetup(
        call_id=call.call_id,
        pk=call.pk,
        agent=settings_,
        limits=Limits.of(settings_),
        tools=ToolBox(
            end_call=settings_.end_call_enabled,
            transfer_to=settings_.transfer_number,
            custom={tool.name: tool for tool in settings_.tools},
        ),
        openai=OpenAI(
            realtime_url=settings.OPENAI_REALTIME_URL,
            live_url=settings.OPENAI_LIVE_URL,
            api_key=settings.OPENAI_API_KEY,
            connect_timeout_s=settings.OPENAI_CONNECT_TIMEOUT,
        ),
    )


@database_sync_to_async
def claim_call(call_id: str) -> CallSetup | None:
    """The call's setup if it exists, has an agent, is not over and has no bridge yet.

    The claim is atomic, so a stream token opens one bridge at most, and none once Sautikit
    has said the call is over (a token is still within its lifetime then).
    """
    claimable = Call.objects.filter(
        call_id=call_id, agent__isnull=False, bridge_started_at__isnull=True
    ).exclude(status__in=TERMINAL)
    with transaction.atomic():
        call = claimable.select_related("agent", "agent_revision").first()
        if call is None or call.agent is None:  # (it has one: the query asks for it)
            return None
        limits.serialise(call.caller_number, call.agent)
        now = timezone.now()
        refused = limits.refusal(call, call.agent, now)
        if refused is not None:
            # Limits may have changed, or a number been blocked, since the stream URL was given.
            call.reject(refused.reason)
            call.save()
            call.record_event(Source.BRIDGE, "stream.refused", {"reason": refused.reason})
            return None
        if not claimable.filter(pk=call.pk).update(bridge_started_at=now, bridge_process=PROCESS):
            return None
        call.bridge_started_at = now
        if call.is_test:
            # No phone line tells us when it is answered: the browser's socket opening is.
            call.answered_at = now
            call.advance(Status.IN_PROGRESS)
            call.save(update_fields=["answered_at", "status", "updated_at"])
        return call_setup(call, call.agent)


@database_sync_to_async
def may_talk(user: Any, call_id: str) -> bool:
    """A staff member who may talk to agents, and who started this test call."""
    if not (user.is_authenticated and user.is_active and user.is_staff):
        return False
    if not user.has_perm(PERMISSION):
        return False
    return started_by(call_id) == user.pk


def ending_words(reason: str) -> str:
    return in_words.ending(reason).words


def started_by(call_id: str) -> int | None:
    """The user who started a test call from the browser (None for any other call)."""
    metadata = (
        Call.objects.filter(call_id=call_id, direction=Direction.BROWSER)
        .values_list("metadata", flat=True)
        .first()
    )
    browser = metadata.get("browser") if isinstance(metadata, dict) else None
    user_id = browser.get("user_id") if isinstance(browser, dict) else None
    return user_id if isinstance(user_id, int) else None


# The calls' reports are written by one thread of their own, which keeps its database connection
# open. Django's default (CONN_MAX_AGE 0, and under ASGI a thread per request) opened and closed
# a connection for every write: on SQLite each connect runs the WAL pragmas and registers
# Django's functions again, on PostgreSQL it takes one from the pool. A connection that fails
# is closed, and the next write opens another (the report writer retries).
_RECORDS = ThreadPoolExecutor(max_workers=1, thread_name_prefix="call-records")


async def apply_reports(
    call_pk: int, batch: list[tuple[str, dict[str, Any]]], turns: dict[str, Any]
) -> None:
    """Store what the call reported, in order, in one transaction (all or none)."""
    work = functools.partial(_apply_reports, call_pk, batch, turns)
    await asyncio.get_running_loop().run_in_executor(_RECORDS, work)


def _apply_reports(
    call_pk: int, batch: list[tuple[str, dict[str, Any]]], turns: dict[str, Any]
) -> None:
    locked: list[Call] = []  # the call's row, read (and locked) once per batch

    def call() -> Call:
        if not locked:
            locked.append(Call.objects.select_for_update().get(pk=call_pk))
        return locked[0]

    try:
        with transaction.atomic():
            for kind, payload in batch:
                _apply_report(call_pk, kind, payload, turns, call)
    except (OperationalError, InterfaceError):
        connection.close()
        raise


def release_connection() -> None:
    """Close the records thread's connection (a test's database is about to go)."""
    _RECORDS.submit(_close_connection).result()


def _close_connection() -> None:
    connection.close()  # looked up here: each thread has a connection of its own


def _apply_report(
    call_pk: int,
    kind: str,
    payload: dict[str, Any],
    turns: dict[str, Any],
    locked_call: Callable[[], Call],
) -> None:
    """Store one thing the call reported, as it happens (a crash keeps what came before).

    One writer per call, in order: nothing else writes these rows meanwhile, so no locks, and
    `turns` (the writer's own) keeps the rows written so far: one query per report. Runs inside
    the batch's transaction.
    """
    if kind == "turn":
        _update_turn(call_pk, payload, turns)
        return
    call = locked_call()
    if kind == "usage":
        call.add_usage(tokens_from_usage(payload.get("usage")))
        call.save(update_fields=[*USAGE_FIELDS, "updated_at"])
        if payload.get("status") == "completed":
            return  # the tokens are on the call; only unusual endings are kept as events
        kind = "response.done"
    elif kind == "end":
        _record_end(call, **payload)
        return
    elif kind == "metadata":
        call.metadata["stream"] = payload
        call.save(update_fields=["metadata", "updated_at"])
        return
    elif kind == "live usage":
        call.add_live_usage(payload.get("seconds"), payload.get("backend_tokens"))
        call.save(update_fields=["metadata", "openai_cost_usd", "updated_at"])
        return
    elif kind == "recording":
        call.recording = payload["name"]
        call.save(update_fields=["recording", "updated_at"])
        return
    call.record_event(Source.BRIDGE, kind, payload)


USAGE_FIELDS = [f"tokens_{kind}" for kind in TOKEN_KINDS] + ["responses", "openai_cost_usd"]


def _update_turn(call_pk: int, payload: dict[str, Any], turns: dict[str, Any]) -> None:
    values = dict(payload)
    item_id = str(values.pop("item_id"))[:128]
    role = values.pop("role")
    turn = turns.get(item_id)
    if turn is None:
        turn = turns[item_id] = Turn(call_id=call_pk, item_id=item_id, role=role)
    if role == Role.TOOL and "tool_name" in values:
        values["text"] = values["tool_name"]
    turn.update(values)
    turn.save()


@database_sync_to_async
def keep_transfer(call_id: str, number: str) -> None:
    """The number Sautikit is to <Dial> once the stream closes (see calls.views.voice)."""
    Call.objects.filter(call_id=call_id, transfer_to="").update(
        transfer_to=number, updated_at=timezone.now()
    )


def _record_end(
    call: Call,
    reason: str,
    error: str,
    summary: dict[str, Any],
    ended_by: str = "",
    transfer_to: str = "",
) -> None:
    call.bridge_ended(reason, error, ended_by, transfer_to)
    call.metadata["bridge"] = summary
    call.save()
    call.record_event(
        Source.BRIDGE,
        "bridge.failed" if error else "bridge.ended",
        {"reason": reason, "error": error, **summary},
    )


def store_recording(call_id: str, recorder: Recorder) -> str:
    """Mix the call's two sides into a stereo WAV in storage; returns its storage name."""
    name = recording_name(call_id, timezone.now())
    with tempfile.TemporaryFile() as wav:
        recorder.write_wav(wav)
        wav.seek(0)
        return default_storage.save(name, File(wav, name=name))


class StreamRecords:
    """streaming.records.CallRecords, on this module's helpers."""

    async def claim_call(self, call_id: str) -> CallSetup | None:
        return await claim_call(call_id)

    async def may_talk(self, user: Any, call_id: str) -> bool:
        return await may_talk(user, call_id)

    def ending_words(self, reason: str) -> str:
        return ending_words(reason)

    async def apply_reports(
        self, call_pk: int, batch: list[tuple[str, dict[str, Any]]], rows: dict[str, Any]
    ) -> None:
        await apply_reports(call_pk, batch, rows)

    async def keep_transfer(self, call_id: str, number: str) -> None:
        await keep_transfer(call_id, number)

    def store_recording(self, call_id: str, recorder: Recorder) -> str:
        return store_recording(call_id, recorder)


RECORDS: CallRecords = StreamRecords()
