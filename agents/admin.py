from __future__ import annotations

import difflib
import json
from datetime import datetime, time
from typing import Any, Protocol, cast

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.models import CHANGE, LogEntry
from django.core.exceptions import PermissionDenied
from django.db import models, transaction
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from agents.models import (
    DESTINATION_FIELDS,
    ROUTING_FIELDS,
    Agent,
    AgentRevision,
    NoteField,
    Tool,
    destinations,
    may_change_destinations,
    may_publish,
    one_revision,
)
from calls import agent_stats as stats
from voiceproject.lib.durations import clock
from voiceproject.lib.numbers import search_form

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


def _lock(form: Any, names: tuple[str, ...], why: str) -> None:
    """Shown, but not changeable: a disabled field keeps its saved value whatever is posted."""
    for name in names:
        field = form.base_fields.get(name)
        if field is not None:
            field.disabled = True
            field.help_text = f"{field.help_text} {why}".strip()


def start_of_today() -> datetime:
    """Midnight in the operator's time zone, so "today" means their day."""
    return timezone.make_aware(datetime.combine(timezone.localdate(), time.min))


class RevisionInline(admin.TabularInline):
    model = AgentRevision
    extra = 0
    max_num = 0
    can_delete = False
    fields = ("version", "created_at", "author_name", "changed", "published")
    readonly_fields = fields
    ordering = ("-number",)
    verbose_name_plural = "History of changes (newest first)"

    @admin.display(description="version")
    def version(self, obj: AgentRevision) -> str:
        url = reverse("admin:agents_agentrevision_change", args=[obj.pk])
        return format_html('<a href="{}">v{}</a>', url, obj.number)

    @admin.display(description="what changed")
    def changed(self, obj: AgentRevision) -> str:
        restored = f"restored from v{obj.restored_from}: " if obj.restored_from else ""
        return restored + (", ".join(obj.changes) or "—")

    @admin.display(description="published")
    def published(self, obj: AgentRevision) -> str:
        return _published(obj)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# At most this many custom tools and notes on one agent.
MAX_TOOLS = 16
MAX_NOTES = 20


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

    # Every tool's definition goes to OpenAI with each session: a phone agent needs a few, and
    # a crafted form with more forms than this is refused (validate_max), not saved.
    max_num = MAX_TOOLS

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # A new tool is a new address that callers' words are sent to.
        return super().has_add_permission(request, obj) and may_change_destinations(request.user)

    def get_formset(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        # (Django sets max_num to 0 for whoever may not add: existing forms are then theirs to
        # edit, and new ones are refused by the add permission instead.)
        formset = super().get_formset(request, obj, validate_max=bool(self.max_num), **kwargs)
        if not may_change_destinations(request.user):
            _lock(formset.form, ("endpoint",), ONLY_DESTINATIONS)
        return formset

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


class NoteInline(admin.TabularInline):
    model = NoteField
    extra = 0
    max_num = MAX_NOTES  # each note is a field the summary model fills after every call
    fields = ("name", "kind", "choices", "description", "position")
    verbose_name_plural = "Notes to take after each call (optional): shown on each call's page"
    formfield_overrides = {
        models.TextField: {"widget": forms.Textarea(attrs={"rows": 2, "cols": 40})},
    }

    def get_formset(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        return super().get_formset(request, obj, validate_max=bool(self.max_num), **kwargs)


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
        "version",
        "calls_today",
        "calls_week",
        "median_duration",
        "median_latency",
        "endings",
    )
    search_fields = ("name", "phone_number")
    readonly_fields = (
        "publishing",
        "signing_secret_status",
        "webhook_secret_status",
        "created_at",
        "updated_at",
        "how_calls_went",
        "cost_per_day",
    )
    inlines = [ToolInline, NoteInline, RevisionInline]
    formfield_overrides = {
        models.TextField: {"widget": forms.Textarea(attrs={"rows": 4, "cols": 100})},
        models.URLField: {"assume_scheme": "https"},
    }
    fieldsets = (
        (
            None,
            {
                "description": "Name, number, “active”, “most calls at once” and where finished "
                "calls are sent apply as soon as you save, so only someone who may publish "
                "changes the number, “active” and “most calls at once”, and only someone who "
                "may read calls and change where call data is sent changes the addresses it "
                "goes to. Every other change is a draft: you can try it with “Talk to this "
                "agent”, and phone callers get it when someone who may publish presses Publish. "
                "A new agent answers no calls until it is published.",
                "fields": ("name", "phone_number", "is_active", "publishing"),
            },
        ),
        (
            "How its calls went",
            {"fields": ("how_calls_went", "cost_per_day")},
        ),
        (
            "What the agent says",
            {"fields": ("instructions", "greeting", "voice")},
        ),
        (
            "Engine",
            {
                "description": "Realtime (the default) takes turns: the settings under "
                "“Taking turns” and “Hearing and speaking” apply to it. GPT-Live listens while "
                "it speaks and stops by itself when talked over: those settings do not apply, "
                "it costs a flat amount per minute (docs/engines.md), and its tools are run by "
                "a second model that follows the “instructions for tools”.",
                "fields": ("engine", "model", "backend_instructions", "backend_model"),
            },
        ),
        (
            "Taking turns",
            {
                "description": "Realtime engine only (GPT-Live decides this itself). How the "
                "agent knows the caller has finished. The defaults suit most lines.",
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
                "description": "Realtime engine only (GPT-Live decides this itself). How the "
                "agent hears the caller and how it speaks. The defaults suit most lines.",
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
            "After the call",
            {
                "description": "A summary and notes on every call (list the notes below), and "
                "every finished call sent to a system of yours.",
                "fields": (
                    "summarise_calls",
                    "analysis_model",
                    "webhook_url",
                    "webhook_secret_env",
                    "webhook_secret_status",
                ),
            },
        ),
        (
            "Phone line (ask a developer before changing)",
            {
                "classes": ("collapse",),
                "fields": (
                    "track",
                    "sample_rate",
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
        # The prompt is the heart of the agent: give it room (a read-only page has no field).
        if "instructions" in form.base_fields:
            form.base_fields["instructions"].widget.attrs.update(rows=24, cols=100)
        # A new agent answers nobody until published, so its number may be chosen freely.
        if obj is not None and not may_publish(request.user):
            _lock(form, ROUTING_FIELDS, ONLY_PUBLISHERS)
        if not may_change_destinations(request.user):
            _lock(form, DESTINATION_FIELDS, ONLY_DESTINATIONS)
        return form

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Deleting an agent stops its number answering, as unticking “active” does.
        return super().has_delete_permission(request, obj) and may_publish(request.user)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Agent]:
        return (
            super()
            .get_queryset(request)
            .select_related("published_revision")
            .annotate(
                calls_today_count=Count("calls", filter=Q(calls__started_at__gte=start_of_today()))
            )
        )

    @admin.display(description="version callers get")
    def version(self, obj: Agent) -> str:
        published = obj.published_revision
        if published is None:
            return "not published: takes no calls"
        waiting = obj.unpublished_changes()
        return f"v{published.number}" + (" (draft not published)" if waiting else "")

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

    @admin.display(description="version callers get")
    def publishing(self, obj: Agent) -> str:
        if obj.pk is None:
            return (
                "Saved by someone who may publish, the first version goes to callers at once; "
                "otherwise it waits, and the number answers no calls until it is published."
            )
        published = obj.published_revision
        waiting = obj.unpublished_changes()
        if published is None:
            return mark_safe(  # no value from anyone in it
                "<strong>Not published:</strong> this agent takes no calls (callers hear that "
                "it is unavailable) until someone who may publish presses Publish."
            )
        said = format_html(
            '<a href="{}">v{}</a>, {}.',
            reverse("admin:agents_agentrevision_change", args=[published.pk]),
            published.number,
            _published(published),
        )
        if not waiting:
            return format_html("{} Nothing waits to be published.", said)
        return format_html(
            "{} <strong>Draft not published yet:</strong> {}. Press Publish (at the top) to "
            "hand it to callers.",
            said,
            ", ".join(_label(name) for name in waiting),
        )

    @admin.display(description="webhook signing")
    def webhook_secret_status(self, obj: Agent) -> str:
        name = obj.webhook_secret_env or "TOOL_SIGNING_SECRET"
        if not obj.webhook_url:
            return "No webhook address: nothing is sent."
        if obj.webhook_signing_secret():
            return f"Finished calls are signed with {name} (see docs/webhooks.md)."
        return f"Missing: ask your administrator to set {name}. Until then nothing is sent."

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
            response = super().changeform_view(request, object_id, form_url, extra_context)
        if request.method == "POST" and isinstance(response, HttpResponseRedirect):
            self._say_if_draft(request, object_id)
        return response

    def response_add(
        self, request: HttpRequest, obj: Agent, post_url_continue: str | None = None
    ) -> HttpResponse:
        obj.refresh_from_db(fields=["published_revision"])
        if obj.published_revision is None:
            messages.warning(
                request,
                "Saved, not published: this agent takes no calls until someone who may "
                "publish presses Publish on its page.",
            )
        return super().response_add(request, obj, post_url_continue)

    def _say_if_draft(self, request: HttpRequest, object_id: str | None) -> None:
        if object_id is None:
            return  # a new agent: response_add says whether it was published
        agent = Agent.objects.filter(pk=object_id).select_related("published_revision").first()
        if agent is None or agent.published_revision is None or not agent.unpublished_changes():
            return
        messages.warning(
            request,
            f"Saved as a draft: phone callers still get v{agent.published_revision.number}. "
            "Try it with “Talk to this agent”, then press Publish.",
        )

    def render_change_form(
        self, request: HttpRequest, context: dict[str, Any], *args: Any, **kwargs: Any
    ) -> HttpResponse:
        agent = context.get("original")
        context["can_publish"] = (
            agent is not None
            and request.user.has_perm("agents.publish_agent")
            and bool(agent.unpublished_changes())
        )
        context["can_talk"] = request.user.has_perm("agents.talk_to_agent")
        return super().render_change_form(request, context, *args, **kwargs)

    def get_urls(self) -> list[Any]:
        publish = self.admin_site.admin_view(require_POST(self.publish_view))
        return [
            path("<int:object_id>/publish/", publish, name="agents_agent_publish"),
            *super().get_urls(),
        ]

    def publish_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        if not request.user.has_perm("agents.publish_agent"):
            raise PermissionDenied("Publishing needs the “Can publish” permission.")
        agent = get_object_or_404(Agent, pk=object_id)
        revision = agent.publish(request.user)
        if revision is None:
            messages.info(request, "Nothing to publish: callers already get the latest version.")
        else:
            messages.success(request, f"Published v{revision.number}: the next call uses it.")
        return HttpResponseRedirect(reverse("admin:agents_agent_change", args=[agent.pk]))

    def save_model(self, request: HttpRequest, obj: Agent, form: Any, change: bool) -> None:
        before = Agent.objects.filter(pk=obj.pk).first() if change else None
        form.destinations_before = destinations(before) if before is not None else {}
        obj.save(author=request.user)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)  # the tools are saved here
        log_destinations(request, form.instance, form.destinations_before)


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
        "restored_from",
        "published",
        "changes_table",
        "compared_with_now",
        "settings_table",
    )
    readonly_fields = fields
    date_hierarchy = "created_at"

    @admin.display(description="what changed")
    def changed_fields(self, obj: AgentRevision) -> str:
        return ", ".join(obj.changes) or "—"

    @admin.display(description="published")
    def published(self, obj: AgentRevision) -> str:
        current = obj.agent.published_revision_id == obj.pk
        return _published(obj) + (" Callers get this version now." if current else "")

    def render_change_form(
        self, request: HttpRequest, context: dict[str, Any], *args: Any, **kwargs: Any
    ) -> HttpResponse:
        revision = context.get("original")
        may_restore = request.user.has_perm("agents.change_agent")
        blocked = revision is not None and _restore_needs_destinations(request, revision)
        context["restore_blocked"] = may_restore and blocked
        context["can_restore"] = may_restore and not blocked
        context["can_publish"] = may_publish(request.user)
        return super().render_change_form(request, context, *args, **kwargs)

    def get_urls(self) -> list[Any]:
        restore = self.admin_site.admin_view(require_POST(self.restore_view))
        return [
            path("<int:object_id>/restore/", restore, name="agents_agentrevision_restore"),
            *super().get_urls(),
        ]

    def restore_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        """Bring this version back as the draft; with publish=1, hand it to callers at once."""
        publish = request.POST.get("publish") == "1"
        if not request.user.has_perm("agents.change_agent"):
            raise PermissionDenied("Restoring needs the permission to change agents.")
        if publish and not request.user.has_perm("agents.publish_agent"):
            raise PermissionDenied("Publishing needs the “Can publish” permission.")
        revision = get_object_or_404(AgentRevision.objects.select_related("agent"), pk=object_id)
        if _restore_needs_destinations(request, revision):
            raise PermissionDenied(
                "This version's custom tools send to addresses the agent does not use now: "
                "restoring it needs the permission to change where call data is sent."
            )
        agent = revision.agent
        before = destinations(agent)
        restored = agent.restore(revision, request.user)
        log_destinations(request, agent, before)
        said = (
            f"The draft is v{revision.number} again (saved as v{restored.number})."
            if restored
            else f"The draft already was as v{revision.number} left it."
        )
        if publish:
            agent.publish(request.user)
            messages.success(request, f"{said} Published: the next call uses it.")
        else:
            messages.success(request, f"{said} Press Publish to hand it to callers.")
        return HttpResponseRedirect(reverse("admin:agents_agent_change", args=[agent.pk]))

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


def _restore_needs_destinations(request: HttpRequest, revision: AgentRevision) -> bool:
    """Whether restoring `revision` would send callers' words to an address the agent's tools
    do not use now (an old version, or a draft never published, may hold any)."""
    if may_change_destinations(request.user):
        return False
    now = {tool.name: tool.endpoint for tool in revision.agent.tools.all()}
    return any(now.get(t["name"]) != t.get("endpoint") for t in revision.value("tools") or [])


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


def _published(revision: AgentRevision) -> str:
    if revision.published_at is None:
        return "not published"
    when = timezone.localtime(revision.published_at).strftime("%d %b %Y %H:%M")
    return f"published {when} by {revision.published_by or 'system'}"


def _label(name: str) -> str:
    """A setting's name as the agent's page shows it."""
    if name == "tools":
        return "custom tools"
    field = Agent._meta.get_field(name)
    return str(field.verbose_name) if isinstance(field, models.Field) else name


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
