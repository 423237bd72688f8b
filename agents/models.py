from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models, transaction
from django.utils import timezone

from agents.env_names import check_env_name, read_env
from agents.field_groups import REVISED_FIELDS
from agents.notes import NoteField
from agents.tools import (
    Tool,
    signing_secret_for,
    tool_spec,
    validate_endpoint,
    validate_secret_env,
)
from streaming.core import engines
from streaming.core.call.agent_settings import AgentSettings
from streaming.core.live.client import BACKEND_MODEL
from streaming.core.live.client import MODELS as LIVE_MODELS
from streaming.ground.numbers import InvalidNumber, normalise

SIGNING_SECRET_ENV_PREFIX = "SAUTIKIT_SIGNING_SECRET_"  # noqa: S105 (a name, not a secret)
# Instructions go to OpenAI with every call's session: about 5,000 tokens at most, far more than
# a phone agent needs, and a paste of a whole manual is refused rather than billed on each call.
MAX_INSTRUCTIONS = 20_000

# Signs finished calls in a tool's place (streaming.core.call.toolbox.signed_message); no tool
# can have this name, since a tool's name starts with a letter.
WEBHOOK_KEY_NAME = "@end-of-call"


class Voice(models.TextChoices):
    ALLOY = "alloy", "Alloy"
    ASH = "ash", "Ash"
    BALLAD = "ballad", "Ballad"
    CORAL = "coral", "Coral"
    ECHO = "echo", "Echo"
    SAGE = "sage", "Sage"
    SHIMMER = "shimmer", "Shimmer"
    VERSE = "verse", "Verse"
    MARIN = "marin", "Marin"
    CEDAR = "cedar", "Cedar"


class Engine(models.TextChoices):
    REALTIME = engines.REALTIME, "OpenAI Realtime (takes turns; recommended)"
    LIVE = engines.LIVE, "OpenAI GPT-Live (listens while it speaks; billed by the minute)"


class Track(models.TextChoices):
    INBOUND = "inbound_track", "Caller's voice only (recommended)"
    OUTBOUND = "outbound_track", "What the caller hears only"
    BOTH = "both_tracks", "Both sides mixed"


class SampleRate(models.IntegerChoices):
    NARROWBAND = 8000, "8 kHz (plain phone quality)"
    WIDEBAND = 16000, "16 kHz (HD voice, recommended)"


class TurnDetection(models.TextChoices):
    SERVER_VAD = "server_vad", "Pause detection (answers after the caller is quiet)"
    SEMANTIC_VAD = "semantic_vad", "Meaning detection (answers when the caller sounds finished)"


class NoiseReduction(models.TextChoices):
    OFF = "", "Off"
    NEAR_FIELD = "near_field", "Near: a phone held to the ear"
    FAR_FIELD = "far_field", "Far: a speakerphone or a phone across the room"


LANGUAGE_CODE = RegexValidator(
    r"^[a-z]{2}$", "Two lowercase letters, the language's ISO 639-1 code (sw, en, fr…)."
)


class Eagerness(models.TextChoices):
    AUTO = "auto", "Automatic"
    LOW = "low", "Low: lets the caller finish long thoughts"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High: answers as soon as it can"


# Settings that apply as soon as they are saved: which number the agent answers, whether it
# answers at all, whose secret signs its webhooks, and how many calls it takes at once. Everything
# else shapes a call, and reaches callers only when the draft is published.
LIVE_FIELDS = (
    "name",
    "phone_number",
    "is_active",
    "signing_secret_env",
    "max_live_calls",
    # Where finished calls are sent: a fixed address reaches the calls still being delivered.
    "webhook_url",
    "webhook_secret_env",
)


# Numbers an agent may hand callers over to: stored normalised, like its own number.
OTHER_NUMBERS = ("transfer_number", "fallback_number")

PUBLISH_PERMISSION = "agents.publish_agent"
DESTINATIONS_PERMISSION = "agents.change_data_destinations"
READ_CALLS_PERMISSION = "calls.view_call"

# Of the settings that apply at once, those that decide whether a phone caller reaches this
# agent at all: they skip the draft, so only someone who may publish changes them on an agent
# that exists (a new agent answers nothing until it is published anyway).
ROUTING_FIELDS = ("phone_number", "is_active", "signing_secret_env", "max_live_calls")
# Where every finished call goes, with the caller's number and what was said: as sensitive as
# reading calls, and applied at once, so it needs both rights (may_change_destinations).
DESTINATION_FIELDS = ("webhook_url", "webhook_secret_env")


def may_publish(user: Any) -> bool:
    """Whether `user` may hand drafts to callers; a script or the shell (no user) may."""
    if not hasattr(user, "has_perm"):
        return True
    return bool(user.has_perm(PUBLISH_PERMISSION))


def may_change_destinations(user: Any) -> bool:
    """Whether `user` may choose where call data is sent (the end-of-call webhook, custom tools'
    endpoints): someone who may read the calls, and was given this one explicit right."""
    return bool(user.has_perm(READ_CALLS_PERMISSION) and user.has_perm(DESTINATIONS_PERMISSION))


def destinations(agent: Agent) -> dict[str, str]:
    """Every address this agent sends call data to, by what the agent's page calls it."""
    found = {"send finished calls to": agent.webhook_url}
    if agent.pk:
        for tool in agent.tools.all():
            found[f"custom tool “{tool.name}”"] = tool.endpoint
    return {what: url for what, url in found.items() if url}


def validate_signing_secret_env(value: str) -> None:
    check_env_name(value, SIGNING_SECRET_ENV_PREFIX, "SALES")


def e164(raw: str) -> str:
    """A number as stored, read in the line's country when written nationally (InvalidNumber
    if it is not one)."""
    return normalise(raw, settings.DEFAULT_COUNTRY_CODE)


class AgentQuerySet(models.QuerySet["Agent"]):
    def for_number(self, raw: str) -> Agent | None:
        """The agent answering a number written any usual way, or None."""
        try:
            number = e164(raw)
        except InvalidNumber:
            return None
        return self.filter(phone_number=number).first()


class Agent(models.Model):
    name = models.CharField(
        max_length=100,
        help_text="A name for people, e.g. “Clinic bookings”. Callers never hear it.",
    )
    phone_number = models.CharField(
        max_length=16,
        unique=True,
        help_text="The Sautikit number people dial to reach this agent. Type it any usual way "
        "(0712 345 678, 254712345678 or +254712345678): it is stored as +254712345678.",
    )
    instructions = models.TextField(
        max_length=MAX_INSTRUCTIONS,
        help_text="What the agent should know and how it should behave, in plain words: who it "
        "speaks for, what it may and may not say, how to end the call. Changes apply to the "
        "next call, not to calls already in progress.",
    )
    voice = models.CharField(
        max_length=16,
        choices=Voice.choices,
        default=Voice.MARIN,
        help_text="The voice callers hear. Marin and Cedar sound the most natural.",
    )
    engine = models.CharField(
        max_length=8,
        choices=Engine.choices,
        default=Engine.REALTIME,
        help_text="How the agent talks. Realtime waits for the caller to finish, then answers "
        "(the turn-taking settings below apply). GPT-Live listens while it speaks and stops by "
        "itself when talked over; it has no turn-taking settings, costs a flat amount per "
        "minute, and hands its tools to a second model that follows the “instructions for "
        "tools”. Its model must be gpt-live-1.1 or gpt-live-1.",
    )
    model = models.CharField(
        max_length=64,
        default="gpt-realtime",
        help_text="The OpenAI model: gpt-realtime for the Realtime engine, gpt-live-1.1 for "
        "GPT-Live. Leave it unless a developer asks.",
    )
    backend_instructions = models.TextField(
        blank=True,
        max_length=MAX_INSTRUCTIONS,
        verbose_name="instructions for tools (GPT-Live only)",
        help_text="GPT-Live only, optional. Business rules and when to use each tool, for the "
        "second model that runs the tools. Keep the voice and manner in the instructions "
        "above. Empty: that model gets the instructions above.",
    )
    backend_model = models.CharField(
        max_length=64,
        default=BACKEND_MODEL,
        verbose_name="model for tools (GPT-Live only)",
        help_text=f"GPT-Live only. The OpenAI text model that runs the tools. Leave as "
        f"{BACKEND_MODEL} unless a developer asks (another model may need its prices set).",
    )
    greeting = models.TextField(
        blank=True,
        max_length=1000,
        help_text="Optional. What the agent says first, as soon as the call connects, written "
        "as you would say it: “Hello, this is Mwangaza Clinic. How can I help you today?” "
        "Leave empty to let the caller speak first.",
    )
    track = models.CharField(
        max_length=16,
        choices=Track.choices,
        default=Track.INBOUND,
        verbose_name="audio Sautikit sends",
        help_text="Which audio Sautikit sends to the agent. Keep “caller's voice only” unless "
        "a developer asks otherwise.",
    )
    sample_rate = models.PositiveIntegerField(
        choices=SampleRate.choices,
        default=SampleRate.WIDEBAND,
        verbose_name="phone-line quality",
        help_text="Audio quality of the phone leg. 16 kHz sounds clearer; choose 8 kHz only if "
        "callers hear crackles or silence.",
    )
    turn_detection = models.CharField(
        max_length=16,
        choices=TurnDetection.choices,
        default=TurnDetection.SERVER_VAD,
        help_text="How the agent decides the caller has finished speaking.",
    )
    vad_threshold = models.FloatField(
        default=0.5,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        verbose_name="speech sensitivity",
        help_text="Pause detection only. From 0 to 1: higher ignores more background noise but "
        "may miss quiet callers. 0.5 suits most lines; try 0.7 for noisy places.",
    )
    vad_prefix_padding_ms = models.PositiveIntegerField(
        default=300,
        validators=[MaxValueValidator(2000)],
        verbose_name="audio kept before speech (ms)",
        help_text="Pause detection only. How much sound before the caller starts speaking is "
        "kept, so first syllables are not cut. 300 is usual.",
    )
    vad_silence_duration_ms = models.PositiveIntegerField(
        default=500,
        validators=[MinValueValidator(100), MaxValueValidator(5000)],
        verbose_name="silence before answering (ms)",
        help_text="Pause detection only. How long the caller must be quiet before the agent "
        "answers. Shorter feels quicker but may interrupt slow speakers; 500 is usual.",
    )
    eagerness = models.CharField(
        max_length=8,
        choices=Eagerness.choices,
        default=Eagerness.AUTO,
        help_text="Meaning detection only. How quickly the agent jumps in.",
    )
    idle_nudge_seconds = models.PositiveIntegerField(
        default=0,
        validators=[MaxValueValidator(120)],
        verbose_name="nudge a quiet caller after (seconds)",
        help_text="0 for never. If the caller says nothing this long after the agent finished "
        "speaking, the agent speaks again (for example asks whether they are still there). "
        "Pause detection only. A nudge does not count as talk for “hang up after silence”, so a "
        "forgotten phone is still hung up.",
    )
    noise_reduction = models.CharField(
        max_length=16,
        choices=NoiseReduction.choices,
        default=NoiseReduction.OFF,
        blank=True,
        help_text="Filters background noise from the caller's audio before the agent listens, "
        "so it is less often fooled into thinking the caller spoke. “Near” suits callers on "
        "handsets; “far” suits speakerphones and noisy rooms.",
    )
    transcription_language = models.CharField(
        max_length=2,
        blank=True,
        validators=[LANGUAGE_CODE],
        verbose_name="callers' language (for the transcript)",
        help_text="Optional. The two-letter code of the language callers speak, e.g. sw for "
        "Swahili or en for English: the written transcript is more accurate and quicker. The "
        "agent itself understands callers either way.",
    )
    transcription_prompt = models.TextField(
        blank=True,
        max_length=1000,
        verbose_name="words to expect (for the transcript)",
        help_text="Optional. Names, places and words callers are likely to say, so the written "
        "transcript spells them right, e.g. “Dr Achieng, Kisumu, Mater Hospital”.",
    )
    speaking_speed = models.FloatField(
        default=1.0,
        validators=[MinValueValidator(0.25), MaxValueValidator(1.5)],
        help_text="1 is the voice's natural pace; from 0.25 (slowest) to 1.5 (fastest). Slightly "
        "slower (0.9) can help on poor lines.",
    )
    longest_answer_seconds = models.PositiveIntegerField(
        default=0,
        validators=[MaxValueValidator(300)],
        verbose_name="longest answer (seconds)",
        help_text="0 for no limit. An answer is cut off at about this length, so the agent "
        "cannot talk on and on; say in the instructions that answers should be short, too.",
    )
    signing_secret_env = models.CharField(
        max_length=80,
        blank=True,
        validators=[validate_signing_secret_env],
        verbose_name="own signing secret (setting name)",
        help_text="Usually empty. Only if this number has its own signing secret in Sautikit: "
        "your administrator puts the secret in the server's settings under a name like "
        f"{SIGNING_SECRET_ENV_PREFIX}SALES and you type that name here. The secret itself is "
        "never shown or stored on this page.",
    )
    max_call_minutes = models.PositiveIntegerField(
        default=15,
        validators=[MinValueValidator(1), MaxValueValidator(60)],
        verbose_name="longest call (minutes)",
        help_text="Calls are ended when they reach this length. At most 60 (OpenAI's limit).",
    )
    silence_timeout_seconds = models.PositiveIntegerField(
        default=60,
        validators=[MinValueValidator(10), MaxValueValidator(600)],
        verbose_name="hang up after silence (seconds)",
        help_text="If neither the caller nor the agent says anything for this long, the call "
        "ends, so a forgotten phone does not stay connected.",
    )
    max_live_calls = models.PositiveIntegerField(
        default=0,
        verbose_name="most calls at once",
        help_text="0 for no limit of its own. Callers beyond it hear that the lines are busy and "
        "the call ends; such calls are listed as not answered, with the reason. The server's "
        "own limits (per caller, per hour, in all) apply as well.",
    )
    end_call_enabled = models.BooleanField(
        default=True,
        verbose_name="agent may hang up",
        help_text="Lets the agent end the call itself once the caller is done: it says goodbye, "
        "waits until the caller has heard it, then hangs up. Say in the instructions when it "
        "should (for example “when the booking is confirmed and the caller has no other "
        "question”).",
    )
    transfer_number = models.CharField(
        max_length=16,
        blank=True,
        verbose_name="hand over to a person at",
        help_text="Optional. A phone number the agent may put the caller through to, for "
        "example a receptionist. Leave empty and the agent cannot transfer calls. Say in the "
        "instructions when it should (for example “if the caller asks for a person”).",
    )
    fallback_number = models.CharField(
        max_length=16,
        blank=True,
        verbose_name="if the agent is unavailable, put callers through to",
        help_text="Optional but recommended. If OpenAI cannot be reached when a call comes in, "
        "or fails during a call, the caller is put through to this number instead of being cut "
        "off. Leave empty and such calls end; they are listed as failed either way.",
    )
    record_calls = models.BooleanField(
        default=False,
        verbose_name="record calls",
        help_text="Keep an audio recording of every call (caller on the left, agent on the "
        "right), to listen to on the call's page. Off by default: tell callers in the greeting "
        "if you turn it on. Recordings are deleted after the retention period your "
        "administrator set.",
    )
    summarise_calls = models.BooleanField(
        default=True,
        verbose_name="summarise each call",
        help_text="After each call, a text model reads the transcript and writes a sentence or "
        "two on what the caller wanted and how it ended, and fills in the notes listed below. "
        "It costs a fraction of a cent a call, added to the call's cost.",
    )
    analysis_model = models.CharField(
        max_length=64,
        default="gpt-5-mini",
        verbose_name="model for summaries",
        help_text="The OpenAI text model that writes the summary and notes. Leave as "
        "gpt-5-mini unless a developer asks (another model may need its prices set).",
    )
    webhook_url = models.URLField(
        max_length=500,
        blank=True,
        validators=[validate_endpoint],
        verbose_name="send finished calls to",
        help_text="Optional. An https:// address of your own system that receives every "
        "finished call (who called, the transcript, the summary and notes, the cost, how it "
        "ended) as a signed JSON POST, retried until it answers. Applies as soon as you save; "
        "calls still waiting to be sent are not sent to a new address unless someone presses "
        "“Send to the webhook again” on their page.",
    )
    webhook_secret_env = models.CharField(
        max_length=80,
        blank=True,
        validators=[validate_secret_env],
        verbose_name="webhook signing secret (setting name)",
        help_text="Usually empty: calls are signed with a key of this agent's own, derived "
        "from the server's TOOL_SIGNING_SECRET (a developer gets it with manage.py "
        "tool_signing_key --webhook). To choose the secret instead, your administrator sets "
        "one named like TOOL_SECRET_CALLS and you type that name here.",
    )
    is_active = models.BooleanField(
        default=True,
        verbose_name="active",
        help_text="Untick to stop answering this number: callers hear a short apology and the "
        "call ends. Past calls are kept.",
    )
    created_at = models.DateTimeField(auto_now_add=True, help_text="When the agent was created.")
    updated_at = models.DateTimeField(
        auto_now=True, help_text="When the agent was last saved. Its history is below."
    )

    published_revision = models.ForeignKey(
        "AgentRevision",
        null=True,
        blank=True,
        editable=False,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name="published version",
        help_text="The version phone calls use. Saving changes a draft; Publish hands it to "
        "callers.",
    )

    objects = AgentQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        permissions = [
            ("publish_agent", "Can publish an agent's draft to callers"),
            ("talk_to_agent", "Can talk to an agent from the browser"),
            ("change_data_destinations", "Can change where call data is sent"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.phone_number})"

    def save(self, *args: Any, author: Any = None, **kwargs: Any) -> None:
        """Save and keep a revision of what changed; `author` is the user who made the change."""
        self.phone_number = e164(self.phone_number)
        for name in OTHER_NUMBERS:
            if getattr(self, name):
                setattr(self, name, e164(getattr(self, name)))
        with transaction.atomic():
            super().save(*args, **kwargs)
            self.revise(author)

    def clean(self) -> None:
        errors = {}
        live_model = self.model in LIVE_MODELS
        if self.engine == Engine.LIVE and not live_model:
            errors["model"] = f"GPT-Live needs a GPT-Live model: {' or '.join(LIVE_MODELS)}."
        elif self.engine == Engine.REALTIME and live_model:
            errors["model"] = "A GPT-Live model needs the GPT-Live engine."
        if self.idle_nudge_seconds and self.turn_detection != TurnDetection.SERVER_VAD:
            errors["idle_nudge_seconds"] = "Only with pause detection: set 0, or switch to it."
        try:
            self.phone_number = e164(self.phone_number)
        except InvalidNumber as e:
            errors["phone_number"] = str(e)
        else:
            taken = Agent.objects.filter(phone_number=self.phone_number).exclude(pk=self.pk)
            other = taken.only("name").first()
            if other is not None:
                errors["phone_number"] = (
                    f"“{other.name}” already answers {self.phone_number}: choose another "
                    "number, or give that agent a different one first."
                )
        for name in OTHER_NUMBERS:
            if getattr(self, name):
                try:
                    setattr(self, name, e164(getattr(self, name)))
                except InvalidNumber as e:
                    errors[name] = str(e)
        if errors:
            raise ValidationError(errors)

    def snapshot(self) -> dict[str, Any]:
        """Every setting that shapes a call, its enabled custom tools included."""
        values = {field: getattr(self, field) for field in REVISED_FIELDS}
        enabled = self.tools.filter(is_enabled=True) if self.pk else []
        values["tools"] = [tool.snapshot() for tool in enabled]
        values["notes"] = [note.snapshot() for note in self.notes.all()] if self.pk else []
        return values

    def revise(self, author: Any = None) -> None:
        """Keep a revision of the agent as it now is; inside one_revision(), at its end."""
        batch = _BATCH.get()
        if batch is None:
            self.record_revision(author)
        else:
            batch.add(self.pk)

    def record_revision(
        self, author: Any = None, restored_from: int | None = None
    ) -> AgentRevision | None:
        latest = self.revisions.order_by("-number").first()
        before = latest.snapshot if latest else {}
        after = self.snapshot()
        changes = {
            field: {"from": before.get(field), "to": value}
            for field, value in after.items()
            if before.get(field) != value
        }
        if latest and not changes:
            return None
        user = author if getattr(author, "pk", None) else None
        revision = AgentRevision.objects.create(
            agent=self,
            number=(latest.number + 1) if latest else 1,
            author=user,
            author_name=_name(author),
            changes=changes,
            snapshot=after,
            restored_from=restored_from,
        )
        self.refresh_from_db(fields=["published_revision"])  # another page may have published
        if self.published_revision is None:
            # A new agent's first version goes to callers at once only from someone who may
            # publish (or a script): anyone else's waits, unanswered, until it is published.
            if latest is None and may_publish(author):
                self.publish(author)
        elif not self.unpublished_changes(after):
            # A change only to settings that apply at once: callers get nothing new, and their
            # calls show the version they really ran on.
            by = _name(author)
            self.publish(by if may_publish(author) else f"{by} (nothing new for callers)"[:150])
        return revision

    def unpublished_changes(self, draft: dict[str, Any] | None = None) -> list[str]:
        """The settings the draft (its snapshot, if already taken) has that callers do not
        get yet."""
        draft = self.snapshot() if draft is None else draft
        published = self.published_revision
        if published is None:
            return list(draft)
        return [
            name
            for name, value in draft.items()
            if name not in LIVE_FIELDS and published.value(name) != value
        ]

    def publish(self, author: Any = None, seen: int | None = None) -> AgentRevision | None:
        """Phone calls from now on use the draft as last saved (its latest version); with
        `seen`, only if that is still the version whoever publishes looked at."""
        with transaction.atomic():
            # One publisher at a time, each seeing what the last one did.
            locked = Agent.objects.select_for_update().only("published_revision").get(pk=self.pk)
            revision = self.current_revision
            if revision is None or revision.pk == locked.published_revision_id:
                return None
            if seen is not None and revision.pk != seen:
                return None
            revision.published_at = timezone.now()
            revision.published_by = _name(author)
            revision.save(update_fields=["published_at", "published_by"])
            Agent.objects.filter(pk=self.pk).update(published_revision=revision)
            self.published_revision = revision
            return revision

    def restore(self, revision: AgentRevision, author: Any = None) -> AgentRevision | None:
        """Make the draft what `revision` saved: every setting that shapes a call, its tools
        (those it did not have are switched off, not deleted) and its notes. Settings that apply
        at once are left as they are. Returns the new version, or None if the draft already
        was that."""
        with transaction.atomic(), one_revision(author, restored_from=revision.number):
            for name in REVISED_FIELDS:
                if name not in LIVE_FIELDS:
                    setattr(self, name, revision.value(name))
            self.save()
            saved = {tool["name"]: tool for tool in revision.value("tools") or []}
            for tool in self.tools.all():
                if tool.name not in saved and tool.is_enabled:
                    tool.is_enabled = False
                    tool.save()
            for name, values in saved.items():
                Tool.objects.update_or_create(
                    agent=self, name=name, defaults={**values, "is_enabled": True}
                )
            self._restore_notes(revision.value("notes") or [])
        latest = self.current_revision
        return latest if latest is not None and latest.restored_from == revision.number else None

    def _restore_notes(self, saved: list[dict[str, Any]]) -> None:
        names = [note["name"] for note in saved]
        for gone in self.notes.exclude(name__in=names):
            gone.delete()
        for position, kept in enumerate(saved):
            values = {
                "attention_when": "",
                **kept,
                "choices": "\n".join(kept["choices"]),
                "position": position,
            }
            NoteField.objects.update_or_create(agent=self, name=kept["name"], defaults=values)

    @property
    def current_revision(self) -> AgentRevision | None:
        return self.revisions.order_by("-number").first()

    def signing_secret(self) -> str:
        """This number's own webhook secret, read from the environment (never stored here)."""
        return read_env(self.signing_secret_env)

    def webhook_signing_secret(self) -> str:
        """The key finished calls are signed with (read from the environment, never stored)."""
        return signing_secret_for(self.webhook_secret_env, self.phone_number, WEBHOOK_KEY_NAME)

    def call_settings(self) -> AgentSettings:
        """What a call would know of the agent as it is now (calls use their revision's)."""
        return settings_from(self.snapshot())


class AgentRevision(models.Model):
    """One saved state of an agent: who changed what, and when. Calls point at the one they used."""

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveIntegerField(help_text="1 for the first version, then 2, 3, …")
    created_at = models.DateTimeField(auto_now_add=True, verbose_name="saved at")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    author_name = models.CharField(
        max_length=150, blank=True, verbose_name="saved by", help_text="Kept if the user goes."
    )
    changes = models.JSONField(default=dict, help_text="Each changed setting: from → to.")
    snapshot = models.JSONField(default=dict, help_text="Every setting as it was saved.")
    restored_from = models.PositiveIntegerField(
        null=True, blank=True, help_text="The earlier version this one brought back, if any."
    )
    published_at = models.DateTimeField(
        null=True, blank=True, help_text="When this version was handed to callers."
    )
    published_by = models.CharField(max_length=150, blank=True, help_text="Who published it.")

    class Meta:
        ordering = ["-created_at", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["agent", "number"], name="unique_revision_number")
        ]

    def __str__(self) -> str:
        return f"{self.agent.name} v{self.number}"

    def call_settings(self) -> AgentSettings:
        """What a call on this revision knows of its agent (built when its stream opens)."""
        return settings_from(self.snapshot)

    def value(self, name: str) -> Any:
        """A setting as this version had it (a setting added since: the default it had then)."""
        return _value(self.snapshot, name)

    def differences_from_now(self) -> dict[str, tuple[Any, Any]]:
        """Each setting this version had that the agent no longer has: (then, now)."""
        now = self.agent.snapshot()
        return {
            name: (self.snapshot.get(name), now.get(name))
            for name in [*now, *(n for n in self.snapshot if n not in now)]
            if self.snapshot.get(name) != now.get(name)
        }


# Inside one_revision(), saving an agent or its tools records nothing at once: each agent changed
# gets one revision when it ends (an admin page saves the agent, then each of its tools).
_BATCH: ContextVar[set[int] | None] = ContextVar("agent_revisions", default=None)


@contextmanager
def one_revision(author: Any = None, restored_from: int | None = None) -> Iterator[None]:
    token = _BATCH.set(set())
    try:
        yield
        changed = _BATCH.get() or set()
    finally:
        _BATCH.reset(token)
    for pk in sorted(changed):
        Agent.objects.get(pk=pk).record_revision(author, restored_from)


SETTINGS_FIELDS = [f.name for f in dataclasses.fields(AgentSettings) if f.name != "tools"]


def settings_from(snapshot: dict[str, Any]) -> AgentSettings:
    """Typed settings from a revision's snapshot."""
    number = str(snapshot.get("phone_number", ""))
    tools = tuple(tool_spec(saved, number) for saved in snapshot.get("tools", []))
    return AgentSettings(**{name: _value(snapshot, name) for name in SETTINGS_FIELDS}, tools=tools)


def _value(snapshot: dict[str, Any], name: str) -> Any:
    """A setting from a snapshot; one added after the revision was saved takes the Agent
    field's default, as the agent had it then (tools: none)."""
    if name in snapshot:
        return snapshot[name]
    if name in ("tools", "notes"):
        return []
    field = Agent._meta.get_field(name)
    return field.get_default() if isinstance(field, models.Field) else None


def _name(author: Any) -> str:
    """Who made a change, as kept with it: a user's name, or what the caller said (a script)."""
    if getattr(author, "pk", None):
        return str(author.get_username())
    return str(author or "system")


# The models kept in files of their own, found by Django here.
__all__ = ["Agent", "AgentRevision", "NoteField", "Tool"]
