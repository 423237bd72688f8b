from __future__ import annotations

import json
import wave
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from statistics import median
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from agents.models import Agent, AgentRevision
from calls.aftercall.models import AfterCallTask, TaskAttempt, TaskKind
from calls.costs import TOKEN_KINDS, Cost, live_usd, openai_usd, sautikit_kes
from calls.turns import Role, Turn
from calls.webhook_fields import (
    ENDED_OK,
    ENDED_UNANSWERED,
    EventFields,
)
from streaming.core.call.endings import EndedBy
from streaming.ground.numbers import normalise_or_keep
from streaming.ground.text import state_key

# Kept in files of their own, found by Django here.
__all__ = ["AfterCallTask", "Role", "TaskAttempt", "Turn"]


class Status(models.TextChoices):
    PENDING = "pending", "Heard of, not yet answered"
    CONNECTING = "connecting", "Agent connecting"
    REJECTED = "rejected", "Not answered"
    IN_PROGRESS = "in_progress", "In progress"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"


# Webhooks arrive out of order: a call only moves forward through these ranks.
STATUS_RANK = {
    Status.PENDING: 0,
    Status.CONNECTING: 1,
    Status.REJECTED: 1,
    Status.IN_PROGRESS: 2,
    Status.COMPLETED: 3,
    Status.FAILED: 3,
}
TERMINAL = {Status.COMPLETED, Status.FAILED, Status.REJECTED}


class Direction(models.TextChoices):
    INBOUND = "inbound", "Inbound"
    OUTBOUND = "outbound", "Outbound"
    # "Talk to this agent" in the admin: no phone line, no Sautikit, no Sautikit cost.
    BROWSER = "browser", "Test from the browser"
    UNKNOWN = "", "Unknown"


class AfterCall(models.TextChoices):
    """Where a call's summary, or its delivery to the agent's webhook, stands."""

    UNDECIDED = "", "—"
    NONE = "none", "Not needed"
    PENDING = "pending", "Pending"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class Source(models.TextChoices):
    VOICE = "voice", "Voice callback"
    STREAM_STATUS = "stream_status", "Stream status"
    EVENTS = "events", "Call event"
    BRIDGE = "bridge", "Live bridge"
    BROWSER = "browser", "Browser test call"
    SYSTEM = "system", "This server"


def recording_name(call_id: str, day: datetime) -> str:
    return f"recordings/{day:%Y/%m/%d}/{call_id}.wav"


def recording_path(call: Call, filename: str) -> str:
    return recording_name(call.call_id, call.started_at or timezone.now())


class Call(models.Model):
    call_id = models.CharField(max_length=128, unique=True, verbose_name="call id")
    agent = models.ForeignKey(
        Agent, null=True, blank=True, on_delete=models.PROTECT, related_name="calls"
    )
    agent_revision = models.ForeignKey(
        AgentRevision,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="calls",
        verbose_name="agent version",
        help_text="The agent's settings exactly as this call used them.",
    )
    direction = models.CharField(max_length=8, choices=Direction.choices, blank=True)
    caller_number = models.CharField(max_length=64, blank=True, verbose_name="caller")
    dialled_number = models.CharField(max_length=64, blank=True, verbose_name="number dialled")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    session_state = models.CharField(
        max_length=40, blank=True, help_text="The last call state Sautikit reported."
    )
    client_request_id = models.CharField(max_length=128, blank=True)
    stream_sid = models.CharField(max_length=128, blank=True, verbose_name="stream id")
    stream_requested_at = models.DateTimeField(null=True, blank=True)
    stream_started_at = models.DateTimeField(null=True, blank=True)
    stream_stopped_at = models.DateTimeField(null=True, blank=True)
    stream_error = models.TextField(blank=True)
    bridge_started_at = models.DateTimeField(
        null=True, blank=True, help_text="When the stream socket opened and the agent joined."
    )
    bridge_ended_at = models.DateTimeField(null=True, blank=True)
    bridge_process = models.CharField(
        max_length=80, blank=True, help_text="The server process that held the call (host:pid)."
    )
    started_at = models.DateTimeField(default=timezone.now, verbose_name="started")
    answered_at = models.DateTimeField(null=True, blank=True, verbose_name="answered")
    ended_at = models.DateTimeField(null=True, blank=True, verbose_name="ended")
    duration_seconds = models.PositiveIntegerField(null=True, blank=True)
    hangup_cause = models.CharField(max_length=64, blank=True)
    failure_reason = models.TextField(blank=True)
    end_reason = models.CharField(
        max_length=200, blank=True, help_text="Why the call ended, as far as we know."
    )
    ended_by = models.CharField(
        max_length=8,
        choices=[(e.value, e.label) for e in EndedBy],
        blank=True,
        help_text="Who ended the call.",
    )
    transfer_to = models.CharField(
        max_length=16, blank=True, help_text="The number the agent handed the caller over to."
    )
    transfer_dialled_at = models.DateTimeField(
        null=True, blank=True, help_text="When Sautikit was told to dial the transfer number."
    )
    # Usage summed over the call's responses (response.done); cached tokens are counted apart.
    tokens_input_text = models.PositiveBigIntegerField(default=0)
    tokens_input_cached_text = models.PositiveBigIntegerField(default=0)
    tokens_input_audio = models.PositiveBigIntegerField(default=0)
    tokens_input_cached_audio = models.PositiveBigIntegerField(default=0)
    tokens_output_text = models.PositiveBigIntegerField(default=0)
    tokens_output_audio = models.PositiveBigIntegerField(default=0)
    responses = models.PositiveIntegerField(default=0, help_text="Answers the agent produced.")
    openai_cost_usd = models.DecimalField(
        max_digits=12,
        decimal_places=6,
        default=Decimal(0),
        verbose_name="OpenAI cost (USD)",
        help_text="At the prices configured when the usage came in.",
    )
    recording = models.FileField(upload_to=recording_path, blank=True, max_length=255)
    summary = models.TextField(
        blank=True, help_text="What the call was about, in a sentence or two."
    )
    notes = models.JSONField(
        default=dict, blank=True, help_text="The agent's notes for this call, by name."
    )
    analysis = models.CharField(
        max_length=8,
        choices=AfterCall.choices,
        default=AfterCall.UNDECIDED,
        blank=True,
        verbose_name="summary",
    )
    analysis_cost_usd = models.DecimalField(
        max_digits=10,
        decimal_places=6,
        default=Decimal(0),
        verbose_name="summary cost (USD)",
        help_text="The text model's cost for the summary and notes, part of the call's cost.",
    )
    webhook = models.CharField(
        max_length=8,
        choices=AfterCall.choices,
        default=AfterCall.UNDECIDED,
        blank=True,
        verbose_name="sent to webhook",
    )
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-started_at"]
        indexes = [
            models.Index(fields=["started_at"]),
            models.Index(fields=["caller_number"]),
            models.Index(fields=["dialled_number"]),
        ]

    def __str__(self) -> str:
        return self.call_id

    def save(self, *args: Any, **kwargs: Any) -> None:
        super().save(*args, **kwargs)
        self.queue_after_call()

    # -- once it is over ------------------------------------------------------------------

    def queue_after_call(self) -> None:
        """Once the bridge has ended: the summary and notes; once the call is over and those are
        written (or given up on): the delivery to the agent's webhook. Each is decided once,
        by a conditional update, so that two processes saving the call queue it once."""
        if not self.agent_id or self.bridge_ended_at is None:
            return
        if self.analysis == AfterCall.UNDECIDED:
            self._decide("analysis", TaskKind.ANALYSIS, self._wants_analysis)
        if (
            self.webhook == AfterCall.UNDECIDED
            and self.is_over
            and self.analysis != AfterCall.PENDING
        ):
            self._decide("webhook", TaskKind.WEBHOOK, self._wants_webhook)

    def _decide(self, field: str, kind: str, wanted: Callable[[], bool]) -> None:
        state = AfterCall.PENDING if wanted() else AfterCall.NONE
        if Call.objects.filter(pk=self.pk, **{field: AfterCall.UNDECIDED}).update(**{field: state}):
            setattr(self, field, state)
            if state == AfterCall.PENDING:
                AfterCallTask.objects.get_or_create(call=self, kind=kind)
        else:
            self.refresh_from_db(fields=[field])

    def ordered_notes(self) -> list[tuple[str, Any]]:
        """The notes in the order the agent lists them (PostgreSQL's jsonb keeps no order)."""
        listed = self.agent_revision.value("notes") if self.agent_revision else []
        order = {note["name"]: n for n, note in enumerate(listed or [])}
        return sorted(self.notes.items(), key=lambda item: order.get(item[0], len(order)))

    def _wants_webhook(self) -> bool:
        return self.agent is not None and bool(self.agent.webhook_url)

    def _wants_analysis(self) -> bool:
        revision = self.agent_revision
        if revision is None or not (revision.value("summarise_calls") or revision.value("notes")):
            return False
        return self.turns.exclude(text="").exists()

    # -- state ------------------------------------------------------------------

    @property
    def has_stream(self) -> bool:
        return bool(self.stream_requested_at or self.stream_started_at)

    @property
    def is_test(self) -> bool:
        """Talked from the browser: no phone line, so nothing but the bridge ends it."""
        return self.direction == Direction.BROWSER

    @property
    def is_over(self) -> bool:
        return self.status in TERMINAL

    @property
    def duration(self) -> timedelta | None:
        if self.duration_seconds is not None:
            return timedelta(seconds=self.duration_seconds)
        if self.ended_at:
            return self.ended_at - (self.answered_at or self.started_at)
        return None

    def advance(self, status: str) -> None:
        """Move to `status` unless the call is already there, further on, or over."""
        if self.status in TERMINAL:
            return
        if STATUS_RANK[Status(status)] > STATUS_RANK[Status(self.status)]:
            self.status = status

    def mark_ended(self, at: datetime | None, reason: str = "") -> None:
        if at and not self.ended_at:
            self.ended_at = at
        if reason and not self.end_reason:
            self.end_reason = reason[:200]

    def attach_agent(self, agent: Agent) -> None:
        """The call is the agent's, and runs on the version callers get (not its draft)."""
        self.agent = agent
        # None for an agent never published: such a call is refused, and its record must not
        # claim it ran on a draft nobody reviewed.
        self.agent_revision = agent.published_revision

    def request_stream(self) -> None:
        self.stream_requested_at = timezone.now()
        self.advance(Status.CONNECTING)

    def reject(self, reason: str) -> None:
        """Not answered by an agent: unknown number, inactive agent, over a limit, blocked."""
        if self.status in (Status.PENDING, Status.CONNECTING):
            self.status = Status.REJECTED
        self.mark_ended(timezone.now(), reason)

    def record_event(
        self,
        source: str,
        kind: str,
        payload: dict[str, Any],
        event_id: str | None = None,
        occurred_at: datetime | None = None,
    ) -> CallEvent:
        """Keep what we were told about this call, exactly as it arrived."""
        return self.events.create(
            source=source,
            kind=kind[:64],
            event_id=event_id,
            occurred_at=occurred_at or timezone.now(),
            payload=payload,
        )

    def bridge_ended(
        self, reason: str, error: str = "", ended_by: str = "", transfer_to: str = ""
    ) -> None:
        """The live bridge is over: why, who ended it, and whether OpenAI failed the call."""
        now = timezone.now()
        self.ended_by = self.ended_by or (EndedBy.ERROR if error else ended_by)
        self.transfer_to = self.transfer_to or transfer_to
        self.bridge_ended_at = self.bridge_ended_at or now
        if error:
            self.failure_reason = self.failure_reason or error
        if self.transfer_to and not self.is_test:
            # The call goes on with a person (the agent's hand-over, or its fallback number when
            # OpenAI failed): Sautikit's own events will end it.
            self.end_reason = self.end_reason or reason[:200]
            return
        if error:
            self.advance(Status.FAILED)
        else:
            self.advance(Status.COMPLETED)
        self.mark_ended(now, reason)

    def recording_seconds(self) -> float | None:
        """The recording's length from its WAV header, or None if there is none (any more)."""
        if not self.recording:
            return None
        try:
            with self.recording.open("rb") as f, wave.open(f) as w:
                return w.getnframes() / w.getframerate()
        except (OSError, wave.Error, EOFError):
            return None

    def recording_expires_at(self) -> datetime | None:
        if not self.recording:
            return None
        return self.started_at + timedelta(days=settings.RECORDING_RETENTION_DAYS)

    def take_transfer(self) -> str:
        """The number to <Dial> if the agent handed this call over and it is not dialled yet."""
        if not self.transfer_to or self.transfer_dialled_at:
            return ""
        self.transfer_dialled_at = timezone.now()
        return self.transfer_to

    # -- usage, cost and latency --------------------------------------------------

    def tokens(self) -> dict[str, int]:
        return {kind: getattr(self, f"tokens_{kind}") for kind in TOKEN_KINDS}

    def add_usage(self, tokens: dict[str, int]) -> None:
        for kind in TOKEN_KINDS:
            field = f"tokens_{kind}"
            setattr(self, field, getattr(self, field) + tokens.get(kind, 0))
        self.responses += 1
        self.openai_cost_usd = openai_usd(self.tokens())

    @property
    def billed_seconds(self) -> int:
        if self.duration_seconds is not None:
            return self.duration_seconds
        duration = self.duration
        return max(0, round(duration.total_seconds())) if duration else 0

    @property
    def cost(self) -> Cost:
        return Cost(
            self.openai_cost_usd + self.analysis_cost_usd,
            sautikit_kes(self.direction, self.billed_seconds),
        )

    def add_live_usage(self, seconds: Any, backend_tokens: Any) -> None:
        """A GPT-Live session's final usage: billed by its seconds, and its backend's tokens."""
        seconds = float(seconds) if isinstance(seconds, int | float) else 0.0
        tokens = backend_tokens if isinstance(backend_tokens, dict) else {}
        self.metadata["live"] = {"seconds": seconds, "backend_tokens": tokens}
        self.openai_cost_usd = openai_usd(self.tokens()) + live_usd(seconds, tokens)

    def latency_summary(self) -> tuple[int | None, int | None]:
        """Median and worst answer latency in ms, or (None, None) if the agent never answered."""
        return latency_summary(list(self.turns.all()))

    # -- what Sautikit tells us -------------------------------------------------

    def note_session_state(self, state: str, at: datetime) -> None:
        """A callSessionState, from the voice URL or the stream status callback."""
        if not state:
            return
        self.session_state = state[:40]
        key = state_key(state)
        if key == "streamstarted":
            self.stream_started_at = self.stream_started_at or at
            self.advance(Status.IN_PROGRESS)
            self.answered_at = self.answered_at or at
        elif key == "streamstopped":
            self.stream_stopped_at = self.stream_stopped_at or at
        elif key == "streamerror":
            self.stream_stopped_at = self.stream_stopped_at or at
            self.stream_error = self.stream_error or "Sautikit reported a stream error"
        elif key in ENDED_OK:
            self.advance(Status.COMPLETED)
            self.mark_ended(at, f"Sautikit: {state}")
        elif key in ENDED_UNANSWERED:
            self.advance(Status.FAILED)
            self.failure_reason = self.failure_reason or f"Sautikit: {state}"
            self.mark_ended(at, f"Sautikit: {state}")

    def apply_event(self, kind: str, event: EventFields, occurred_at: datetime) -> None:
        """Fold one events_url envelope (read by webhook_fields.read_event) into the call; safe
        in any order."""
        self.direction = self.direction or event.direction
        self.caller_number = self.caller_number or event.caller
        self.dialled_number = self.dialled_number or event.dialled
        if kind == "call.started":
            self.started_at = min(self.started_at, occurred_at)
        elif kind == "call.answered":
            self.answered_at = self.answered_at or event.answered_at or occurred_at
            self.advance(Status.IN_PROGRESS)
        elif kind == "call.completed":
            self.answered_at = self.answered_at or event.answered_at
            if event.duration_seconds is not None:
                self.duration_seconds = event.duration_seconds
            self.hangup_cause = event.hangup_cause or self.hangup_cause
            # Sautikit's own end time is the truth, even if we guessed one earlier.
            self.ended_at = event.ended_at or self.ended_at or occurred_at
            self.advance(Status.COMPLETED)
            self.mark_ended(None, f"hung up: {self.hangup_cause}" if self.hangup_cause else "")
        elif kind == "call.failed":
            self.failure_reason = event.failure_reason or "call failed"
            self.ended_at = event.ended_at or self.ended_at or occurred_at
            self.advance(Status.FAILED)
            self.mark_ended(None, f"failed: {self.failure_reason}")
        elif kind == "call.recording.ready" and event.recording is not None:
            recordings = self.metadata.setdefault("recordings", [])
            new_id = event.recording.get("recording_id")
            if not any(r.get("recording_id") == new_id for r in recordings):
                recordings.append(event.recording)


def latency_summary(turns: list[Turn]) -> tuple[int | None, int | None]:
    values = [t.latency_ms for t in turns if t.role == Role.AGENT and t.latency_ms is not None]
    if not values:
        return None, None
    return round(median(values)), max(values)


class CallEvent(models.Model):
    """Everything Sautikit told us about a call, as it arrived. Never edited."""

    call = models.ForeignKey(
        Call, null=True, blank=True, on_delete=models.CASCADE, related_name="events"
    )
    source = models.CharField(max_length=16, choices=Source.choices)
    kind = models.CharField(max_length=64, help_text="Event kind or call state.")
    event_id = models.CharField(
        max_length=128,
        null=True,
        blank=True,
        unique=True,
        help_text="Sautikit's id for this delivery; a repeat with the same id is ignored.",
    )
    occurred_at = models.DateTimeField(
        default=timezone.now, help_text="When it happened, by Sautikit's clock if it said."
    )
    received_at = models.DateTimeField(auto_now_add=True)
    payload = models.JSONField(default=dict, help_text="The body exactly as it arrived (parsed).")

    class Meta:
        ordering = ["occurred_at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} ({self.get_source_display()})"

    @property
    def pretty(self) -> str:
        """The payload as the call's page shows it."""
        return json.dumps(self.payload, indent=2, ensure_ascii=False)


class ServerProcess(models.Model):
    """A server process that holds calls, and when it last said it was alive (calls.liveness)."""

    name = models.CharField(max_length=80, unique=True, help_text="host:pid")
    started_at = models.DateTimeField(auto_now_add=True)
    seen_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.name


class BlockedNumber(models.Model):
    """A caller no agent answers: their calls are rejected before any OpenAI session."""

    number = models.CharField(
        max_length=64,
        unique=True,
        help_text="The caller's number, any usual way (0712 345 678 or +254712345678). Words "
        "instead of a number (anonymous, withheld) block every caller who hides their number.",
    )
    note = models.CharField(
        max_length=200, blank=True, help_text="Why, for the next person who reads this."
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name="blocked at")

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "blocked number"

    def __str__(self) -> str:
        return self.number

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.number = normalise_or_keep(self.number, settings.DEFAULT_COUNTRY_CODE)[:64]
        super().save(*args, **kwargs)


__all__ = ["BlockedNumber", "Call", "CallEvent", "Role", "ServerProcess", "Turn"]
