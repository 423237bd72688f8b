"""What each call was about: a text model reads the transcript and writes a short summary and
the agent's notes (as the call's version listed them), through OpenAI's Responses API with a
strict JSON schema. Its cost is added to the call's."""

from __future__ import annotations

import json
import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import httpx
from django.conf import settings
from jsonschema import Draft202012Validator

from agents.models import Agent
from calls.aftercall.models import AfterCallTask, Outcome
from calls.models import AfterCall, Call
from calls.turns import Role

MILLION = Decimal(1_000_000)
DEFAULT_MODEL = Agent._meta.get_field("analysis_model").get_default()
# A transcript longer than this is cut from the middle: the start says why they called, the end
# how it ended. 60,000 characters is about an hour of talk.
MAX_TRANSCRIPT_CHARS = 60_000
MAX_OUTPUT_TOKENS = 2000
SUMMARY = "One or two sentences: what the caller wanted and how the call ended."
INSTRUCTIONS = (
    "You read the transcript of a phone call between a caller and an AI phone agent, and write "
    "what the call was about for the people who run the agent. Write the summary in English, "
    "plainly, without greeting or preamble. For each note, use only what the transcript says; "
    "when it does not say, give null. Transcripts are machine-made and may misspell names."
)


OPENAI_URL = "https://api.openai.com/v1"
NO_KEY = (
    "no summary: the server has no OPENAI_API_KEY, which OpenAI needs (without one, `make run` "
    "uses its local stand-in instead)"
)


def run(task: AfterCallTask) -> Outcome:
    call = task.call
    revision = call.agent_revision
    notes = list(revision.value("notes") or []) if revision is not None else []
    model = str(revision.value("analysis_model") if revision else DEFAULT_MODEL)
    body = request_body(model, notes, transcript_text(call))
    key = settings.OPENAI_API_KEY
    if not key and settings.OPENAI_BASE_URL == OPENAI_URL:
        return Outcome(False, NO_KEY, give_up=True)
    try:
        response = httpx.post(
            f"{settings.OPENAI_BASE_URL}/responses",
            json=body,
            # No key, no header: `make run`'s stand-in needs none, and "Bearer " with nothing
            # after it is a header httpx refuses to send.
            headers={"Authorization": f"Bearer {key}"} if key else {},
            timeout=settings.ANALYSIS_TIMEOUT_S,
            follow_redirects=False,
        )
    except httpx.HTTPError as e:
        return Outcome(False, f"OpenAI could not be reached: {e!r}")
    if response.status_code != 200:
        return Outcome(False, f"OpenAI answered {response.status_code}: {_error(response)}",
                       response.status_code)  # fmt: skip
    try:
        summary, values, usage = parse(response.json(), notes)
    except ValueError as e:
        return Outcome(False, f"OpenAI's answer could not be used: {e}", response.status_code)
    call.summary = summary
    call.notes = values
    call.analysis_cost_usd = cost(usage)
    call.metadata["analysis"] = {"model": model, "usage": usage}
    call.analysis = AfterCall.DONE
    call.save()
    return Outcome(True, f"{len(values)} note(s), {usage.get('total_tokens', 0)} tokens", 200)


def gave_up(task: AfterCallTask) -> None:
    call = task.call
    call.analysis = AfterCall.FAILED
    call.save()


def transcript_text(call: Call) -> str:
    lines = []
    for turn in call.turns.all():
        if turn.role == Role.TOOL:
            lines.append(f"(the agent used the tool {turn.tool_name}: {turn.result_text})")
        elif turn.text:
            who = "Caller" if turn.role == Role.CALLER else "Agent"
            lines.append(f"{who}: {turn.text}")
    text = "\n".join(lines)
    if len(text) > MAX_TRANSCRIPT_CHARS:
        half = MAX_TRANSCRIPT_CHARS // 2
        text = f"{text[:half]}\n(… the middle of the call is left out …)\n{text[-half:]}"
    return text


def note_keys(notes: list[dict[str, Any]]) -> list[str]:
    """A JSON property name for each note (its name may hold spaces and punctuation)."""
    keys: list[str] = []
    for note in notes:
        key = re.sub(r"\W+", "_", note["name"].lower()).strip("_") or "note"
        while key in keys:
            key += "_"
        keys.append(key)
    return keys


def note_schema(note: dict[str, Any]) -> dict[str, Any]:
    described = f"{note['name']}. {note.get('description') or ''}".strip()
    kind = note.get("kind")
    if kind == "yes_no":
        return {"type": ["boolean", "null"], "description": described}
    if kind == "number":
        return {"type": ["number", "null"], "description": described}
    if kind == "choice":
        return {"type": ["string", "null"], "enum": [*note["choices"], None],
                "description": described}  # fmt: skip
    return {"type": ["string", "null"], "description": described}


def schema(notes: list[dict[str, Any]]) -> dict[str, Any]:
    """Strict structured output: every property required, nothing else allowed."""
    keys = note_keys(notes)
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["summary", "notes"],
        "properties": {
            "summary": {"type": "string", "description": SUMMARY},
            "notes": {
                "type": "object",
                "additionalProperties": False,
                "required": keys,
                "properties": {k: note_schema(n) for k, n in zip(keys, notes, strict=True)},
            },
        },
    }


def request_body(model: str, notes: list[dict[str, Any]], transcript: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": model,
        "instructions": INSTRUCTIONS,
        "input": f"The transcript:\n\n{transcript}",
        "text": {
            "format": {
                "type": "json_schema",
                "name": "call_notes",
                "strict": True,
                "schema": schema(notes),
            }
        },
        "max_output_tokens": MAX_OUTPUT_TOKENS,
        "store": False,
    }
    if model.startswith("gpt-5"):
        body["reasoning"] = {"effort": "low"}  # a summary needs little thought
    return body


def parse(
    response: dict[str, Any], notes: list[dict[str, Any]]
) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """(summary, notes by name, usage) from a Responses API answer; ValueError if unusable."""
    if response.get("status") != "completed":
        why = (response.get("incomplete_details") or {}).get("reason") or response.get("error")
        raise ValueError(f"the response is {response.get('status')} ({why})")
    texts = [
        part.get("text", "")
        for item in response.get("output") or []
        if item.get("type") == "message"
        for part in item.get("content") or []
        if part.get("type") == "output_text"
    ]
    if not texts:
        refusals = [
            part.get("refusal")
            for item in response.get("output") or []
            for part in item.get("content") or []
            if part.get("type") == "refusal"
        ]
        raise ValueError(f"the model refused: {refusals[0]}" if refusals else "no text in it")
    try:
        data = json.loads(texts[0])
    except ValueError:
        raise ValueError("its text is not JSON") from None
    errors = list(Draft202012Validator(schema(notes)).iter_errors(data))
    if errors:
        raise ValueError(f"it does not match the notes asked for: {errors[0].message}")
    keys = note_keys(notes)
    values = {note["name"]: data["notes"][key] for key, note in zip(keys, notes, strict=True)}
    return str(data["summary"]).strip(), values, dict(response.get("usage") or {})


def cost(usage: dict[str, Any]) -> Decimal:
    prices = settings.ANALYSIS_PRICE_USD_PER_M
    cached = _count((usage.get("input_tokens_details") or {}).get("cached_tokens"))
    fresh = max(0, _count(usage.get("input_tokens")) - cached)
    output = _count(usage.get("output_tokens"))  # reasoning tokens included, and billed so
    total = fresh * prices["input"] + cached * prices["input_cached"] + output * prices["output"]
    return (total / MILLION).quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)


def _count(value: Any) -> int:
    return value if isinstance(value, int) and value > 0 else 0


def _error(response: httpx.Response) -> str:
    try:
        error = response.json().get("error") or {}
        return str(error.get("message") or error)[:300]
    except ValueError:
        return response.text[:300]
