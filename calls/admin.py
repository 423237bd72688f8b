from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.db.models.fields.json import KeyTransform
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.http.response import HttpResponseBase
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.text import Truncator
from django.views.decorators.http import require_POST

from agents.models import may_change_destinations
from agents.notes import NoteField, NoteKind
from calls import history, in_words, limits, ranges, timeline
from calls.aftercall import webhook
from calls.costs import TOKEN_KINDS
from calls.models import AfterCall, BlockedNumber, Call, latency_summary
from streaming.ground.durations import clock
from streaming.ground.numbers import search_form

TOKEN_LABELS = {
    "input_text": "Text in (instructions, tools)",
    "input_cached_text": "Text in, cached (cheaper)",
    "input_audio": "Caller audio in",
    "input_cached_audio": "Caller audio in, cached",
    "output_text": "Text out",
    "output_audio": "Agent audio out",
}


class NoteFilter(admin.SimpleListFilter):
    """The agents' yes/no and “one of a list” notes, each answer a filter."""

    title = "note"
    parameter_name = "note"
    SEP = "="

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        options: dict[str, str] = {}
        kinds = (NoteKind.YES_NO, NoteKind.CHOICE)
        for note in NoteField.objects.filter(kind__in=kinds).order_by("name"):
            answers = ["yes", "no"] if note.kind == NoteKind.YES_NO else note.snapshot()["choices"]
            for answer in answers:
                options[f"{note.name}{self.SEP}{answer}"] = f"{note.name} {answer}"
        return list(options.items())

    def queryset(self, request: HttpRequest, queryset: QuerySet[Call]) -> QuerySet[Call]:
        if not self.value():
            return queryset
        name, _, answer = str(self.value()).rpartition(self.SEP)
        if not name:
            raise IncorrectLookupParameters("note filters read “name=answer”")
        value: Any = {"yes": True, "no": False}.get(answer, answer)
        # The JSON key is one path element, whatever it holds (KT would split on "__").
        return queryset.filter(pk__in=_calls_noting(name, value))


def _calls_noting(name: str, value: Any) -> Any:
    """The ids of the calls whose note `name` is `value`."""
    noting = Call.objects.annotate(noted=KeyTransform(name, "notes")).filter(noted=value)
    return noting.values("pk")


class ReadOnlyMixin:
    """Call history is a record of what happened: nobody edits, adds or deletes it."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Call)
class CallAdmin(ReadOnlyMixin, admin.ModelAdmin):
    # What an operator reads a call by, narrow enough to fit 1366 px beside the menu and the
    # filters; the number dialled, the status, who ended it and the call id are on its page
    # (and filters, and the CSV).
    list_display = (
        "when",
        "caller",
        "agent_name",
        "duration_display",
        "how_it_ended",
        "summary_short",
        "cost_kes",
    )
    actions = ["block_callers"]
    list_filter = (
        "status",
        "ended_by",
        "direction",
        "agent",
        "started_at",
        NoteFilter,
        "analysis",
        "webhook",
    )
    list_select_related = ("agent", "agent_revision")
    search_fields = ("call_id", "caller_number", "dialled_number")
    search_help_text = (
        "Finds calls by the caller's or the dialled number (written any usual way), by words "
        "said in the call, its summary or notes, or by the call's id."
    )
    date_hierarchy = "started_at"

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        context = {"call_limits": limits.describe(), **(extra_context or {})}
        return super().changelist_view(request, extra_context=context)

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        # Blocking is for those who may add blocked numbers; call history stays read-only.
        actions = super().get_actions(request)
        if not request.user.has_perm("calls.add_blockednumber"):
            actions.pop("block_callers", None)
        return actions

    @admin.action(description="Block the callers of the selected calls")
    def block_callers(self, request: HttpRequest, queryset: QuerySet[Call]) -> None:
        numbers = {n for n in queryset.values_list("caller_number", flat=True) if n}
        for number in numbers:
            BlockedNumber.objects.get_or_create(
                number=number, defaults={"note": f"blocked from the call list by {request.user}"}
            )
        self.message_user(request, f"Blocked {len(numbers)} number(s): their calls are refused.")

    @admin.display(description="when", ordering="started_at")
    def when(self, obj: Call) -> str:
        return short_time(obj.started_at)

    @admin.display(description="caller", ordering="caller_number")
    def caller(self, obj: Call) -> str:
        if obj.is_test:
            who = obj.metadata.get("browser", {}).get("user", "")
            return format_html('<span class="badge test">test</span> {}', who or "browser")
        return obj.caller_number or "unknown"

    @admin.display(description="agent", ordering="agent__name")
    def agent_name(self, obj: Call) -> str:
        return obj.agent.name if obj.agent else "—"

    @admin.display(description="length", ordering="duration_seconds")
    def duration_display(self, obj: Call) -> str:
        return format_duration(obj.duration)

    @admin.display(description="how it ended", ordering="end_reason")
    def how_it_ended(self, obj: Call) -> str:
        if not obj.end_reason and not obj.is_over:
            return obj.get_status_display()  # still going, or never started
        said = in_words.ending(obj.end_reason)
        # The list stays short: the technical text is what pointing at it shows.
        return format_html('<span title="{}">{}</span>', said.detail or said.words,
                           Truncator(said.words).chars(70))  # fmt: skip

    @admin.display(description="summary")
    def summary_short(self, obj: Call) -> str:
        if obj.analysis in (AfterCall.PENDING, AfterCall.FAILED):
            return f"({obj.get_analysis_display().lower()})"
        notes = history.notes_text(obj.ordered_notes())
        return format_html('<span title="{}">{}</span>', notes, Truncator(obj.summary).chars(90))

    @admin.display(description="KES", ordering="openai_cost_usd")
    def cost_kes(self, obj: Call) -> str:
        return str(obj.cost.total_kes)

    # -- the call's page: a timeline a non-developer reads at a glance -------------------------

    def get_urls(self) -> list[Any]:
        recording = path(
            "<path:object_id>/recording.wav",
            self.admin_site.admin_view(self.recording_view),
            name="calls_call_recording",
        )
        export = path("export.csv", self.admin_site.admin_view(self.export_view),
                      name="calls_call_export")  # fmt: skip
        send_again = path("<path:object_id>/send-again/",
                          self.admin_site.admin_view(require_POST(self.send_again_view)),
                          name="calls_call_send_again")  # fmt: skip
        return [recording, export, send_again, *super().get_urls()]

    def send_again_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Deliver the call to the agent's webhook again (a new round of attempts, now)."""
        call = self._viewable_call(request, object_id)  # only someone who may read it
        if not request.user.has_perm("agents.change_agent"):
            raise PermissionDenied("Sending again needs the permission to change agents.")
        if call.agent is None or not call.agent.webhook_url:
            messages.error(request, "The agent has no webhook address: set one on its page.")
        elif not call.is_over:
            messages.error(request, "The call is not over yet: it is sent when it is.")
        elif _needs_destinations(request, call):
            raise PermissionDenied(
                "This call was not queued for the agent's address now: sending it there needs "
                "the permission to change where call data is sent."
            )
        else:
            webhook.send_again(call)
            messages.success(request, "Sending again: the attempts are listed below.")
        return HttpResponseRedirect(reverse("admin:calls_call_change", args=[call.pk]))

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        if request.method != "GET":
            raise PermissionDenied  # call history is read-only
        call = self._viewable_call(request, object_id)
        turns = list(call.turns.all())
        events = list(call.events.all())
        median_ms, worst_ms = latency_summary(turns)
        tokens = call.tokens()
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _title(call),
            "answered_by": answered_by(call),
            "call": call,
            "turns": turns,
            "events": events,
            "timeline": timeline.build(call, turns, events),
            "duration": format_duration(call.duration),
            "ended_by": call.get_ended_by_display() if call.ended_by else "—",
            "latency_median": median_ms,
            "latency_worst": worst_ms,
            "cost": call.cost,
            "tokens": [(TOKEN_LABELS[k], tokens[k]) for k in TOKEN_KINDS],
            "revision_url": _admin_url("agents_agentrevision", call.agent_revision_id),
            "instructions_url": (
                _admin_url("agents_agent", call.agent_id) + "#id_instructions"
                if call.agent_id
                else ""
            ),
            "recording_url": reverse("admin:calls_call_recording", args=[call.pk]),
            "recording_expires": call.recording_expires_at(),
            "recording_seconds": call.recording_seconds(),
            "details": self._details(call),
            "notes": [(name, history.note_text(value)) for name, value in call.ordered_notes()],
            "tasks": list(call.tasks.prefetch_related("attempts_made")),
            "can_send_again": bool(call.agent and call.agent.webhook_url)
            and call.is_over
            and request.user.has_perm("agents.change_agent")
            and not _needs_destinations(request, call),
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/calls/call/timeline.html", context)

    def recording_view(self, request: HttpRequest, object_id: str) -> HttpResponseBase:
        """Recordings are never public files: only people who may see the call hear it."""
        call = self._viewable_call(request, object_id)
        if not call.recording:
            raise Http404("This call has no recording.")
        try:
            handle = call.recording.open("rb")
        except FileNotFoundError:
            raise Http404("The recording file is gone (expired or deleted).") from None
        return ranges.serve(request, handle, call.recording.size, "audio/wav",
                            f"{call.call_id}.wav")  # fmt: skip

    def _viewable_call(self, request: HttpRequest, object_id: str) -> Call:
        call = self.get_object(request, unquote(object_id))
        if call is None:
            raise Http404("No such call.")
        if not self.has_view_permission(request, call):
            raise PermissionDenied
        return call

    @staticmethod
    def _details(call: Call) -> list[tuple[str, Any]]:
        return [
            ("call id", call.call_id),
            ("direction", call.get_direction_display()),
            ("number dialled", call.dialled_number),
            ("answered", call.answered_at),
            ("ended", call.ended_at),
            ("hangup cause", call.hangup_cause),
            ("failure", call.failure_reason),
            ("stream error", call.stream_error),
            ("transferred to", call.transfer_to),
            ("stream id", call.stream_sid),
            ("agent joined", call.bridge_started_at),
            ("agent left", call.bridge_ended_at),
            ("Sautikit recordings", ", ".join(
                str(r.get("recording_id")) for r in call.metadata.get("recordings") or []
            )),
        ]  # fmt: skip

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Call], search_term: str
    ) -> tuple[QuerySet[Call], bool]:
        """Ids and numbers as before, and what was said: the transcripts are searched too."""
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        number = search_form(search_term, settings.DEFAULT_COUNTRY_CODE)
        if number:
            results |= queryset.filter(caller_number=number) | queryset.filter(
                dialled_number=number
            )
        if search_term.strip():
            results |= history.calls_saying(queryset, search_term.strip())
        return results, may_have_duplicates

    def export_view(self, request: HttpRequest) -> HttpResponseBase:
        """The list as filtered and searched on the page, as CSV (a spreadsheet opens it)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            calls = self.get_changelist_instance(request).get_queryset(request)
        except IncorrectLookupParameters:
            return HttpResponseBadRequest(
                "These filters are not understood: export from the call list's own links.\n",
                content_type="text/plain; charset=utf-8",
            )
        stamp = timezone.localtime().strftime("%Y-%m-%d-%H%M")
        response = StreamingHttpResponse(history.csv_lines(calls), content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="calls-{stamp}.csv"'
        return response


@admin.register(BlockedNumber)
class BlockedNumberAdmin(admin.ModelAdmin):
    list_display = ("number", "note", "created_at")
    search_fields = ("number", "note")


def _needs_destinations(request: HttpRequest, call: Call) -> bool:
    """Sending a call to an address it was not queued for is choosing where its data goes."""
    return not may_change_destinations(request.user) and webhook.aimed_elsewhere(call)


def _title(call: Call) -> str:
    """A call as people name it: who called, and when."""
    when = timezone.localtime(call.started_at).strftime("%a %-d %b %Y at %H:%M")
    if call.is_test:
        who = call.metadata.get("browser", {}).get("user", "")
        by = f"Test call from the browser by {who}" if who else "Test call from the browser"
        return f"{by}, {when}"
    return f"Call from {call.caller_number or 'an unknown number'}, {when}"


def short_time(at: datetime) -> str:
    """Today's calls by their time, this year's by day and time, older ones with the year."""
    local, now = timezone.localtime(at), timezone.localtime()
    if local.date() == now.date():
        return local.strftime("today %H:%M")
    if local.year == now.year:
        return local.strftime("%a %-d %b %H:%M")
    return local.strftime("%-d %b %Y %H:%M")


ENGINES = {"realtime": "OpenAI Realtime", "live": "OpenAI GPT-Live"}


def answered_by(call: Call) -> str:
    """The engine and model the call's version used, e.g. "OpenAI GPT-Live, gpt-live-1.1
    (tools: gpt-5-mini)"; empty for a call no agent answered."""
    revision = call.agent_revision
    if revision is None:
        return ""
    engine = str(revision.value("engine") or "realtime")
    said = f"{ENGINES.get(engine, engine)}, {revision.value('model')}"
    if engine == "live":
        said += f" (tools: {revision.value('backend_model')})"
    return said


def _admin_url(name: str, pk: int | None) -> str:
    return reverse(f"admin:{name}_change", args=[pk]) if pk else ""


def format_duration(duration: timedelta | None) -> str:
    return clock(duration.total_seconds() * 1000 if duration is not None else None)
