from __future__ import annotations

import difflib
import json
from datetime import datetime, time
from typing import Any, Protocol, cast

from django import forms
from django.conf import settings
from django.contrib import admin
from django.db import models, transaction
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from agents.models import Agent, AgentRevision, Tool, one_revision
from calls import agent_stats as stats
from voiceproject.lib.durations import clock
from voiceproject.lib.numbers import search_form


def start_of_today() -> datetime:
    """Midnight in the operator's time zone, so "today" means their day."""
    return timezone.make_aware(datetime.combine(timezone.localdate(), time.min))


class RevisionInline(admin.TabularInline):
    model = AgentRevision
    extra = 0
    max_num = 0
    can_delete = False
    fields = ("version", "created_at", "author_name", "changed")
    readonly_fields = fields
    ordering = ("-number",)
    verbose_name_plural = "History of changes (newest first)"

    @admin.display(description="version")
    def version(self, obj: AgentRevision) -> str:
        url = reverse("admin:agents_agentrevision_change", args=[obj.pk])
        return format_html('<a href="{}">v{}</a>', url, obj.number)

    @admin.display(description="what changed")
    def changed(self, obj: AgentRevision) -> str:
        return ", ".join(obj.changes) or "—"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ToolInline(admin.StackedInline):
    model = Tool
    extra = 0
    fields = (
        "name",
        "description",
        "parameters",
        "endpoint",
        "timeout_seconds",
        "secret_env",
        "secret_status",
        "is_enabled",
    )
    readonly_fields = ("secret_status",)
    verbose_name = "custom tool"
    verbose_name_plural = (
        "Custom tools: actions the agent can take by asking another system (optional)"
    )
    formfield_overrides = {
        models.TextField: {"widget": forms.Textarea(attrs={"rows": 3, "cols": 80})},
        models.JSONField: {"widget": forms.Textarea(attrs={"rows": 6, "cols": 80})},
        models.URLField: {"assume_scheme": "https"},
    }

    @admin.display(description="signing secret")
    def secret_status(self, obj: Tool) -> str:
        if obj.secret_env:
            how, name = f"with {obj.secret_env}", obj.secret_env
        else:
            how, name = (
                "with this tool's own key, derived from TOOL_SIGNING_SECRET",
                ("TOOL_SIGNING_SECRET"),
            )
        if obj.pk is None:
            return f"Requests will be signed {how}."
        if obj.signing_secret():
            return f"Requests are signed {how}."
        return f"Missing: ask your administrator to set {name}. Until then the tool fails."


class _Listed(Protocol):
    """An agent as the list shows it: its calls today (annotated by the query) and last week
    (added for the page)."""

    calls_today_count: int
    week: stats.Week


def _listed(agent: Agent) -> _Listed:
    return cast(_Listed, agent)


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "phone_number",
        "is_active",
        "calls_today",
        "calls_week",
        "median_duration",
        "median_latency",
        "endings",
    )
    search_fields = ("name", "phone_number")
    readonly_fields = (
        "signing_secret_status",
        "created_at",
        "updated_at",
        "how_calls_went",
        "cost_per_day",
    )
    inlines = [ToolInline, RevisionInline]
    formfield_overrides = {
        models.TextField: {"widget": forms.Textarea(attrs={"rows": 4, "cols": 100})},
    }
    fieldsets = (
        (None, {"fields": ("name", "phone_number", "is_active")}),
        (
            "How its calls went",
            {"fields": ("how_calls_went", "cost_per_day")},
        ),
        (
            "What the agent says",
            {"fields": ("instructions", "greeting", "voice")},
        ),
        (
            "Taking turns",
            {
                "description": "How the agent knows the caller has finished. The defaults suit "
                "most lines.",
                "fields": (
                    "turn_detection",
                    "vad_threshold",
                    "vad_prefix_padding_ms",
                    "vad_silence_duration_ms",
                    "eagerness",
                    "idle_nudge_seconds",
                ),
            },
        ),
        (
            "Hearing and speaking",
            {
                "description": "How the agent hears the caller and how it speaks. The defaults "
                "suit most lines.",
                "fields": (
                    "noise_reduction",
                    "transcription_language",
                    "transcription_prompt",
                    "speaking_speed",
                    "longest_answer_seconds",
                ),
            },
        ),
        (
            "Ending and handing over",
            {"fields": ("end_call_enabled", "transfer_number", "fallback_number")},
        ),
        (
            "Call limits",
            {"fields": ("max_call_minutes", "silence_timeout_seconds", "max_live_calls")},
        ),
        ("Recording", {"fields": ("record_calls",)}),
        (
            "Phone line (ask a developer before changing)",
            {
                "classes": ("collapse",),
                "fields": (
                    "track",
                    "sample_rate",
                    "model",
                    "signing_secret_env",
                ),
            },
        ),
        (None, {"fields": ("signing_secret_status", "created_at", "updated_at")}),
    )

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        form = super().get_form(request, obj, change, **kwargs)
        # The prompt is the heart of the agent: give it room.
        form.base_fields["instructions"].widget.attrs.update(rows=24, cols=100)
        return form

    def get_queryset(self, request: HttpRequest) -> QuerySet[Agent]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                calls_today_count=Count("calls", filter=Q(calls__started_at__gte=start_of_today()))
            )
        )

    @admin.display(description="calls today", ordering="calls_today_count")
    def calls_today(self, obj: Agent) -> int:
        return _listed(obj).calls_today_count

    # -- last week, per agent, for the list: computed once for the page ----------------------

    def get_changelist_instance(self, request: HttpRequest) -> Any:
        changelist = super().get_changelist_instance(request)
        weeks = stats.last_week([agent.pk for agent in changelist.result_list])
        for agent in changelist.result_list:
            _listed(agent).week = weeks.get(agent.pk) or stats.Week()
        return changelist

    @admin.display(description="calls (7 days)")
    def calls_week(self, obj: Agent) -> str:
        url = reverse("admin:calls_call_changelist") + f"?agent__id__exact={obj.pk}"
        return format_html('<a href="{}">{}</a>', url, _listed(obj).week.calls)

    @admin.display(description="median length")
    def median_duration(self, obj: Agent) -> str:
        return _seconds(_listed(obj).week.median_duration_s)

    @admin.display(description="median answer time")
    def median_latency(self, obj: Agent) -> str:
        return _ms(_listed(obj).week.latency_p50_ms)

    @admin.display(description="ended by (7 days)")
    def endings(self, obj: Agent) -> str:
        return _listed(obj).week.endings_text()

    # -- the agent's own page ------------------------------------------------------------

    @admin.display(description="last 7 days")
    def how_calls_went(self, obj: Agent) -> str:
        if obj.pk is None:
            return "No calls yet."
        week = stats.last_week([obj.pk]).get(obj.pk) or stats.Week()
        rows = [
            ("calls", week.calls),
            ("median length", _seconds(week.median_duration_s)),
            ("answer time, typical (p50)", _ms(week.latency_p50_ms)),
            ("answer time, slowest 1 in 20 (p95)", _ms(week.latency_p95_ms)),
            ("ended by", week.endings_text()),
        ]
        return _table(("", ""), rows)

    @admin.display(description="cost per day (last 14 days)")
    def cost_per_day(self, obj: Agent) -> str:
        days = stats.per_day(obj.pk) if obj.pk else []
        if not days:
            return "No calls in the last 14 days."
        rows = [
            (
                d.day.strftime("%a %d %b"),
                d.calls,
                d.minutes,
                f"{d.cost.openai_usd:.4f}",
                f"{d.cost.sautikit_kes:.2f}",
                f"{d.cost.total_kes:.2f}",
            )
            for d in days
        ]
        head = ("day", "calls", "minutes", "OpenAI (USD)", "Sautikit (KES)", "total (KES)")
        return _table(head, rows)

    @admin.display(description="own signing secret")
    def signing_secret_status(self, obj: Agent) -> str:
        if not obj.signing_secret_env:
            return "Not used: the workspace secret applies."
        if obj.signing_secret():
            return f"Set in the server's settings ({obj.signing_secret_env})."
        return f"Missing: ask your administrator to set {obj.signing_secret_env}."

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Agent], search_term: str
    ) -> tuple[QuerySet[Agent], bool]:
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        number = search_form(search_term, settings.DEFAULT_COUNTRY_CODE)
        if number:
            results |= queryset.filter(phone_number=number)
        return results, may_have_duplicates

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        # The agent is saved, then each of its tools: one Save is one revision.
        with transaction.atomic(), one_revision(author=request.user):
            return super().changeform_view(request, object_id, form_url, extra_context)

    def save_model(self, request: HttpRequest, obj: Agent, form: Any, change: bool) -> None:
        obj.save(author=request.user)


@admin.register(AgentRevision)
class AgentRevisionAdmin(admin.ModelAdmin):
    list_display = ("agent", "number", "created_at", "author_name", "changed_fields")
    list_filter = ("agent",)
    search_fields = ("agent__name", "agent__phone_number", "author_name")
    fields = (
        "agent",
        "number",
        "created_at",
        "author_name",
        "changes_table",
        "compared_with_now",
        "settings_table",
    )
    readonly_fields = fields
    date_hierarchy = "created_at"

    @admin.display(description="what changed")
    def changed_fields(self, obj: AgentRevision) -> str:
        return ", ".join(obj.changes) or "—"

    @admin.display(description="changes")
    def changes_table(self, obj: AgentRevision) -> str:
        if not obj.changes:
            return "—"
        rows = format_html_join(
            "",
            "<tr><th>{}</th><td><pre>{}</pre></td><td><pre>{}</pre></td></tr>",
            ((name, _show(c.get("from")), _show(c.get("to"))) for name, c in obj.changes.items()),
        )
        return format_html(
            "<table><tr><th>setting</th><th>before</th><th>after</th></tr>{}</table>", rows
        )

    @admin.display(description="compared with the agent now")
    def compared_with_now(self, obj: AgentRevision) -> str:
        differences = obj.differences_from_now()
        if not differences:
            return "The agent is as this version left it."
        rows = format_html_join(
            "",
            "<tr><th>{}</th><td><pre>{}</pre></td></tr>",
            ((name, _difference(then, now)) for name, (then, now) in differences.items()),
        )
        return format_html(
            "<table><tr><th>setting</th><th>this version → now (- this version, + now)</th></tr>"
            "{}</table>",
            rows,
        )

    @admin.display(description="all settings in this version")
    def settings_table(self, obj: AgentRevision) -> str:
        rows = format_html_join(
            "",
            "<tr><th>{}</th><td><pre>{}</pre></td></tr>",
            ((name, _show(value)) for name, value in obj.snapshot.items()),
        )
        return format_html("<table>{}</table>", rows)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _ms(value: int | None) -> str:
    return "—" if value is None else f"{value} ms"


def _seconds(value: int | None) -> str:
    return clock(value * 1000 if value is not None else None)


def _table(head: tuple[str, ...], rows: list[tuple[Any, ...]]) -> str:
    header = format_html_join("", "<th>{}</th>", ((h,) for h in head)) if any(head) else ""
    body = format_html_join(
        "",
        "<tr>{}</tr>",
        ((format_html_join("", "<td>{}</td>", ((cell,) for cell in row)),) for row in rows),
    )
    return format_html(
        "<table>{}{}</table>", format_html("<tr>{}</tr>", header) if header else "", body
    )


def _difference(then: Any, now: Any) -> str:
    """Text that spans lines as a line-by-line diff; anything else as before → after."""
    if isinstance(then, str) and isinstance(now, str) and "\n" in then + now:
        lines = difflib.unified_diff(then.splitlines(), now.splitlines(), lineterm="", n=1)
        return "\n".join(list(lines)[2:])  # without the ---/+++ header
    return f"{_show(then)} → {_show(now)}"


def _show(value: Any) -> str:
    if value is None:
        return "—"
    return value if isinstance(value, str) else json.dumps(value)
