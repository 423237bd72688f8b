"""Requests to addresses someone typed in (custom tools, the end-of-call webhook).

Those addresses are on the internet, and so is whoever typed them in: the answer is read as a
stream and cut at a size cap (never decompressed), redirects are not followed, and the address
is checked after DNS resolution, on the very address connected to, so that no name can lead a
request into our own network (loopback, private, link-local, cloud metadata). Plain asyncio.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
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
#
# The ranges are listed here rather than read from ipaddress's is_global and is_private: their
# tables changed between Python versions (3.11.7 calls 64:ff9b::/96, 2002::/16, 3fff::/20,
# fec0::/10 and 192.0.0.9 global; later ones do not all agree), and which addresses we reach
# must not change with an upgrade. From IANA's special-purpose registries, refusing anything not
# globally reachable, and the few that are but have no business serving an HTTPS endpoint.

_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network

_V4_LOOPBACK = _V4("127.0.0.0/8")
_V4_REFUSED: tuple[tuple[ipaddress.IPv4Network, str], ...] = (
    (_V4("0.0.0.0/8"), "a private address"),  # "this network": Linux connects 0.0.0.0 to itself
    (_V4("10.0.0.0/8"), "a private address"),
    (_V4("100.64.0.0/10"), "not a public address"),  # shared by a carrier's NAT (CGNAT)
    (_V4("169.254.0.0/16"), "link-local (cloud metadata lives there)"),
    (_V4("172.16.0.0/12"), "a private address"),
    (_V4("192.0.0.0/24"), "not a public address"),  # IETF protocols: DS-Lite, NAT64 discovery
    (_V4("192.0.2.0/24"), "not a public address"),  # documentation
    (_V4("192.88.99.0/24"), "not a public address"),  # 6to4 relays: whichever is nearest
    (_V4("192.168.0.0/16"), "a private address"),
    (_V4("198.18.0.0/15"), "not a public address"),  # benchmarking
    (_V4("198.51.100.0/24"), "not a public address"),  # documentation
    (_V4("203.0.113.0/24"), "not a public address"),  # documentation
    (_V4("224.0.0.0/4"), "not a public address"),  # multicast
    (_V4("240.0.0.0/4"), "not a public address"),  # reserved, and the broadcast address
)

_V6_LOOPBACK = ipaddress.IPv6Address("::1")
_V6_UNSPECIFIED = ipaddress.IPv6Address("::")  # Linux connects it to this machine too
# A packet to these ends up at the IPv4 address inside: on a dual-stack socket (mapped), through
# a NAT64 gateway (RFC 6052, 8215), a SIIT translator (RFC 2765), or a tunnel (compatible, 6to4).
_V4_MAPPED = _V6("::ffff:0:0/96")
_V4_COMPATIBLE = _V6("::/96")
_V4_TRANSLATED = _V6("::ffff:0:0:0/96")
_NAT64 = _V6("64:ff9b::/96")
_NAT64_LOCAL = _V6("64:ff9b:1::/48")
_GLOBAL_UNICAST = _V6("2000::/3")  # IANA allocates public addresses from nowhere else
_V6_REFUSED: tuple[tuple[ipaddress.IPv6Network, str], ...] = (
    (_V4_COMPATIBLE, "not a public address"),  # deprecated (RFC 4291)
    (_V4_TRANSLATED, "not a public address"),  # a SIIT translator's own
    (_NAT64_LOCAL, "not a public address"),  # the operator's own; the IPv4's place is theirs too
    (_V6("100::/64"), "not a public address"),  # discard
    (_V6("5f00::/16"), "not a public address"),  # segment routing
    (_V6("fc00::/7"), "a private address"),
    (_V6("fe80::/10"), "link-local (cloud metadata lives there)"),
    (_V6("fec0::/10"), "a private address"),  # site-local, deprecated but still routed inside
    (_V6("ff00::/8"), "not a public address"),  # multicast
    # Inside 2000::/3:
    (_V6("2001::/23"), "not a public address"),  # IETF protocols: Teredo, benchmarking, ORCHID
    (_V6("2001:db8::/32"), "not a public address"),  # documentation
    (_V6("2002::/16"), "a 6to4 address (deprecated, RFC 7526)"),
    (_V6("3fff::/20"), "not a public address"),  # documentation
)


def address_problem(address: str, allow_loopback: bool = False) -> str:
    """Why a request may not go to this IP address, or "" if it may (ValueError: not one)."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv4Address):
        return _ipv4_problem(ip, allow_loopback)
    return _ipv6_problem(ip, allow_loopback)


def _ipv4_problem(ip: ipaddress.IPv4Address, allow_loopback: bool) -> str:
    if ip in _V4_LOOPBACK:
        return "" if allow_loopback else f"{ip} is this machine"
    for network, what in _V4_REFUSED:
        if ip in network:
            return f"{ip} is {what}"
    return ""


def _ipv6_problem(zoned: ipaddress.IPv6Address, allow_loopback: bool) -> str:
    ip = ipaddress.IPv6Address(int(zoned))  # a zone id would make ::1%lo unequal to ::1
    if ip == _V6_LOOPBACK:
        return "" if allow_loopback else f"{ip} is this machine"
    if ip == _V6_UNSPECIFIED:
        return f"{ip} is not a public address"
    for inner, mapped in _embedded_ipv4(ip):
        # Only a mapped address is this machine's own loopback; through a translator or a
        # tunnel, 127.0.0.1 is someone else's.
        problem = _ipv4_problem(inner, allow_loopback and mapped)
        if problem:
            return f"{ip} stands for {inner}, and {problem}"
    for network, what in _V6_REFUSED:
        if ip in network:
            return f"{ip} is {what}"
    if ip not in _GLOBAL_UNICAST and ip not in _V4_MAPPED and ip not in _NAT64:
        return f"{ip} is not a public address"
    if zoned.scope_id:
        # A zone names one of our network interfaces: nothing on the internet needs one.
        return f"{zoned} names a network interface (%{zoned.scope_id})"
    return ""


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[tuple[ipaddress.IPv4Address, bool]]:
    """The IPv4 addresses a packet to `ip` may be delivered to, each with whether `ip` is the
    IPv4-mapped form (a dual-stack socket's own way of writing it)."""
    last32 = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _V4_MAPPED:
        return [(last32, True)]
    if ip in _V4_COMPATIBLE or ip in _V4_TRANSLATED or ip in _NAT64:
        return [(last32, False)]
    if ip in _NAT64_LOCAL:
        return []  # refused whatever it carries: where the IPv4 sits is the operator's choice
    if ip.sixtofour is not None:
        return [(ip.sixtofour, False)]
    if ip.teredo is not None:
        server, client = ip.teredo  # the client's is stored inverted, so that NATs leave it be
        return [(server, False), (client, False)]
    # ISATAP's interface id, after any prefix: that site's router sends it to the IPv4 inside.
    if (int(ip) >> 32) & 0xFDFFFFFF == 0x5EFE:
        return [(last32, False)]
    return []


def endpoint_problem(url: str, allow_loopback: bool = False) -> str:
    """What is wrong with an endpoint before any DNS: scheme and literal addresses."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:  # "[::1" or "[127.0.0.1]": unreadable, and never sent anywhere
        return "not a valid address"
    # As resolvers and httpx read it: the ideographic and fullwidth full stops are dots (IDNA),
    # and a final dot names the same host.
    host = host.translate(IDNA_DOTS).rstrip(".")
    if not host:
        return "no host in the address"
    if host.endswith(".localhost"):
        host = "localhost"  # every name under localhost is this machine (RFC 6761)
    plain_local = parts.scheme == "http" and allow_loopback and host in LOOPBACK_NAMES
    if parts.scheme != "https" and not plain_local:
        return "only https:// addresses" + (" (plain http only to this machine)"
                                            if allow_loopback else "")  # fmt: skip
    if host in LOOPBACK_NAMES - {"127.0.0.1", "::1"}:
        return "" if allow_loopback else f"{host} is this machine"
    try:
        return address_problem(host, allow_loopback)
    except ValueError:
        pass
    if ":" in host:
        return f"{host} is not a valid address"  # no name has one
    numeric = _numeric_ipv4(host)
    if numeric is not None:
        problem = address_problem(numeric, allow_loopback)
        return f"{host} stands for {numeric}, and {problem}" if problem else ""
    return ""  # a name: checked once resolved


LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}
IDNA_DOTS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})

# inet_aton's other ways to write an IPv4 address ("2130706433", "0x7f.1", "0177.0.0.1",
# "127.1"), which getaddrinfo reads as numbers too: refused here already, not only once
# resolved. The pattern keeps out the trailing text inet_aton would ignore.
_NUMERIC_HOST = re.compile(r"[0-9a-fx.]+")


def _numeric_ipv4(host: str) -> str | None:
    if not _NUMERIC_HOST.fullmatch(host):
        return None
    try:
        return socket.inet_ntoa(socket.inet_aton(host))
    except OSError:
        return None


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
