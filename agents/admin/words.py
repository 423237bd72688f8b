"""Settings the way an operator reads them: choices by their labels, notes and tools as lists,
and text compared as the words taken out and put in, in the text."""

from __future__ import annotations

import difflib
import json
import re
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from agents.models import Agent
from agents.notes import NoteKind

# Words and the spaces between them, so the text comes back exactly as it was written.
WORD = re.compile(r"\s+|\S+")


def word_diff(then: str, now: str) -> SafeString:
    """`now` with what `then` had and `now` has not struck through (<del>), and what is new
    marked (<ins>); the rest as it was. Shown inside a pre-wrapped block, so lines stay."""
    before, after = WORD.findall(then), WORD.findall(now)
    parts: list[str] = []
    matcher = difflib.SequenceMatcher(None, before, after)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            parts.append(format_html("{}", "".join(before[i1:i2])))
            continue
        if i2 > i1:
            parts.append(format_html("<del>{}</del>", "".join(before[i1:i2])))
        if j2 > j1:
            parts.append(format_html("<ins>{}</ins>", "".join(after[j1:j2])))
    return format_html_join("", "{}", ((part,) for part in parts))


def _choice(name: str, value: Any) -> str | None:
    try:
        field = Agent._meta.get_field(name)
    except FieldDoesNotExist:
        return None
    choices = dict(getattr(field, "flatchoices", None) or [])
    return str(choices[value]) if value in choices else None


def _note(note: dict[str, Any]) -> str:
    kind = dict(NoteKind.choices).get(note.get("kind", ""), note.get("kind", ""))
    choices = note.get("choices") or []
    said = f"{note.get('name', '')} ({str(kind).lower()}"
    said += f": {', '.join(choices)})" if choices else ")"
    if note.get("description"):
        said += f", “{note['description']}”"
    if note.get("attention_when"):
        said += f", needs attention when {note['attention_when']}"
    return said


def _tool(tool: dict[str, Any]) -> str:
    said = f"{tool.get('name', '')}, asking {tool.get('endpoint') or '(no address)'}"
    if tool.get("timeout_seconds"):
        said += f" (waits {tool['timeout_seconds']} s"
        said += f", signed with {tool['secret_env']})" if tool.get("secret_env") else ")"
    if tool.get("description"):
        said += f": “{tool['description']}”"
    if tool.get("parameters"):
        said += f"; asks for {json.dumps(tool['parameters'], ensure_ascii=False)}"
    return said


def shown(name: str, value: Any) -> SafeString:
    """A setting's value as an operator reads it: a choice by its label, yes or no, the notes
    and tools as lists, long text as it was written."""
    if value is None or value == "" or value == []:
        return format_html('<span class="quiet">{}</span>', "(none)")
    if isinstance(value, bool):
        return format_html("{}", "yes" if value else "no")
    if name == "notes":
        return format_html(
            "<ul>{}</ul>", format_html_join("", "<li>{}</li>", ((_note(n),) for n in value))
        )
    if name == "tools":
        return format_html(
            "<ul>{}</ul>", format_html_join("", "<li>{}</li>", ((_tool(t),) for t in value))
        )
    choice = _choice(name, value)
    if choice is not None:
        return format_html("{}", choice)
    if isinstance(value, (dict, list)):
        return format_html("<code>{}</code>", json.dumps(value))
    return format_html("{}", value)


def compared(name: str, then: Any, now: Any) -> SafeString:
    """How a setting went from `then` to `now`: text as its words struck out and put in,
    lists as what was added and taken away, anything else as before → after."""
    if isinstance(then, str) and isinstance(now, str) and _is_prose(then + now):
        return word_diff(then, now)
    if name in ("notes", "tools") and isinstance(then, list) and isinstance(now, list):
        describe = _note if name == "notes" else _tool
        before = {item.get("name"): describe(item) for item in then}
        after = {item.get("name"): describe(item) for item in now}
        lines = [
            format_html("<del>{}</del>", text)
            for key, text in before.items()
            if after.get(key) != text
        ]
        lines += [
            format_html("<ins>{}</ins>", text)
            for key, text in after.items()
            if before.get(key) != text
        ]
        if not lines:  # the same ones, moved
            return format_html("{}", "the same, in another order")
        return format_html(
            "<ul>{}</ul>", format_html_join("", "<li>{}</li>", ((line,) for line in lines))
        )
    return format_html("{} → {}", shown(name, then), shown(name, now))


def _is_prose(text: str) -> bool:
    return "\n" in text or len(text) > 60
