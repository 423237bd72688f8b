"""The app tier: Django, the database and the consumer in the test's own process.

No test here starts a process (those are tests/server's, outside `make test-fast`): one that
tries fails at once and says where it belongs. Passwords are hashed with a fast hasher, as
Django's testing guide suggests: the servers of tests/server keep the real one."""

from __future__ import annotations

import asyncio
import subprocess
from typing import Any

import pytest


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _no_processes(monkeypatch):
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("this test starts a process: it belongs in tests/server/")

    monkeypatch.setattr(subprocess.Popen, "__init__", refuse)
    monkeypatch.setattr(asyncio, "create_subprocess_exec", refuse)
    monkeypatch.setattr(asyncio, "create_subprocess_shell", refuse)
