"""A version of an agent: what changed, how it differs from the agent now, restoring it."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.views.decorators.http import require_POST

from agents.admin.common import log_destinations, published_text
from agents.admin.words import compared, shown
from agents.labels import label
from agents.models import AgentRevision, destinations, may_change_destinations, may_publish


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
        return published_text(obj) + (" Callers get this version now." if current else "")

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

    @admin.display(description="what this version changed")
    def changes_table(self, obj: AgentRevision) -> str:
        if not obj.changes:
            return "—"
        rows = [
            (name, compared(name, c.get("from"), c.get("to"))) for name, c in obj.changes.items()
        ]
        return _settings(("setting", "before → this version"), rows)

    @admin.display(description="compared with the agent now")
    def compared_with_now(self, obj: AgentRevision) -> str:
        differences = obj.differences_from_now()
        if not differences:
            return "The agent is as this version left it."
        rows = [(name, compared(name, then, now)) for name, (then, now) in differences.items()]
        return _settings(("setting", "this version → the agent now"), rows)

    @admin.display(description="all settings in this version")
    def settings_table(self, obj: AgentRevision) -> str:
        rows = [(name, shown(name, value)) for name, value in obj.snapshot.items()]
        return _settings(("setting", "in this version"), rows)

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


def _settings(head: tuple[str, str], rows: list[tuple[str, Any]]) -> str:
    """Settings by the names the agent's page gives them, each value wrapped as text is."""
    body = format_html_join(
        "",
        '<tr><th scope="row">{}</th><td><div class="prose">{}</div></td></tr>',
        ((label(name), value) for name, value in rows),
    )
    return format_html(
        '<table class="settings"><thead><tr><th scope="col">{}</th><th scope="col">{}</th>'
        "</tr></thead><tbody>{}</tbody></table>",
        *head,
        body,
    )
