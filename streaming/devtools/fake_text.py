"""A stand-in for OpenAI's Responses API (POST /v1/responses), for the summaries and notes
written after each call: offline, deterministic, and as strict as OpenAI about the request.

It refuses what OpenAI refuses (unknown parameters, a structured-output schema that is not
strict: an object without "additionalProperties": false or with a property not required) with
OpenAI's error shape, and answers with a whole Response object: a message whose output_text is
JSON matching the schema, and usage. The values are made from the transcript, so that a test
knows them: the summary counts the turns; a text note quotes its description's first sentence
(our notes' names), a number note is the caller's turns, a yes/no note whether a tool was used,
a list note its first answer.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from streaming.devtools.servers import LoopbackHTTP

# What the Responses API takes (openai-python's ResponseCreateParams); anything else is refused.
KNOWN_PARAMETERS = {
    "background", "conversation", "include", "input", "instructions", "max_output_tokens",
    "max_tool_calls", "metadata", "model", "parallel_tool_calls", "previous_response_id",
    "prompt", "prompt_cache_key", "reasoning", "safety_identifier", "service_tier", "store",
    "stream", "stream_options", "temperature", "text", "tool_choice", "tools", "top_logprobs",
    "top_p", "truncation", "user",
}  # fmt: skip
JSON_TYPES = {"string", "number", "integer", "boolean", "object", "array", "null"}
ids = itertools.count(1)


@dataclass
class TextOptions:
    api_key: str | None = None  # None: any key (or none) is accepted
    fail_first: int = 0  # answer the first N requests with this status…
    fail_status: int = 500  # …and OpenAI's error for it
    requests: list[dict[str, Any]] = field(default_factory=list)  # every body received


class FakeTextServer:
    def __init__(
        self, options: TextOptions | None = None, port: int = 0, poll_interval: float = 0.5
    ) -> None:
        self.options = options or TextOptions()
        self.http = LoopbackHTTP(_handler(self.options), port, poll_interval)

    @property
    def port(self) -> int:
        return self.http.port

    @property
    def base_url(self) -> str:
        """What OPENAI_BASE_URL is set to."""
        return f"http://127.0.0.1:{self.port}/v1"

    def close(self) -> None:
        self.http.close()


def _handler(options: TextOptions) -> type[BaseHTTPRequestHandler]:
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            if self.path.rstrip("/") != "/v1/responses":
                return self._error(404, f"Invalid URL (POST {self.path})", "invalid_request_error")
            if options.api_key is not None and (
                self.headers.get("Authorization") != f"Bearer {options.api_key}"
            ):
                return self._error(401, "Incorrect API key provided.", "invalid_request_error",
                                   code="invalid_api_key")  # fmt: skip
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                body = json.loads(raw)
            except ValueError:
                return self._error(400, "We could not parse the JSON body of your request.",
                                   "invalid_request_error")  # fmt: skip
            with lock:
                options.requests.append(body)
                failing = len(options.requests) <= options.fail_first
            if failing:
                status = options.fail_status
                kind = "server_error" if status >= 500 else "rate_limit_exceeded"
                return self._error(status, "The server had an error while processing your "
                                   "request.", kind)  # fmt: skip
            problem = request_problem(body)
            if problem:
                return self._error(400, problem[1], "invalid_request_error", param=problem[0])
            self._json(200, respond(body))

        def _error(self, status: int, message: str, kind: str, param: str | None = None,
                   code: str | None = None) -> None:  # fmt: skip
            error = {"message": message, "type": kind, "param": param, "code": code}
            self._json(status, {"error": error})

        def _json(self, status: int, data: dict[str, Any]) -> None:
            out = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


def request_problem(body: Any) -> tuple[str | None, str] | None:
    """(param, message) for a request OpenAI would refuse, or None."""
    if not isinstance(body, dict):
        return None, "The request body must be a JSON object."
    for name in body:
        if name not in KNOWN_PARAMETERS:
            return name, f"Unknown parameter: '{name}'."
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "model", "Missing required parameter: 'model'."
    if not isinstance(body.get("input"), str | list):
        return "input", "Invalid type for 'input': expected a string or an array."
    fmt = (body.get("text") or {}).get("format")
    if fmt is None or fmt.get("type") == "text":
        return None
    if fmt.get("type") != "json_schema":
        return "text.format.type", f"Invalid value: '{fmt.get('type')}'."
    if not isinstance(fmt.get("name"), str) or not fmt["name"]:
        return "text.format.name", "Missing required parameter: 'text.format.name'."
    if fmt.get("strict") is True:
        problem = strict_problem(fmt.get("schema"), "text.format.schema")
        if problem:
            message = f"Invalid schema for response_format '{fmt['name']}': {problem}"
            return "text.format.schema", message
    return None


def strict_problem(schema: Any, where: str) -> str:
    """Why a schema cannot be used in strict mode, or ""."""
    if not isinstance(schema, dict):
        return f"{where} must be an object."
    kinds = schema.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    if not all(kind in JSON_TYPES for kind in kinds):
        return f"{where} has an unknown type {schema.get('type')!r}."
    if "enum" in schema and "null" in kinds and None not in schema["enum"]:
        return f"{where}: a nullable enum must list null."
    if "object" in kinds:
        if schema.get("additionalProperties") is not False:
            return f"{where}: 'additionalProperties' is required to be supplied and to be false."
        properties = schema.get("properties") or {}
        missing = [name for name in properties if name not in (schema.get("required") or [])]
        if missing:
            return (f"{where}: 'required' is required to be supplied and to be an array "
                    f"including every key in properties. Missing '{missing[0]}'.")  # fmt: skip
        for name, sub in properties.items():
            problem = strict_problem(sub, f"{where}.properties.{name}")
            if problem:
                return problem
    if "array" in kinds:
        return strict_problem(schema.get("items"), f"{where}.items")
    return ""


def respond(body: dict[str, Any]) -> dict[str, Any]:
    text_in = str(body.get("instructions") or "") + json.dumps(body.get("input"))
    fmt = (body.get("text") or {}).get("format") or {"type": "text"}
    transcript = body["input"] if isinstance(body["input"], str) else json.dumps(body["input"])
    if fmt.get("type") == "json_schema":
        output = json.dumps(value_for(fmt.get("schema") or {}, "", transcript))
    else:
        output = summary(transcript)
    reasoning = 64 if body.get("reasoning") else 0
    out_tokens = len(output) // 4 + reasoning
    in_tokens = len(text_in) // 4
    now = int(time.time())
    n = next(ids)
    return {
        "id": f"resp_fake{n:06d}",
        "object": "response",
        "created_at": now,
        "status": "completed",
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "model": body["model"],
        "output": [
            {
                "id": f"msg_fake{n:06d}",
                "type": "message",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": output, "annotations": []}],
            }
        ],
        "parallel_tool_calls": True,
        "reasoning": body.get("reasoning") or {"effort": None, "summary": None},
        "store": body.get("store", True),
        "text": {"format": fmt},
        "tool_choice": "auto",
        "tools": [],
        "usage": {
            "input_tokens": in_tokens,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": out_tokens,
            "output_tokens_details": {"reasoning_tokens": reasoning},
            "total_tokens": in_tokens + out_tokens,
        },
    }


def summary(transcript: str) -> str:
    callers = transcript.count("\nCaller:") + transcript.startswith("Caller:")
    agents = transcript.count("\nAgent:") + transcript.startswith("Agent:")
    return f"The caller spoke {callers} time(s) and the agent answered {agents} time(s)."


def value_for(schema: dict[str, Any], name: str, transcript: str) -> Any:
    kinds = schema.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    if "enum" in schema:
        return next((v for v in schema["enum"] if v is not None), None)
    if "object" in kinds:
        return {key: value_for(sub, key, transcript)
                for key, sub in (schema.get("properties") or {}).items()}  # fmt: skip
    if "boolean" in kinds:
        return "the agent used the tool" in transcript
    if "number" in kinds or "integer" in kinds:
        return transcript.count("Caller:")
    if "array" in kinds:
        return []
    if name == "summary":
        return summary(transcript)
    # What the schema says the value is, up to its first full stop.
    return f"(noted: {str(schema.get('description') or name).split('. ')[0]})"
