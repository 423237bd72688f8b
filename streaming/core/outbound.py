"""Requests to addresses someone typed in (custom tools, the end-of-call webhook).

Those addresses are on the internet, and so is whoever typed them in: the answer is read as a
stream and cut at a size cap (never decompressed), redirects are not followed, and the address
is checked after DNS resolution, on the very address connected to, so that no name can lead a
request into our own network (loopback, private, link-local, cloud metadata). Plain asyncio.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx


class Refused(Exception):
    """A request not made, or an answer not taken (its message says why, naming `who`)."""


async def post_capped(
    url: str,
    body: bytes,
    headers: dict[str, str],
    allow_loopback: bool,
    max_bytes: int,
    who: str,
    cut: bool = False,
) -> tuple[int, bytes]:
    """POST, and read the answer as sent (never decompressed), up to `max_bytes`: a longer one
    is refused, or with `cut` (only its status matters) read no further.

    No time limit of its own: the caller's asyncio.timeout is the one deadline (httpx's are
    per step, so an endpoint trickling a byte a second never trips them).
    """
    transport = _CheckedTransport(allow_loopback, who)
    async with (
        httpx.AsyncClient(transport=transport, follow_redirects=False, timeout=None) as client,  # noqa: S113
        client.stream("POST", url, content=body, headers=headers) as response,
    ):
        if response.headers.get("Content-Encoding", "identity").lower() != "identity":
            raise Refused(f"{who}'s answer was compressed: answer plain JSON")
        answer = bytearray()
        async for chunk in response.aiter_raw():
            answer += chunk
            if len(answer) > max_bytes:
                if cut:
                    return response.status_code, bytes(answer[:max_bytes])
                raise Refused(f"{who}'s answer was over {max_bytes // 1024} KB")
        return response.status_code, bytes(answer)


# -- where a request may go ---------------------------------------------------------------------


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


async def resolve_checked(host: str, port: int, allow_loopback: bool, who: str) -> list[str]:
    """Every address `host` resolves to, if none of them is refused; else Refused."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    problem = resolved_problem(host, infos, allow_loopback)
    if problem:
        raise Refused(f"{who} is not reachable from here ({problem})")
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class _CheckedBackend(httpcore.AsyncNetworkBackend):
    """Connects only to addresses resolve_checked allowed, and to exactly those: a name that
    resolves elsewhere a moment later (DNS rebinding) changes nothing."""

    def __init__(self, allow_loopback: bool, who: str) -> None:
        self.allow_loopback = allow_loopback
        self.who = who
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await resolve_checked(host, port, self.allow_loopback, self.who)
        return await self._inner.connect_tcp(addresses[0], port, timeout=timeout,
                                             local_address=local_address,
                                             socket_options=socket_options)  # fmt: skip

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        raise Refused(f"{self.who} is not reachable from here (unix sockets)")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _CheckedTransport(httpx.AsyncHTTPTransport):
    def __init__(self, allow_loopback: bool, who: str) -> None:
        super().__init__(retries=0)
        # httpx builds its pool without a way to name the network backend: build it again with
        # ours. TLS still checks the certificate against the name in the URL (SNI included).
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=1,
            network_backend=_CheckedBackend(allow_loopback, who),
        )
