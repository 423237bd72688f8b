"""After-call tasks and each attempt at them (the call's page lists the attempts)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.db import models
from django.utils import timezone

from agents.models import Agent


class TaskKind(models.TextChoices):
    ANALYSIS = "analysis", "Summary and notes"
    WEBHOOK = "webhook", "End-of-call webhook"


class TaskState(models.TextChoices):
    PENDING = "pending", "Waiting"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Gave up"


# Waits after each failed attempt: quick at first (a blip), then spread over about a day (an
# endpoint down for the night). The last entry repeats.
BACKOFF_S = (10, 30, 120, 600, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600)
MAX_ATTEMPTS = {TaskKind.ANALYSIS: 8, TaskKind.WEBHOOK: 10}


@dataclass(frozen=True)
class Outcome:
    ok: bool
    detail: str = ""
    status_code: int | None = None
    give_up: bool = False  # trying again cannot help


class AfterCallTask(models.Model):
    call = models.ForeignKey("calls.Call", on_delete=models.CASCADE, related_name="tasks")
    kind = models.CharField(max_length=8, choices=TaskKind.choices)
    state = models.CharField(max_length=8, choices=TaskState.choices, default=TaskState.PENDING)
    attempts = models.PositiveIntegerField(default=0, help_text="Since it was last (re)started.")
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    url = models.CharField(
        max_length=500,
        blank=True,
        verbose_name="sent to",
        help_text="End-of-call webhook only: the agent's address when the call was queued. It "
        "is sent there or nowhere: if the agent's address changes meanwhile, it is not sent "
        "(Send again sends it to the new one).",
    )
    destination = models.CharField(
        max_length=300,
        blank=True,
        editable=False,
        help_text="Who an attempt waits on (a webhook's scheme, host and port; empty for the "
        "summary): one attempt at a time each, so one slow receiver holds up no other.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["call", "kind"], name="one_task_per_kind_per_call")
        ]
        indexes = [
            models.Index(fields=["state", "next_attempt_at"]),
            models.Index(fields=["destination", "state"]),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for {self.call_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self._state.adding and self.kind == TaskKind.WEBHOOK and not self.url:
            # Read now rather than from the call's copy of its agent, which may be older.
            self.url = agent_webhook_url(self.call.agent_id)
        self.destination = destination(self.kind, self.url)
        fields = kwargs.get("update_fields")
        if fields is not None and "url" in fields:
            kwargs["update_fields"] = {*fields, "destination"}
        super().save(*args, **kwargs)

    def finish(self, outcome: Outcome, started_at: datetime, duration_ms: int) -> None:
        """Keep the attempt; done, or tried again after the backoff, or given up."""
        self.attempts_made.create(
            started_at=started_at,
            duration_ms=duration_ms,
            ok=outcome.ok,
            status_code=outcome.status_code,
            detail=outcome.detail[:2000],
        )
        self.attempts += 1
        now = timezone.now()
        if outcome.ok:
            self.state, self.done_at, self.last_error = TaskState.DONE, now, ""
        elif outcome.give_up or self.attempts >= MAX_ATTEMPTS[TaskKind(self.kind)]:
            self.state, self.done_at, self.last_error = TaskState.FAILED, now, outcome.detail
        else:
            wait = BACKOFF_S[min(self.attempts - 1, len(BACKOFF_S) - 1)]
            self.state, self.last_error = TaskState.PENDING, outcome.detail
            self.next_attempt_at = now + timedelta(seconds=wait)
        self.claimed_at = None
        self.save()

    def restart(self, url: str = "") -> None:
        """Try again now, with the full number of attempts (an operator's “send again”); a
        webhook to `url`, the agent's address now."""
        self.state, self.attempts, self.next_attempt_at = TaskState.PENDING, 0, timezone.now()
        self.done_at = None
        self.url = url or self.url
        self.save()


def destination(kind: str, url: str) -> str:
    """Who an attempt waits on: a webhook's origin, one spelling for each (`HTTPS://U@Host.:443/x`
    is `https://host:443`), so that an endpoint gets no more turns for being written another
    way; "" for our own summary model, which no operator can slow down."""
    if kind != TaskKind.WEBHOOK or not url:
        return ""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    try:
        port = parts.port or {"https": 443, "http": 80}.get(scheme, 0)
    except ValueError:
        port = 0
    host = (parts.hostname or "").rstrip(".")
    return f"{scheme}://{host}:{port}"[:300]


def agent_webhook_url(agent_id: int | None) -> str:
    """Where an agent sends finished calls, as saved now ("" for none)."""
    if agent_id is None:
        return ""
    found = Agent.objects.filter(pk=agent_id).values_list("webhook_url", flat=True).first()
    return found or ""


class TaskAttempt(models.Model):
    task = models.ForeignKey(AfterCallTask, on_delete=models.CASCADE, related_name="attempts_made")
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField()
    ok = models.BooleanField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    detail = models.TextField(blank=True)

    class Meta:
        ordering = ["started_at", "id"]

    def __str__(self) -> str:
        return f"{self.task} at {self.started_at:%H:%M:%S}: {'ok' if self.ok else 'failed'}"
