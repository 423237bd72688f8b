"""The lists inside an agent's page: the notes to take, its custom tools, its versions."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db import models
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from agents.admin.common import ONLY_DESTINATIONS, lock, published_text
from agents.labels import label
from agents.models import AgentRevision, NoteField, Tool, may_change_destinations

# At most this many custom tools and notes on one agent.
MAX_TOOLS = 16
MAX_NOTES = 20


class NoteInline(admin.TabularInline):
    model = NoteField
    extra = 0
    max_num = MAX_NOTES  # each note is a field the summary model fills after every call
    fields = ("name", "kind", "choices", "description", "attention_when", "position")
    verbose_name_plural = "Notes to take after each call (optional): shown on each call's page"
    formfield_overrides = {
        # Narrow enough that the table fits beside the admin's menu at 1366 px.
        models.CharField: {"widget": forms.TextInput(attrs={"size": 16})},
        models.TextField: {"widget": forms.Textarea(attrs={"rows": 2, "cols": 24})},
        models.PositiveSmallIntegerField: {
            "widget": forms.NumberInput(attrs={"style": "width: 4em"})
        },
    }

    def get_formset(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        return super().get_formset(request, obj, validate_max=bool(self.max_num), **kwargs)


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
    classes = ("collapse",)
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
            lock(formset.form, ("endpoint",), ONLY_DESTINATIONS)
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


class RevisionInline(admin.TabularInline):
    model = AgentRevision
    extra = 0
    max_num = 0
    can_delete = False
    fields = ("version", "created_at", "author_name", "changed", "published")
    readonly_fields = fields
    ordering = ("-number",)
    verbose_name_plural = "History of changes (newest first)"
    classes = ("collapse",)

    @admin.display(description="version")
    def version(self, obj: AgentRevision) -> str:
        url = reverse("admin:agents_agentrevision_change", args=[obj.pk])
        return format_html('<a href="{}">v{}</a>', url, obj.number)

    @admin.display(description="what changed")
    def changed(self, obj: AgentRevision) -> str:
        restored = f"restored from v{obj.restored_from}: " if obj.restored_from else ""
        return restored + (", ".join(label(name) for name in obj.changes) or "—")

    @admin.display(description="published")
    def published(self, obj: AgentRevision) -> str:
        return published_text(obj)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
