"""An agent's page: what callers hear first (instructions, greeting, voice, the notes to take),
then the rest folded in groups; the agents list; and the agent's own pages beside it (how its
calls went, publishing, a voice's sample: agents.admin.pages)."""

from __future__ import annotations

from typing import Any, Protocol, cast

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db import models, transaction
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from agents import starters
from agents.admin import pages
from agents.admin.common import (
    ONLY_DESTINATIONS,
    ONLY_PUBLISHERS,
    lock,
    log_destinations,
    ms,
    published_text,
    seconds,
)
from agents.admin.inlines import NoteInline, RevisionInline, ToolInline
from agents.field_groups import FOLDED, NAME_AND_NUMBER, TOOLS, WHAT_CALLERS_HEAR, FieldGroup
from agents.labels import label
from agents.models import (
    DESTINATION_FIELDS,
    LIVE_FIELDS,
    ROUTING_FIELDS,
    Agent,
    NoteField,
    Tool,
    destinations,
    may_change_destinations,
    may_publish,
    one_revision,
)
from calls import agent_stats as stats
from streaming.ground.numbers import search_form

# The page's groups are the model's (agents.field_groups), in that order: the first is what most
# edits touch, and is open; the others are folded until someone opens them. Beside some fields
# the page shows something of its own: the voice's sample, and whether a secret is set.
HEAR = WHAT_CALLERS_HEAR.title
THE_AGENT = NAME_AND_NUMBER.title
BESIDE = {
    "signing_secret_env": "signing_secret_status",
    "webhook_secret_env": "webhook_secret_status",
}


def _shown(group: FieldGroup, hear_voice: bool = False) -> tuple[Any, ...]:
    """A group's fields as the page lays them out."""
    shown: list[Any] = []
    for name in group.fields:
        shown.append(("voice", "hear_voice") if name == "voice" and hear_voice else name)
        if name in BESIDE:
            shown.append(BESIDE[name])
    return tuple(shown)


# Marks on the request while a Save is handled (see changeform_view).
QUIET, SAVED, BEFORE = "_agent_page_quiet", "_agent_page_saved", "_agent_page_before"
# Which list goes under which group (the others follow the groups).
INLINE_AFTER = {NoteField: HEAR, Tool: TOOLS.title}


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
    search_help_text = "Finds agents by name or by number (written any usual way)."
    readonly_fields = (
        "publishing",
        "hear_voice",
        "signing_secret_status",
        "webhook_secret_status",
        "created_at",
        "updated_at",
    )
    inlines = [NoteInline, ToolInline, RevisionInline]
    formfield_overrides = {
        models.TextField: {"widget": forms.Textarea(attrs={"rows": 3, "cols": 90})},
        models.URLField: {"assume_scheme": "https"},
    }

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        hear = ("publishing", *_shown(WHAT_CALLERS_HEAR, self._may_hear(request, obj)))
        first = (HEAR, {"description": WHAT_CALLERS_HEAR.says, "fields": hear})
        the_agent = {"description": NAME_AND_NUMBER.says, "fields": NAME_AND_NUMBER.fields}
        folded = [
            (
                group.title,
                {"description": group.says, "fields": _shown(group), "classes": ("collapse",)},
            )
            for group in FOLDED
        ]
        if obj is None:  # a new agent needs its name and number before anything else
            return [(THE_AGENT, the_agent), first, *folded]
        the_agent = {
            **the_agent,
            "fields": (*NAME_AND_NUMBER.fields, "created_at", "updated_at"),
            "classes": ("collapse",),
        }
        return [first, (THE_AGENT, the_agent), *folded]

    def _may_hear(self, request: HttpRequest, obj: Any) -> bool:
        # A sample is an OpenAI session: for those who may edit this page (and so choose its
        # voice), not for those who only read it.
        if not pages.may_hear_voices(request.user):
            return False
        if obj is None:
            return self.has_add_permission(request)
        return self.has_change_permission(request, obj)

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        form = super().get_form(request, obj, change, **kwargs)
        # The prompt is the heart of the agent: room for it, within the first screen.
        if "instructions" in form.base_fields:
            form.base_fields["instructions"].widget.attrs.update(rows=14, cols=100)
        if "greeting" in form.base_fields:
            form.base_fields["greeting"].widget.attrs.update(rows=2)
        # A new agent answers nobody until published, so its number may be chosen freely.
        if obj is not None and not may_publish(request.user):
            lock(form, ROUTING_FIELDS, ONLY_PUBLISHERS)
        if not may_change_destinations(request.user):
            lock(form, DESTINATION_FIELDS, ONLY_DESTINATIONS)
        return form

    # -- a new agent starts from a template ---------------------------------------------

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        initial = super().get_changeform_initial_data(request)
        starter = starters.chosen(request.GET.get("start"))
        return {**starter.settings, **initial} if starter else initial

    def get_formset_kwargs(
        self, request: HttpRequest, obj: Any, inline: Any, prefix: str
    ) -> dict[str, Any]:
        kwargs = super().get_formset_kwargs(request, obj, inline, prefix)
        starter = starters.chosen(request.GET.get("start"))
        if request.method == "GET" and obj.pk is None and starter and inline.model is NoteField:
            kwargs["initial"] = starter.notes
        return kwargs

    def get_inline_instances(self, request: HttpRequest, obj: Any = None) -> list[Any]:
        instances = super().get_inline_instances(request, obj)
        if obj is None:  # a new agent has no history yet
            instances = [i for i in instances if not isinstance(i, RevisionInline)]
        starter = starters.chosen(request.GET.get("start"))
        for inline in instances:
            # One empty form per note the template lists, filled from `initial` above.
            if isinstance(inline, NoteInline):
                inline.extra = len(starter.notes) if starter and obj is None else 0
        return instances

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Deleting an agent stops its number answering, as unticking “active” does.
        return super().has_delete_permission(request, obj) and may_publish(request.user)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Agent]:
        return (
            super()
            .get_queryset(request)
            .select_related("published_revision")
            .annotate(
                calls_today_count=Count(
                    "calls", filter=Q(calls__started_at__gte=stats.start_of_today())
                )
            )
        )

    # -- the agents list -------------------------------------------------------------------

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

    def get_changelist_instance(self, request: HttpRequest) -> Any:
        # Last week, per agent, computed once for the page.
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
        return seconds(_listed(obj).week.median_duration_s)

    @admin.display(description="median answer time")
    def median_latency(self, obj: Agent) -> str:
        return ms(_listed(obj).week.latency_p50_ms)

    @admin.display(description="ended by (7 days)")
    def endings(self, obj: Agent) -> str:
        return _listed(obj).week.endings_text()

    # -- the agent's page ----------------------------------------------------------------

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
            published_text(published),
        )
        if not waiting:
            return format_html("{} Nothing waits to be published.", said)
        return format_html(
            "{} <strong>Draft not published yet:</strong> {}. Callers keep v{} until someone "
            "who may publish presses Publish (at the top).",
            said,
            ", ".join(label(name) for name in waiting),
            published.number,
        )

    @admin.display(description="")
    def hear_voice(self, obj: Agent) -> str:
        return format_html(
            '<button type="button" class="button" id="hear-voice" data-url="{}" data-voice="{}">'
            'Hear this voice</button> <span id="hear-voice-state" aria-live="polite"></span>'
            '<audio id="hear-voice-audio" preload="none"></audio>',
            reverse("admin:agents_agent_voice_sample"),
            obj.voice,
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
        saving = request.method == "POST"
        # Django's "was changed successfully" would say the change is live: the message below
        # says what callers get instead, once the revision is kept (at the end of the block).
        setattr(request, QUIET, saving)
        # The agent is saved, then each of its tools: one Save is one revision.
        with transaction.atomic(), one_revision(author=request.user):
            response = super().changeform_view(request, object_id, form_url, extra_context)
        setattr(request, QUIET, False)
        saved = getattr(request, SAVED, None)
        before = getattr(request, BEFORE, 0)
        if saving and saved is not None and isinstance(response, HttpResponseRedirect):
            _say_what_callers_get(request, saved, before)
        return response

    def message_user(
        self,
        request: HttpRequest,
        message: Any,
        level: int | str = messages.INFO,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        if getattr(request, QUIET, False) and level == messages.SUCCESS:
            return
        super().message_user(request, message, level, *args, **kwargs)

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
        context["sections"] = _sections(context)
        if agent is None:
            context["starters"] = starters.STARTERS
            context["starter"] = starters.chosen(request.GET.get("start"))
        return super().render_change_form(request, context, *args, **kwargs)

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view
        return [
            path("<int:object_id>/publish/", view(self.publish_view), name="agents_agent_publish"),
            path("<int:object_id>/calls/", view(self.stats_view), name="agents_agent_stats"),
            path("voice-sample/", view(pages.voice_sample), name="agents_agent_voice_sample"),
            *super().get_urls(),
        ]

    def publish_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        return pages.publish(self, request, object_id)

    def stats_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        return pages.how_calls_went(self, request, object_id)

    def save_model(self, request: HttpRequest, obj: Agent, form: Any, change: bool) -> None:
        before = Agent.objects.filter(pk=obj.pk).first() if change else None
        form.destinations_before = destinations(before) if before is not None else {}
        latest = before.current_revision if before is not None else None
        setattr(request, BEFORE, latest.number if latest is not None else 0)
        obj.save(author=request.user)
        setattr(request, SAVED, obj.pk)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)  # the tools are saved here
        log_destinations(request, form.instance, form.destinations_before)


def _say_what_callers_get(request: HttpRequest, pk: int, before: int) -> None:
    """After Save: what callers get now. `before` is the agent's latest version number before
    the save (0 for a new agent)."""
    agent = Agent.objects.select_related("published_revision").get(pk=pk)
    published, latest = agent.published_revision, agent.current_revision
    changed = list(latest.changes) if latest is not None and latest.number > before else []
    at_once = [label(name) for name in changed if name in LIVE_FIELDS]
    drafted = [name for name in changed if name not in LIVE_FIELDS]
    applied = f"Applied at once: {', '.join(at_once)}. " if at_once and before else ""
    if published is None:
        messages.warning(
            request,
            "Saved, not published: this agent takes no calls until "
            "someone who may publish presses Publish on its page.",
        )
    elif not before:
        answers = (
            "its number answers with it from the next call"
            if agent.is_active
            else "it answers no calls until “active” is ticked"
        )
        messages.success(request, f"Saved and published as v{published.number}: {answers}.")
    elif not agent.unpublished_changes():
        messages.success(
            request,
            f"Saved. {applied}Nothing waits to be published: callers get "
            "what you changed from their next call.",
        )
    elif drafted:
        lead = f"Saved. {applied}The rest is a draft" if applied else "Saved as a draft"
        messages.warning(
            request,
            f"{lead}: phone callers still get v{published.number}. Try it with “Talk to this "
            "agent”, then press Publish.",
        )
    else:
        messages.warning(
            request,
            f"Saved. {applied}A draft still waits to be published: phone "
            f"callers get v{published.number} until someone presses Publish.",
        )


def _sections(context: dict[str, Any]) -> list[dict[str, Any]]:
    """The page in order: each group, the lists that belong under it, then the other lists."""
    inlines = list(context.get("inline_admin_formsets") or [])
    placed: list[dict[str, Any]] = []
    for n, fieldset in enumerate(context["adminform"]):
        placed.append({"fieldset": fieldset, "n": n})
        for inline in inlines[:]:
            if INLINE_AFTER.get(inline.opts.model) == fieldset.name:
                placed.append({"inline": inline})
                inlines.remove(inline)
    return placed + [{"inline": inline} for inline in inlines]
