"""“Talk to this agent”: a staff member's browser calls an agent through the same bridge a
phone call uses (streaming.browser_consumer), with no phone line and no Sautikit.

The page asks to start; the answer is a one-use socket URL (a signed token for that call, valid
for streaming.tokens.BROWSER_TOKEN_MAX_AGE seconds, and the bridge opens once per call) that
only the same logged-in user can open. The call is stored like any other, as a test from the
browser.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from agents.models import Agent, AgentRevision
from calls import limits
from calls.models import Call, Direction, Source
from streaming.tokens import BROWSER_SALT, make_token

PERMISSION = "agents.talk_to_agent"
VERSIONS = ("draft", "published")


def _allowed(request: HttpRequest) -> None:
    if not request.user.has_perm(PERMISSION):
        raise PermissionDenied("Talking to agents needs the “Can talk to an agent” permission.")


def socket_path(call_id: str) -> str:
    return f"/talk/call/{call_id}/socket/"


@staff_member_required
@require_GET
def page(request: HttpRequest, agent_id: int) -> HttpResponse:
    _allowed(request)
    agent = get_object_or_404(Agent.objects.select_related("published_revision"), pk=agent_id)
    draft = agent.current_revision
    context = {
        **admin.site.each_context(request),
        "title": f"Talk to {agent.name}",
        "agent": agent,
        "opts": Agent._meta,
        "draft": draft,
        "published": agent.published_revision,
        "draft_differs": bool(agent.unpublished_changes()),
    }
    return render(request, "admin/agents/agent/talk.html", context)


@staff_member_required
@require_POST
def start(request: HttpRequest, agent_id: int) -> HttpResponse:
    _allowed(request)
    agent = get_object_or_404(Agent, pk=agent_id)
    version = request.POST.get("version", "published")
    if version not in VERSIONS:
        return JsonResponse({"error": "version must be draft or published"}, status=400)
    revision = agent.current_revision if version == "draft" else agent.published_revision
    if revision is None:
        return JsonResponse({"error": "this agent has no version to talk to yet"}, status=409)
    call, refused = _new_call(request, agent, revision, version)
    if refused:
        return JsonResponse({"error": refused}, status=429)
    return JsonResponse(
        {
            "call_id": call.call_id,
            "socket": f"{socket_path(call.call_id)}?token={make_token(call.call_id, BROWSER_SALT)}",
            "sample_rate": revision.value("sample_rate"),
            "version": revision.number,
            "call_page": reverse("admin:calls_call_change", args=[call.pk]),
            "status": reverse("talk:status", args=[call.call_id]),
        }
    )


def _new_call(
    request: HttpRequest, agent: Agent, revision: AgentRevision, version: str
) -> tuple[Call, str]:
    """The test call, stored before its socket opens; and why it may not start, if so."""
    user = request.user
    who: dict[str, Any] = {"user": user.get_username(), "user_id": user.pk, "version": version}
    call = Call(
        call_id=f"browser-{uuid.uuid4().hex}",
        direction=Direction.BROWSER,
        # The limits per caller apply per staff member.
        caller_number=f"browser:{user.get_username()}"[:64],
        dialled_number=agent.phone_number,
        metadata={"browser": who},
    )
    with transaction.atomic():
        call.agent, call.agent_revision = agent, revision
        call.save()
        limits.serialise(call.caller_number, agent)
        refused = limits.refusal(call, agent, timezone.now())
        if refused is not None:
            call.reject(refused.reason)
            call.save()
            return call, refused.reason
        call.request_stream()
        call.save()
        call.record_event(Source.BROWSER, "talk.started", {**who, "revision": revision.number})
    return call, ""


@staff_member_required
@require_GET
def status(request: HttpRequest, call_id: str) -> HttpResponse:
    """Whether a test call's record is complete, for its page to open it when it is."""
    call = get_object_or_404(Call, call_id=call_id, direction=Direction.BROWSER)
    if call.metadata.get("browser", {}).get("user_id") != request.user.pk:
        raise PermissionDenied("Not your test call.")
    return JsonResponse({"over": call.is_over, "status": call.status})
