"""The home page's figures, for whoever is looking: calls for those who may read calls, the
agents for those who may see agents (calls.home.figures counts them)."""

from __future__ import annotations

from typing import Any

from django import template

from calls.home import figures

register = template.Library()


@register.simple_tag
def operators_home(user: Any) -> dict[str, Any]:
    home: dict[str, Any] = {}
    if user.has_perm("calls.view_call"):
        home["today"], home["week"] = figures.today_and_week()
        home["attention"], home["attention_count"] = figures.needing_attention()
    if user.has_perm("agents.view_agent"):
        home["agents"] = figures.agent_states()
        home["may_publish"] = user.has_perm("agents.publish_agent")
    return home
