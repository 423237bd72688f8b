"""Tools an agent can call during a call: the two built in, and custom ones answered over HTTPS.

Plain asyncio; the consumer builds the ToolSpecs from the agent. A custom tool receives the
model's arguments as a JSON POST, signed like Sautikit's webhooks (`X-Tool-Signature:
t=<unix>,v1=<hex HMAC-SHA256(secret, body + "." + t)>`), and its JSON answer goes back to the
model. Whatever goes wrong (bad arguments, timeout, an error status, an answer that is not JSON)
becomes an error result for the model: the call goes on.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from jsonschema import Draft202012Validator

from calls.signatures import sign

SIGNATURE_HEADER = "X-Tool-Signature"
END_CALL = "end_call"
TRANSFER_CALL = "transfer_call"
# Handled by the bridge itself; a custom tool may not take these names.
BUILTIN_TOOL_NAMES = {END_CALL, TRANSFER_CALL}
# Larger answers are refused: the model's context is small, and a cut answer is not JSON.
MAX_ANSWER_BYTES = 16 * 1024

END_CALL_DEFINITION = {
    "type": "function",
    "name": END_CALL,
    "description": "End the phone call. Use it when the conversation is over and the caller has "
    "nothing else to ask. You will then be asked to say a short goodbye; the line closes after.",
    "parameters": {
        "type": "object",
        "properties": {
            "reason": {"type": "string", "description": "Why the call is ending, in a few words."}
        },
        "required": [],
    },
}
TRANSFER_CALL_DEFINITION = {
    "type": "function",
    "name": TRANSFER_CALL,
    "description": "Put the caller through to a person. Use it when the caller asks for a human "
    "or when you cannot help. You will then be asked to tell the caller they are being put "
    "through; the transfer happens after that.",
    "parameters": {
        "type": "object",
        "properties": {
            "reason": {"type": "string", "description": "Why the caller needs a person."}
        },
        "required": [],
    },
}


@dataclass
class ToolSpec:
    name: str
    description: str
    parameters: dict[str, Any]
    endpoint: str
    secret: str = ""
    timeout_s: float = 5.0

    def definition(self) -> dict[str, Any]:
        return {
            "type": "function",
            "name": self.name,
            "description": self.description,
            "parameters": self.parameters,
        }


@dataclass
class ToolOutcome:
    ok: bool
    result: Any
    duration_ms: int = 0

    def output(self) -> str:
        """The function_call_output's `output`: a JSON string, as OpenAI expects."""
        body = self.result if self.ok else {"error": self.result}
        return json.dumps(body, ensure_ascii=False)


@dataclass
class ToolBox:
    """What one call may call: built-ins per the agent's switches, and its custom tools."""

    end_call: bool = True
    transfer_to: str = ""
    custom: dict[str, ToolSpec] = field(default_factory=dict)

    def definitions(self) -> list[dict[str, Any]]:
        tools = []
        if self.end_call:
            tools.append(END_CALL_DEFINITION)
        if self.transfer_to:
            tools.append(TRANSFER_CALL_DEFINITION)
        tools += [spec.definition() for spec in self.custom.values()]
        return tools

    async def run(self, name: str, arguments: str, call_id: str) -> ToolOutcome:
        """Call a custom tool; never raises."""
        started = time.monotonic()
        outcome = await self._run(name, arguments, call_id)
        outcome.duration_ms = round((time.monotonic() - started) * 1000)
        return outcome

    async def _run(self, name: str, arguments: str, call_id: str) -> ToolOutcome:
        spec = self.custom.get(name)
        if spec is None:
            return ToolOutcome(False, f"there is no tool named {name!r}")
        args, problem = parse_arguments(arguments, spec.parameters)
        if problem:
            return ToolOutcome(False, problem)
        if not spec.secret:
            return ToolOutcome(False, "the tool is not set up (no signing secret on the server)")
        body = json.dumps(args, ensure_ascii=False).encode()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(spec.secret, body),
            "X-Call-Id": call_id,
            "X-Tool-Name": spec.name,
        }
        try:
            async with httpx.AsyncClient(timeout=spec.timeout_s, follow_redirects=False) as client:
                response = await client.post(spec.endpoint, content=body, headers=headers)
        except httpx.TimeoutException:
            return ToolOutcome(False, f"the tool did not answer within {spec.timeout_s:g} s")
        except httpx.HTTPError as e:
            return ToolOutcome(False, f"the tool could not be reached ({type(e).__name__})")
        if response.status_code >= 300:
            return ToolOutcome(False, f"the tool answered with HTTP {response.status_code}")
        if len(response.content) > MAX_ANSWER_BYTES:
            return ToolOutcome(False, f"the tool's answer was over {MAX_ANSWER_BYTES // 1024} KB")
        try:
            return ToolOutcome(True, json.loads(response.content))
        except ValueError:
            return ToolOutcome(False, "the tool's answer was not JSON")


def parse_arguments(arguments: str, schema: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The model's arguments as a dict, or an explanation the model can act on."""
    try:
        args = json.loads(arguments or "{}")
    except ValueError:
        return {}, "the arguments were not valid JSON"
    if not isinstance(args, dict):
        return {}, "the arguments must be a JSON object"
    errors = sorted(Draft202012Validator(schema).iter_errors(args), key=lambda e: list(e.path))
    if errors:
        first = errors[0]
        where = "/".join(str(p) for p in first.path)
        return {}, f"invalid arguments{' at ' + where if where else ''}: {first.message}"
    return args, ""
