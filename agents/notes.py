"""What to note after every call: fields an operator lists per agent, filled in from the
transcript by a text model once the call is over (calls.aftercall.analysis)."""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models

from agents.versioned import PartOfAgent

NAME = re.compile(r"^[\w][\w '?()/-]{0,47}\Z")
MAX_CHOICES = 20


class NoteKind(models.TextChoices):
    TEXT = "text", "Text"
    YES_NO = "yes_no", "Yes or no"
    NUMBER = "number", "Number"
    CHOICE = "choice", "One of a list"


def validate_note_name(value: str) -> None:
    if not NAME.match(value):
        raise ValidationError(
            "Up to 48 letters, digits, spaces and ' ? ( ) / -, e.g. “caller's name” or "
            "“appointment booked?”."
        )


def choices_of(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


class NoteField(PartOfAgent):
    agent = models.ForeignKey("agents.Agent", on_delete=models.CASCADE, related_name="notes")
    name = models.CharField(
        max_length=48,
        validators=[validate_note_name],
        help_text="What to note, as the call list's column shows it, e.g. “caller's name”, "
        "“appointment booked?”, “reason for calling”.",
    )
    kind = models.CharField(
        max_length=8,
        choices=NoteKind.choices,
        default=NoteKind.TEXT,
        help_text="Yes/no and “one of a list” can be filtered on in the call list.",
    )
    choices = models.TextField(
        blank=True,
        help_text="Only for “one of a list”: the possible answers, one per line, e.g. "
        "“booking”, “cancellation”, “question”, “other”.",
    )
    description = models.TextField(
        blank=True,
        max_length=500,
        help_text="For the model that reads the transcript: what exactly to note, e.g. “The "
        "name the caller gave, as they said it”. Left empty when the call did not say.",
    )
    attention_when = models.CharField(
        max_length=100,
        blank=True,
        verbose_name="needs attention when",
        help_text="Optional. The answer that puts a call under “needs attention” on the home "
        "page: “yes” or “no” for a yes-or-no note, one of the answers for “one of a list”, e.g. "
        "“no” for “caller satisfied?”.",
    )
    position = models.PositiveSmallIntegerField(
        default=0, help_text="Order on the call's page: smaller first."
    )

    class Meta:
        ordering = ["position", "id"]
        verbose_name = "note to take after each call"
        constraints = [
            models.UniqueConstraint(fields=["agent", "name"], name="unique_note_name_per_agent")
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        options = choices_of(self.choices)
        if self.kind == NoteKind.CHOICE and not 2 <= len(options) <= MAX_CHOICES:
            raise ValidationError({"choices": f"List 2 to {MAX_CHOICES} answers, one per line."})
        if self.kind != NoteKind.CHOICE and options:
            raise ValidationError({"choices": "Only “one of a list” has answers to list."})
        if len(set(options)) != len(options):
            raise ValidationError({"choices": "Each answer once."})
        self.attention_when = self.attention_when.strip()
        if self.attention_when and self.attention_when not in attention_answers(self.kind, options):
            allowed = " or ".join(f"“{a}”" for a in attention_answers(self.kind, options))
            raise ValidationError(
                {
                    "attention_when": f"One of its answers: {allowed}."
                    if allowed
                    else "Only for yes-or-no and “one of a list” notes."
                }
            )

    def snapshot(self) -> dict[str, Any]:
        kept = {
            "name": self.name,
            "kind": self.kind,
            "choices": choices_of(self.choices),
            "description": self.description,
        }
        # Only when set, so versions kept before it existed still read as the same notes.
        if self.attention_when:
            kept["attention_when"] = self.attention_when
        return kept


def attention_answers(kind: str, options: list[str]) -> list[str]:
    """The answers a note may flag a call on."""
    if kind == NoteKind.YES_NO:
        return ["yes", "no"]
    return options if kind == NoteKind.CHOICE else []


def attention_value(note: dict[str, Any]) -> Any:
    """The answer (as a call's notes store it) that flags a call for `note`, as a version
    keeps it; None when it flags nothing."""
    flag = note.get("attention_when")
    if not flag:
        return None
    return flag == "yes" if note.get("kind") == NoteKind.YES_NO else flag


def needs_attention(note: dict[str, Any], value: Any) -> bool:
    """Whether a call's answer to `note` (as a version keeps it) is the one it flags."""
    flagged = attention_value(note)
    if flagged is None or value is None:
        return False
    # A yes-or-no answer is stored as true or false: 1 is not "yes".
    return isinstance(value, bool) == isinstance(flagged, bool) and value == flagged
