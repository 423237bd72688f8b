from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from agents.admin import number_search_terms
from calls.models import Call, CallEvent


class ReadOnlyMixin:
    """Call history is a record of what happened: nobody edits, adds or deletes it."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class CallEventInline(ReadOnlyMixin, admin.TabularInline):
    model = CallEvent
    extra = 0
    fields = ("occurred_at", "received_at", "source", "kind", "event_id", "body")
    readonly_fields = fields
    ordering = ("occurred_at", "id")
    verbose_name_plural = "What Sautikit told us, in order"

    @admin.display(description="payload")
    def body(self, obj: CallEvent) -> str:
        return format_html(
            '<pre style="white-space: pre-wrap; overflow-wrap: anywhere; max-width: 40em">{}</pre>',
            json.dumps(obj.payload, indent=2, ensure_ascii=False),
        )


@admin.register(Call)
class CallAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = (
        "started_at",
        "caller_number",
        "dialled_number",
        "agent",
        "status",
        "direction",
        "duration_display",
        "call_id",
    )
    list_filter = ("status", "direction", "agent", "started_at")
    list_select_related = ("agent",)
    search_fields = ("call_id", "caller_number", "dialled_number")
    date_hierarchy = "started_at"
    inlines = [CallEventInline]
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "call_id",
                    "status",
                    "agent",
                    "agent_revision",
                    "direction",
                    "caller_number",
                    "dialled_number",
                )
            },
        ),
        (
            "Times",
            {"fields": ("started_at", "answered_at", "ended_at", "duration_display")},
        ),
        (
            "How it went",
            {
                "fields": (
                    "session_state",
                    "end_reason",
                    "hangup_cause",
                    "failure_reason",
                    "stream_error",
                    "recordings",
                )
            },
        ),
        (
            "Technical details",
            {
                "classes": ("collapse",),
                "fields": (
                    "stream_sid",
                    "stream_requested_at",
                    "stream_started_at",
                    "stream_stopped_at",
                    "bridge_started_at",
                    "bridge_ended_at",
                    "client_request_id",
                    "metadata",
                    "created_at",
                    "updated_at",
                ),
            },
        ),
    )
    readonly_fields = ("duration_display", "recordings")

    @admin.display(description="duration", ordering="duration_seconds")
    def duration_display(self, obj: Call) -> str:
        return format_duration(obj.duration)

    @admin.display(description="recordings")
    def recordings(self, obj: Call) -> str:
        items = obj.metadata.get("recordings") or []
        if not items:
            return "—"
        return ", ".join(f"{r.get('recording_id')} ({r.get('duration_seconds')} s)" for r in items)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Call], search_term: str
    ) -> tuple[QuerySet[Call], bool]:
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        number = number_search_terms(search_term)
        if number:
            results |= queryset.filter(caller_number=number) | queryset.filter(
                dialled_number=number
            )
        return results, may_have_duplicates


def format_duration(duration: timedelta | None) -> str:
    if duration is None:
        return "—"
    seconds = max(0, int(duration.total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02}:{seconds:02}" if hours else f"{minutes}:{seconds:02}"
