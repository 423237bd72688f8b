"""Where custom tools and the end-of-call webhook may not send a request: IPv6 forms that carry
an IPv4 address inside, special-purpose ranges whatever Python's own tables say, zone ids,
bracketed literals and IPv4 addresses written as numbers. Only the checkers are called: nothing
here connects anywhere."""

from __future__ import annotations

import asyncio
import socket

import pytest

from streaming.ground.outbound import (
    Refused,
    address_problem,
    endpoint_problem,
    resolve_checked,
    resolved_problem,
)


def resolved(address: str) -> list[tuple[object, ...]]:
    """What getaddrinfo answers for a name that resolves to `address`."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    return [(family, socket.SOCK_STREAM, 6, "", (address, 443))]


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("::127.0.0.1", "::7f00:1 stands for 127.0.0.1, and 127.0.0.1 is this machine"),
        ("::10.0.0.1", "10.0.0.1 is a private address"),
        ("::ffff:0:127.0.0.1", "127.0.0.1 is this machine"),
        ("::ffff:0:169.254.169.254", "169.254.169.254 is link-local"),
        ("64:ff9b::7f00:1", "64:ff9b::7f00:1 stands for 127.0.0.1, and 127.0.0.1 is this machine"),
        ("64:ff9b::169.254.169.254", "169.254.169.254 is link-local"),
        ("64:ff9b::192.168.1.1", "192.168.1.1 is a private address"),
        ("2002:7f00:1::", "2002:7f00:1:: stands for 127.0.0.1, and 127.0.0.1 is this machine"),
        ("2002:a9fe:a9fe::1", "169.254.169.254 is link-local"),
        ("2002:a00:1:5::9", "10.0.0.1 is a private address"),
        # Teredo: the server's IPv4 in bits 32..64, the client's in the last 32, inverted.
        ("2001:0:808:808::80ff:fffe", "127.0.0.1 is this machine"),
        ("2001:0:a00:1::f7f7:f7f7", "10.0.0.1 is a private address"),
        # ISATAP's interface id, after any prefix.
        ("2606:4700::5efe:a00:1", "10.0.0.1 is a private address"),
        ("2606:4700::200:5efe:a9fe:a9fe", "169.254.169.254 is link-local"),
    ],
)
def test_it_judges_an_ipv6_address_by_the_ipv4_address_inside_it(address, why):
    assert why in address_problem(address)
    assert why in resolved_problem("tools.example.com", resolved(address))
    assert why in endpoint_problem(f"https://[{address}]/t")


@pytest.mark.parametrize(
    "address",
    [
        "::8.8.8.8",  # IPv4-compatible: deprecated, routed nowhere
        "::ffff:0:8.8.8.8",  # IPv4-translated (SIIT): a translator's own
        "64:ff9b:1::8.8.8.8",  # local-use NAT64: an operator's own
        "64:ff9b:1:808:8:800::",  # the same, with the IPv4 where a /48 prefix puts it
        "2002:808:808::1",  # 6to4, deprecated
        "2001:0:808:808::f7f7:f7f7",  # Teredo between two public addresses
        "2001:2::1",  # benchmarking
        "2001:20::1",  # ORCHIDv2: no endpoint lives there
        "2001:db8::1",  # documentation
        "3fff::1",  # documentation (RFC 9637)
        "5f00::1",  # segment routing
        "100::1",  # discard
        "fec0::1",  # site-local
        "4000::1",  # outside 2000::/3, not allocated
        "::",
        "192.0.0.9",
        "192.88.99.1",
        "198.18.0.1",
        "240.0.0.1",
        "255.255.255.255",
    ],
)
def test_it_refuses_special_purpose_ranges_whatever_pythons_tables_say(address):
    assert address_problem(address) != ""
    assert address_problem(address, allow_loopback=True) != ""


@pytest.mark.parametrize(
    "address",
    [
        "8.8.8.8",
        "93.184.216.34",
        "2606:4700::1111",
        "2a00:1450:4001:82b::200e",
        "::ffff:8.8.8.8",  # how a dual-stack socket writes 8.8.8.8
        "64:ff9b::8.8.8.8",  # what DNS64 gives on an IPv6-only network with NAT64
        "2620:4f:8000::1",
    ],
)
def test_it_lets_public_addresses_through(address):
    assert address_problem(address) == ""
    assert resolved_problem("tools.example.com", resolved(address)) == ""


def test_it_allows_loopback_in_development_only_when_it_is_this_machine():
    assert address_problem("::ffff:127.0.0.1", allow_loopback=True) == ""
    assert address_problem("::1", allow_loopback=True) == ""
    # Through a translator or a tunnel, 127.0.0.1 is someone else's machine.
    for address in ("64:ff9b::7f00:1", "::127.0.0.1", "2002:7f00:1::", "::ffff:0:7f00:1"):
        assert "127.0.0.1 is this machine" in address_problem(address, allow_loopback=True)


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("fe80::1%eth0", "is link-local"),
        ("fe80::1%2", "is link-local"),
        ("2606:4700::1111%eth0", "2606:4700::1111%eth0 names a network interface"),
        ("::ffff:8.8.8.8%1", "names a network interface"),
    ],
)
def test_it_refuses_addresses_with_a_zone_id(address, why):
    assert why in address_problem(address)
    assert why in resolved_problem("tools.example.com", resolved(address))


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://[fe80::1%25eth0]/t", "is link-local"),
        ("https://[::127.0.0.1]:8443/t", "127.0.0.1 is this machine"),
        ("https://[64:FF9B::127.0.0.1]/t", "127.0.0.1 is this machine"),
        ("https://[2002:7f00:1::]/t", "127.0.0.1 is this machine"),
        ("https://[::1/t", "not a valid address"),
        ("https://[127.0.0.1]/t", "not a valid address"),
        ("https://[v1.fe80::1]/t", "not a valid address"),
    ],
)
def test_it_reads_bracketed_ipv6_hosts_and_says_what_is_wrong_instead_of_raising(url, why):
    assert why in endpoint_problem(url)
    assert why in endpoint_problem(url, allow_loopback=True)


ODD_IPV4 = [
    ("2130706433", "127.0.0.1 is this machine"),
    ("0x7f000001", "127.0.0.1 is this machine"),
    ("0x7f.1", "127.0.0.1 is this machine"),
    ("017700000001", "127.0.0.1 is this machine"),
    ("0177.0.0.1", "127.0.0.1 is this machine"),
    ("127.1", "127.0.0.1 is this machine"),
    ("127.0.1", "127.0.0.1 is this machine"),
    ("0", "0.0.0.0 is a private address"),
    ("2852039166", "169.254.169.254 is link-local"),
    ("0xa9.0xfe.0xa9.0xfe", "169.254.169.254 is link-local"),
    ("0xa.1", "10.0.0.1 is a private address"),
]


@pytest.mark.parametrize(("host", "why"), ODD_IPV4)
def test_it_refuses_an_ipv4_address_written_as_a_number_before_any_dns(host, why):
    problem = endpoint_problem(f"https://{host}/t")
    assert problem.startswith(f"{host} stands for {why.split()[0]}, and {why}")


@pytest.mark.parametrize(("host", "why"), ODD_IPV4)
def test_it_refuses_what_getaddrinfo_makes_of_an_ipv4_address_written_as_a_number(
    host, why, socket_enabled
):
    # AI_NUMERICHOST: an answer proves getaddrinfo read the host as a number, without DNS (the
    # tier's socket guard, pytest-socket, stops getaddrinfo too: socket_enabled lifts it here).
    infos = socket.getaddrinfo(host, 443, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
    assert why in resolved_problem(host, infos)
    # And the path a request takes, with the same getaddrinfo (numeric: no DNS either).
    with pytest.raises(Refused, match=why):
        asyncio.run(resolve_checked(host, 443, allow_loopback=False, who="the tool"))


def test_it_leaves_names_that_only_look_like_numbers_to_dns():
    for host in ("beef.cafe", "deadbeef.example", "1.2.3.4.5", "0x7f.example.com"):
        assert endpoint_problem(f"https://{host}/t") == ""
    assert endpoint_problem("https://134744072/t") == ""  # 8.8.8.8: public, however written


@pytest.mark.parametrize(
    "url",
    ["https://127\u30020\u30020\u30021/", "https://127.0.0.1./", "https://localhost./",
     "https://a.localhost/", "https://LOCALHOST/", "https://127\uff0e0\uff0e0\uff0e1/"],
)  # fmt: skip
def test_it_refuses_this_machine_however_its_name_is_spelled(url):
    """Caught when saved, not only after DNS: the dots resolvers accept, a final dot, and every
    name under localhost."""
    assert "this machine" in endpoint_problem(url)
