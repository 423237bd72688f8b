"""`manage.py simulate_call` finds the server `make run` started, or says at once that nothing
answers where it looked (it used to retry in silence for ~15 s). The call itself, step by step,
is played in test_without_a_key (the README's path)."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from streaming.devtools import simulator
from streaming.devtools.servers import free_port


@pytest.fixture
def posted(monkeypatch):
    sent: list[str] = []

    async def post(url, *args, **kwargs):
        sent.append(url)
        return 0, b""

    monkeypatch.setattr(simulator, "post", post)
    return sent


def test_it_says_at_once_when_nothing_answers(posted):
    port = free_port()
    with pytest.raises(CommandError) as refused:
        call_command("simulate_call", "--number", "+254711000100",
                     "--base-url", f"http://127.0.0.1:{port}", stdout=io.StringIO())  # fmt: skip
    said = str(refused.value)
    assert f"nothing answers at http://127.0.0.1:{port}" in said
    assert "make run" in said and "--base-url" in said
    assert posted == []  # no webhook tried, so no retries to wait through


def test_it_calls_the_port_make_run_was_given(monkeypatch, posted):
    port = free_port()
    monkeypatch.setenv("PORT", str(port))
    monkeypatch.delenv("HOST", raising=False)
    with pytest.raises(CommandError) as refused:
        call_command("simulate_call", "--number", "+254711000100", stdout=io.StringIO())
    assert f"http://127.0.0.1:{port}" in str(refused.value)


def test_it_reaches_a_server_listening_on_every_address_through_loopback(monkeypatch):
    monkeypatch.setenv("HOST", "0.0.0.0")  # noqa: S104
    monkeypatch.setenv("PORT", "8123")
    from streaming.management.commands.simulate_call import default_base_url

    assert default_base_url() == "http://127.0.0.1:8123"
    monkeypatch.setenv("HOST", "::")
    assert default_base_url() == "http://[::1]:8123"


def test_it_refuses_an_address_that_is_not_http(posted):
    with pytest.raises(CommandError, match="not an http"):
        call_command("simulate_call", "--number", "+254711000100", "--base-url",
                     "ftp://127.0.0.1:21", stdout=io.StringIO())  # fmt: skip
    assert posted == []
