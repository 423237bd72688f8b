"""The pure tier: plain Python and numpy, no Django, no network.

`make lint` holds these modules to importing nothing of Django or the apps (import-linter); here
every test runs with sockets off (pytest-socket), so one that reaches for the network fails at
once instead of waiting on it. Unix sockets stay allowed: an asyncio event loop wakes itself
through a socket pair. A test that must reach the resolver asks for pytest-socket's
`socket_enabled` fixture, and says why."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pytest_socket import disable_socket, enable_socket


@pytest.fixture(autouse=True)
def no_network() -> Iterator[None]:
    disable_socket(allow_unix_socket=True)
    yield
    enable_socket()
