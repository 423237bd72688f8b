"""What the agents' pages share: who may change what, and how values are written for people."""

from __future__ import annotations

from typing import Any

from django.contrib.admin.models import CHANGE, LogEntry
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from agents.models import Agent, AgentRevision, destinations
from streaming.ground.durations import clock

# Said under a setting someone may see but not change, in the words of the agent's page.
ONLY_PUBLISHERS = (
    "You cannot change this: it decides at once whether phone callers reach this agent, so "
    "only someone with the permission “Can publish an agent's draft to callers” can."
)
ONLY_DESTINATIONS = (
    "You cannot change this: callers' numbers and what they said are sent here, so only "
    "someone who may read calls and has the permission “Can change where call data is sent” "
    "can."
)


def lock(form: Any, names: tuple[str, ...], why: str) -> None:
    """Shown, but not changeable: a disabled field keeps its saved value whatever is posted."""
    for name in names:
        field = form.base_fields.get(name)
        if field is not None:
            field.disabled = True
            field.help_text = f"{field.help_text} {why}".strip()


def log_destinations(request: HttpRequest, agent: Agent, before: dict[str, str]) -> None:
    """Keep, in the agent's history (its “History” page), who changed where call data goes,
    when, and from what to what; each version keeps it too."""
    after = destinations(agent)
    changed = [
        f"{what}: {before.get(what) or '(none)'} → {after.get(what) or '(none)'}"
        for what in [*before, *(w for w in after if w not in before)]
        if before.get(what) != after.get(what)
    ]
    user_id = request.user.pk
    if changed and user_id is not None:
        LogEntry.objects.log_actions(
            user_id=user_id,
            queryset=[agent],
            action_flag=CHANGE,
            change_message="Where call data is sent: " + "; ".join(changed),
            single_object=True,
        )


def published_text(revision: AgentRevision) -> str:
    if revision.published_at is None:
        return "not published"
    when = timezone.localtime(revision.published_at).strftime("%d %b %Y %H:%M")
    return f"published {when} by {revision.published_by or 'system'}"


def ms(value: int | None) -> str:
    return "—" if value is None else f"{value} ms"


def seconds(value: int | None) -> str:
    return clock(value * 1000 if value is not None else None)


def table(head: tuple[str, ...], rows: list[tuple[Any, ...]]) -> str:
    header = format_html_join("", "<th>{}</th>", ((h,) for h in head)) if any(head) else ""
    body = format_html_join(
        "",
        "<tr>{}</tr>",
        ((format_html_join("", "<td>{}</td>", ((cell,) for cell in row)),) for row in rows),
    )
    return format_html(
        "<table>{}{}</table>", format_html("<tr>{}</tr>", header) if header else "", body
    )
