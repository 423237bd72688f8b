"""The pages beside an agent's: how its calls went, publishing its draft (asked first, with what
changes for callers), and a voice's sample for "Hear this voice"."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from asgiref.sync import async_to_sync
from django.conf import settings
from django.contrib import messages
from django.core.cache import cache, caches
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.http import require_POST

from agents.admin.common import ms, published_text, seconds, table
from agents.admin.words import compared
from agents.labels import label
from agents.models import PUBLISH_PERMISSION, Agent, Voice
from calls import agent_stats as stats
from streaming.core.call.upstream import UpstreamError
from streaming.core.realtime.voice_sample import MAX_TEXT, as_wav, speak

if TYPE_CHECKING:
    from agents.admin.agent import AgentAdmin

# The voice samples are Realtime sessions: the model every Realtime agent starts with.
SAMPLE_MODEL = "gpt-realtime"
SAMPLE_LINE = "Hello, thank you for calling. How can I help you today?"
# Each sample not already made is a short OpenAI session: a few a minute per person is plenty
# to compare voices, and a page (or a script) pressing the button in a loop stops there.
SAMPLES_PER_MINUTE = 6


def _page(admin_page: AgentAdmin, request: HttpRequest, agent: Agent, title: str) -> dict:
    return {
        **admin_page.admin_site.each_context(request),
        "opts": Agent._meta,
        "original": agent,
        "title": title,
        "subtitle": str(agent),
    }


# -- how its calls went ---------------------------------------------------------------------


def how_calls_went(admin_page: AgentAdmin, request: HttpRequest, object_id: int) -> HttpResponse:
    agent = get_object_or_404(Agent, pk=object_id)
    if not admin_page.has_view_permission(request, agent):
        raise PermissionDenied("Seeing an agent's figures needs the permission to view agents.")
    week = stats.last_week([agent.pk]).get(agent.pk) or stats.Week()
    rows = [
        ("calls", week.calls),
        ("median length", seconds(week.median_duration_s)),
        ("answer time, typical (p50)", ms(week.latency_p50_ms)),
        ("answer time, slowest 1 in 20 (p95)", ms(week.latency_p95_ms)),
        ("ended by", week.endings_text()),
    ]
    days = stats.per_day(agent.pk)
    cost = [
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
    context = {
        **_page(admin_page, request, agent, "How its calls went"),
        "week": table(("", ""), rows),
        "days": table(head, cost) if cost else None,
        "calls_url": reverse("admin:calls_call_changelist") + f"?agent__id__exact={agent.pk}",
    }
    return TemplateResponse(request, "admin/agents/agent/stats.html", context)


# -- publishing -----------------------------------------------------------------------------


def publish(admin_page: AgentAdmin, request: HttpRequest, object_id: int) -> HttpResponse:
    """GET: what callers would get, and a button; POST: hand the draft to callers."""
    if not request.user.has_perm(PUBLISH_PERMISSION):
        raise PermissionDenied("Publishing needs the “Can publish” permission.")
    agent = get_object_or_404(Agent.objects.select_related("published_revision"), pk=object_id)
    page = reverse("admin:agents_agent_change", args=[agent.pk])
    if request.method == "POST":
        # The version the page showed: a save since then is not published unseen.
        seen = request.POST.get("revision", "")
        revision = agent.publish(request.user, seen=int(seen) if seen.isdigit() else None)
        if revision is not None:
            messages.success(request, f"Published v{revision.number}: the next call uses it.")
        elif seen and agent.unpublished_changes():
            messages.warning(
                request,
                "The draft was saved again since you looked at it: check "
                "what changes now, then publish.",
            )
            return HttpResponseRedirect(request.path)
        else:
            messages.info(request, "Nothing to publish: callers already get the latest version.")
        return HttpResponseRedirect(page)
    if request.method != "GET":
        return HttpResponse("Publishing is a GET (to confirm) then a POST.", status=405)
    published, draft = agent.published_revision, agent.current_revision
    now = agent.snapshot()
    changes = (
        [
            (label(name), compared(name, published.value(name) if published else None, now[name]))
            for name in agent.unpublished_changes(now)
        ]
        if published
        else []
    )
    context = {
        **_page(admin_page, request, agent, "Publish the draft to callers?"),
        "published": published,
        "published_text": published_text(published) if published else "",
        "draft": draft,
        "changes": changes,
        "back": page,
    }
    return TemplateResponse(request, "admin/agents/agent/publish.html", context)


# -- hearing a voice ------------------------------------------------------------------------


def may_hear_voices(user: Any) -> bool:
    return bool(user.has_perm("agents.change_agent") or user.has_perm("agents.add_agent"))


@require_POST
def voice_sample(request: HttpRequest) -> HttpResponse:
    """The line (the greeting being written, or a usual one) said in the chosen voice, as WAV.
    Samples are kept an hour, so comparing voices again costs nothing."""
    if not may_hear_voices(request.user):
        raise PermissionDenied("Hearing a voice needs the permission to add or change agents.")
    voice = request.POST.get("voice", "")
    if voice not in Voice.values:
        return JsonResponse({"error": "Choose one of the voices in the list."}, status=400)
    text = " ".join(request.POST.get("text", "").split())[:MAX_TEXT] or SAMPLE_LINE
    key = "voice-sample:" + hashlib.sha256(f"{SAMPLE_MODEL}\0{voice}\0{text}".encode()).hexdigest()
    kept = caches["voice_samples"]
    wav = kept.get(key)
    if wav is None:
        if not _may_make_one(request):
            return JsonResponse(
                {"error": "That is a lot of samples in a minute: wait a moment, then try again."},
                status=429,
            )
        try:
            pcm = async_to_sync(speak)(
                settings.OPENAI_REALTIME_URL,
                settings.OPENAI_API_KEY,
                SAMPLE_MODEL,
                voice,
                text,
                open_timeout=settings.OPENAI_CONNECT_TIMEOUT,
            )
        except UpstreamError as e:
            return JsonResponse({"error": f"No sample: {e}."}, status=502)
        if not pcm:
            return JsonResponse({"error": "No sample: OpenAI sent no audio."}, status=502)
        wav = as_wav(pcm)
        kept.set(key, wav)
    return HttpResponse(wav, content_type="audio/wav")


def _may_make_one(request: HttpRequest) -> bool:
    counter = f"voice-samples:{request.user.pk}"
    cache.add(counter, 0, 60)
    try:
        return cache.incr(counter) <= SAMPLES_PER_MINUTE
    except ValueError:  # expired between add and incr: a new minute
        cache.set(counter, 1, 60)
        return True
