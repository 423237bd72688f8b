"""{{ call.end_reason|ending_in_words }}, {{ attempt.detail|after_call_in_words }}: a Said, for
templates/admin/calls/said.html (the sentence, and its technical text folded under it)."""

from __future__ import annotations

from django import template

from calls import in_words
from calls.in_words import Said

register = template.Library()


@register.filter
def ending_in_words(reason: str) -> Said:
    return in_words.ending(reason)


@register.filter
def after_call_in_words(detail: str) -> Said:
    return in_words.after_call(detail)
