"""Tools an agent can call during a call: the two built in, and custom ones answered over HTTPS.

Plain asyncio; the consumer builds the ToolSpecs from the agent. A custom tool receives the
model's arguments as a JSON POST, signed with the tool's own key over the method, the URL, the
call id, the tool's name, the body and the time (`signed_message`), and its JSON answer goes
back to the model. Whatever goes wrong (bad arguments, timeout, an error status, an answer that
is not JSON, an address inside our network) becomes an error result for the model: the call
goes on, and the model has something to say.

Endpoints are on the internet, and so is whoever typed them in: the whole request has one
deadline, the answer is read as a stream and cut at 16 KB (never decompressed), redirects are
not followed, and the address is checked after DNS resolution, on the very address connected
to, so that no name can lead a request into our own network (loopback, private, link-local,
cloud metadata).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx
from jsonschema import Draft202012Validator

from voiceproject.lib.signatures import sign

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
            # One deadline for everything: resolving, connecting, headers and body. httpx's own
            # timeouts are per step, so an endpoint trickling a byte a second never trips them.
            async with asyncio.timeout(spec.timeout_s):
                status, answer = await _post(spec, body, headers)
        except TimeoutError:
            return ToolOutcome(False, f"the tool did not answer within {spec.timeout_s:g} s")
        except _Refused as e:
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


class _Refused(Exception):
    """An answer we will not give the model (its message says why)."""


async def _post(spec: ToolSpec, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    transport = _CheckedTransport(spec.allow_loopback)
    async with (
        # No per-step timeouts: the caller's asyncio.timeout is the one deadline.
        httpx.AsyncClient(transport=transport, follow_redirects=False, timeout=None) as client,  # noqa: S113
        client.stream("POST", spec.endpoint, content=body, headers=headers) as response,
    ):
        if response.headers.get("Content-Encoding", "identity").lower() != "identity":
            raise _Refused("the tool's answer was compressed: answer plain JSON")
        answer = bytearray()
        async for chunk in response.aiter_raw():
            answer += chunk
            if len(answer) > MAX_ANSWER_BYTES:
                raise _Refused(f"the tool's answer was over {MAX_ANSWER_BYTES // 1024} KB")
        return response.status_code, bytes(answer)


# -- where a tool may be ------------------------------------------------------------------------


def address_problem(address: str, allow_loopback: bool = False) -> str:
    """Why a request may not go to this IP address, or "" if it may."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return "" if allow_loopback else f"{ip} is this machine"
    if ip.is_link_local:
        return f"{ip} is link-local (cloud metadata lives there)"
    if ip.is_private:
        return f"{ip} is a private address"
    if not ip.is_global or ip.is_multicast:
        return f"{ip} is not a public address"
    return ""


def endpoint_problem(url: str, allow_loopback: bool = False) -> str:
    """What is wrong with an endpoint before any DNS: scheme and literal addresses."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not host:
        return "no host in the address"
    plain_local = parts.scheme == "http" and allow_loopback and host in LOOPBACK_NAMES
    if parts.scheme != "https" and not plain_local:
        return "only https:// addresses" + (" (plain http only to this machine)"
                                            if allow_loopback else "")  # fmt: skip
    if host in LOOPBACK_NAMES - {"127.0.0.1", "::1"}:
        return "" if allow_loopback else f"{host} is this machine"
    try:
        return address_problem(host, allow_loopback)
    except ValueError:
        return ""  # a name: checked once resolved


LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}


def resolved_problem(host: str, infos: list[Any], allow_loopback: bool = False) -> str:
    """Why a request may not go where `host` resolved to (getaddrinfo's answer), or ""."""
    for info in infos:
        problem = address_problem(str(info[4][0]), allow_loopback)
        if problem:
            return f"{host} resolves to {problem}"
    return ""


async def resolve_checked(host: str, port: int, allow_loopback: bool) -> list[str]:
    """Every address `host` resolves to, if none of them is refused; else _Refused."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    problem = resolved_problem(host, infos, allow_loopback)
    if problem:
        raise _Refused(f"the tool is not reachable from here ({problem})")
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class _CheckedBackend(httpcore.AsyncNetworkBackend):
    """Connects only to addresses resolve_checked allowed, and to exactly those: a name that
    resolves elsewhere a moment later (DNS rebinding) changes nothing."""

    def __init__(self, allow_loopback: bool) -> None:
        self.allow_loopback = allow_loopback
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await resolve_checked(host, port, self.allow_loopback)
        return await self._inner.connect_tcp(addresses[0], port, timeout=timeout,
                                             local_address=local_address,
                                             socket_options=socket_options)  # fmt: skip

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        raise _Refused("the tool is not reachable from here (unix sockets)")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _CheckedTransport(httpx.AsyncHTTPTransport):
    def __init__(self, allow_loopback: bool) -> None:
        super().__init__(retries=0)
        # httpx builds its pool without a way to name the network backend: build it again with
        # ours. TLS still checks the certificate against the name in the URL (SNI included).
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=1,
            network_backend=_CheckedBackend(allow_loopback),
        )


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
