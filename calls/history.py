"""The call list as a manager uses it: transcripts searched, and the list as it is filtered
downloaded as CSV."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from typing import Any

from django.contrib.postgres.search import SearchQuery, SearchVector
from django.db import connection
from django.db.models import Q, QuerySet
from django.utils import timezone

from calls import in_words
from calls.models import Call, Turn

# Callers speak many languages (Swahili has no PostgreSQL dictionary): words are matched as they
# are written, without stemming.
SEARCH_CONFIG = "simple"
CSV_COLUMNS = (
    "call id",
    "started",
    "caller",
    "dialled",
    "agent",
    "status",
    "duration (s)",
    "ended by",
    "how it ended",
    "end reason (technical)",
    "answer time median (ms)",
    "cost (KES)",
    "OpenAI (USD)",
    "Sautikit (KES)",
    "summary",
    "notes",
)
# A cell a spreadsheet would run as a formula: anyone can put these in a webhook's fields.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# ... except a plain number, signed or not (+254712345678, -3.5): a spreadsheet reads it as the
# number it is, and nothing in it can run.
PLAIN_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?")


def said(term: str) -> QuerySet[Turn]:
    """Transcript turns containing `term`: full-text on PostgreSQL, a plain match elsewhere."""
    if connection.vendor == "postgresql":
        return Turn.objects.annotate(words=SearchVector("text", config=SEARCH_CONFIG)).filter(
            words=SearchQuery(term, config=SEARCH_CONFIG, search_type="websearch")
        )
    return Turn.objects.filter(text__icontains=term)


def calls_saying(calls: QuerySet[Call], term: str) -> QuerySet[Call]:
    """Calls whose transcript has `term`, or whose summary or notes do (a plain match)."""
    written = Q(summary__icontains=term) | Q(notes__icontains=term)
    return calls.filter(Q(pk__in=said(term).values("call_id")) | written)


def csv_rows(calls: Iterable[Call]) -> Iterator[list[str]]:
    yield list(CSV_COLUMNS)
    for call in calls:
        started = timezone.localtime(call.started_at).strftime("%Y-%m-%d %H:%M:%S")
        median_ms, _ = call.latency_summary()  # from the prefetched turns
        cost = call.cost
        row: list[Any] = [
            call.call_id,
            started,
            call.caller_number,
            call.dialled_number,
            call.agent.name if call.agent else "",
            call.get_status_display(),
            call.billed_seconds,
            call.get_ended_by_display() if call.ended_by else "",
            in_words.ending(call.end_reason).words,
            call.end_reason,
            "" if median_ms is None else median_ms,
            cost.total_kes,
            cost.openai_usd,
            cost.sautikit_kes,
            call.summary,
            notes_text(call.ordered_notes()),
        ]
        yield [_cell(value) for value in row]


def notes_text(notes: list[tuple[str, Any]]) -> str:
    """A call's notes on one line, as the list and the CSV show them."""
    return "; ".join(f"{name}: {note_text(value)}" for name, value in notes)


def note_text(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _cell(value: Any) -> str:
    text = str(value)
    if text.startswith(FORMULA_START) and not PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


class _Echo:
    """A file whose write returns what it was given: csv.writer then yields each line."""

    def write(self, value: str) -> str:
        return value


def csv_lines(calls: QuerySet[Call]) -> Iterator[str]:
    """The calls as CSV, a line at a time: a long history is never held in memory whole."""
    writer = csv.writer(_Echo())
    related = calls.select_related("agent", "agent_revision").prefetch_related("turns")
    for row in csv_rows(related.iterator(chunk_size=500)):
        yield writer.writerow(row)
