"""The transcript of a call: who spoke when, what was said, and what tools did."""

from __future__ import annotations

import json
from typing import Any

from django.db import models

from streaming.ground.durations import clock


class Role(models.TextChoices):
    CALLER = "caller", "Caller"
    AGENT = "agent", "Agent"
    TOOL = "tool", "Tool"


class Turn(models.Model):
    """One utterance or tool call. Written while the call runs, so a crash keeps what was said.

    Times are milliseconds from when the stream socket opened (the start of the call's audio).
    """

    call = models.ForeignKey("calls.Call", on_delete=models.CASCADE, related_name="turns")
    role = models.CharField(max_length=8, choices=Role.choices)
    item_id = models.CharField(
        max_length=128, help_text="OpenAI's id for this item (or the tool call's id)."
    )
    started_ms = models.PositiveIntegerField(null=True, blank=True)
    ended_ms = models.PositiveIntegerField(null=True, blank=True)
    text = models.TextField(blank=True, help_text="What was said; for an interrupted agent "
                            "turn, only what the caller heard.")  # fmt: skip
    full_text = models.TextField(
        blank=True, help_text="Everything the agent meant to say, when it was interrupted."
    )
    interrupted = models.BooleanField(default=False)
    audio_ms = models.PositiveIntegerField(
        null=True, blank=True, help_text="Agent turns: audio OpenAI produced for it."
    )
    heard_ms = models.PositiveIntegerField(
        null=True, blank=True, help_text="Agent turns: audio the caller heard (cut at barge-in)."
    )
    latency_ms = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Agent turns: from the end of the caller's speech to the first audio sent back.",
    )
    tool_name = models.CharField(max_length=64, blank=True)
    tool_arguments = models.JSONField(null=True, blank=True)
    tool_result = models.JSONField(null=True, blank=True)
    tool_ok = models.BooleanField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = [models.F("started_ms").asc(nulls_last=True), "id"]
        constraints = [
            models.UniqueConstraint(fields=["call", "item_id"], name="unique_turn_item"),
        ]

    def __str__(self) -> str:
        return f"{self.get_role_display()}: {self.text[:60]}"

    # -- as the call's page shows it ---------------------------------------------------------

    @property
    def clock(self) -> str:
        return clock(self.started_ms)

    @property
    def heard_clock(self) -> str:
        return f"{(self.heard_ms or 0) / 1000:.1f} s"

    @property
    def arguments_text(self) -> str:
        return json.dumps(self.tool_arguments, ensure_ascii=False)

    @property
    def result_text(self) -> str:
        return json.dumps(self.tool_result, ensure_ascii=False)

    def update(self, values: dict[str, Any]) -> None:
        """Fold in what the bridge learnt; agent text is cut to what the caller heard."""
        for key, value in values.items():
            if key == "text" and self.role == Role.AGENT:
                self.full_text = value
            elif hasattr(self, key) and value is not None:
                setattr(self, key, value)
        if self.role == Role.AGENT:
            self.text = self.heard_text()

    def heard_text(self) -> str:
        if not self.interrupted or not self.audio_ms or self.heard_ms is None:
            return self.full_text
        return cut_words(self.full_text, self.heard_ms / self.audio_ms)


def cut_words(text: str, fraction: float) -> str:
    """The first `fraction` of `text` by length, ending on a whole word, marked as cut off.

    Speech is close enough to even-paced that the share of audio heard is the share of the
    transcript heard; rounding to whole words avoids half-words the caller did not hear.
    """
    if fraction >= 1:
        return text
    if fraction <= 0 or not text:
        return ""
    words = text.split()
    keep, length, budget = [], 0, fraction * len(text)
    for word in words:
        if length + len(word) / 2 > budget:
            break
        keep.append(word)
        length += len(word) + 1
    return " ".join(keep) + " —" if keep else ""
