"""Tools an agent can call during a call: the two built in, and custom ones answered over HTTPS.

Plain asyncio; the consumer builds the ToolSpecs from the agent. A custom tool receives the
model's arguments as a JSON POST, signed with the tool's own key over the method, the URL, the
call id, the tool's name, the body and the time (`signed_message`), and its JSON answer goes
back to the model. Whatever goes wrong (bad arguments, timeout, an error status, an answer that
is not JSON, an address inside our network) becomes an error result for the model: the call
goes on, and the model has something to say.

Endpoints are on the internet, and so is whoever typed them in: the whole request has one
deadline, and outbound.py keeps it out of our own network and cuts the answer at 16 KB.

The model's arguments are checked against the tool's schema by tool_schemas.py, in bounded
time.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

from streaming.core.call.tool_schemas import MAX_ARGUMENTS_BYTES, parse_arguments
from streaming.ground import strict_json
from streaming.ground.outbound import Refused, endpoint_problem, post_capped
from streaming.ground.signatures import sign

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


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    parameters: dict[str, Any]
    endpoint: str
    secret: str
    timeout_s: float
    # Development and tests only: endpoints on this machine (plain http to loopback).
    allow_loopback: bool

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

    def output(self) -> str:
        """The function_call_output's `output`: a JSON string, as OpenAI expects."""
        body = self.result if self.ok else {"error": self.result}
        return json.dumps(body, ensure_ascii=False)


@dataclass
class ToolBox:
    """What one call may call: built-ins per the agent's switches, and its custom tools."""

    end_call: bool
    transfer_to: str
    custom: dict[str, ToolSpec]

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
        spec = self.custom.get(name)
        if spec is None:
            return ToolOutcome(False, f"there is no tool named {name!r}")
        args, problem = parse_arguments(arguments, spec.parameters)
        if problem:
            return ToolOutcome(False, problem)
        if not spec.secret:
            return ToolOutcome(False, "the tool is not set up (no signing secret on the server)")
        problem = endpoint_problem(spec.endpoint, spec.allow_loopback)
        if problem:
            return ToolOutcome(False, f"the tool is not reachable from here ({problem})")
        body = json.dumps(args, ensure_ascii=False).encode()
        headers = {
            "Content-Type": "application/json",
            "Accept-Encoding": "identity",
            SIGNATURE_HEADER: sign(
                spec.secret, signed_message("POST", spec.endpoint, call_id, spec.name, body)
            ),
            "X-Call-Id": call_id,
            "X-Tool-Name": spec.name,
        }
        try:
            # One deadline for everything: resolving, connecting, headers and body.
            async with asyncio.timeout(spec.timeout_s):
                status, answer = await post_capped(spec.endpoint, body, headers,
                                                   spec.allow_loopback, MAX_ANSWER_BYTES,
                                                   "the tool")  # fmt: skip
        except TimeoutError:
            return ToolOutcome(False, f"the tool did not answer within {spec.timeout_s:g} s")
        except Refused as e:
            return ToolOutcome(False, str(e))
        except (httpx.HTTPError, httpcore.ConnectError, OSError) as e:
            return ToolOutcome(False, f"the tool could not be reached ({type(e).__name__})")
        if status >= 300:
            return ToolOutcome(False, f"the tool answered with HTTP {status}")
        try:
            return ToolOutcome(True, json.loads(answer))
        except ValueError:
            return ToolOutcome(False, "the tool's answer was not JSON")


def signed_message(method: str, url: str, call_id: str, tool_name: str, body: bytes) -> bytes:
    """What a tool request's signature covers (before the ".<t>" the signature scheme adds).

    Method, URL, call id and tool name, one per line, then the body: a signed request cannot
    be replayed to another tool, another endpoint or as another call's.
    """
    head = "\n".join((method.upper(), url, call_id, tool_name))
    return head.encode() + b"\n" + body


def shown_arguments(arguments: str) -> Any:
    """A call's arguments as the transcript shows them: parsed when they are JSON."""
    if len(arguments) > MAX_ARGUMENTS_BYTES:
        return arguments[:MAX_ARGUMENTS_BYTES] + "…"
    try:
        return strict_json.loads(arguments or "{}")
    except ValueError:
        return arguments
