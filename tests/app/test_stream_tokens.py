from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest

from streaming.tokens import check_token, make_token, stream_url


def test_it_accepts_a_fresh_token_for_its_own_call():
    assert check_token("call-1", make_token("call-1"))


def test_it_refuses_another_calls_token():
    assert not check_token("call-2", make_token("call-1"))


def test_it_refuses_a_tampered_token():
    token = make_token("call-1")
    assert not check_token("call-1", token[:-1] + ("A" if token[-1] != "A" else "B"))
    assert not check_token("call-1", "")


def test_it_refuses_an_expired_token(monkeypatch):
    token = make_token("call-1")
    later = time.time() + 121
    monkeypatch.setattr(time, "time", lambda: later)
    assert not check_token("call-1", token, max_age=120)
    assert check_token("call-1", token, max_age=300)


def test_it_refuses_a_token_signed_with_another_key(settings):
    token = make_token("call-1")
    settings.SECRET_KEY = "another-secret-key-that-is-long-enough-0123456789"
    assert not check_token("call-1", token)


@pytest.mark.parametrize(
    ("base", "scheme"), [("https://v.example.com", "wss"), ("http://127.0.0.1:8000", "ws")]
)
def test_it_builds_the_stream_url(base, scheme):
    url = urlsplit(stream_url(base, "HD_1"))
    assert url.scheme == scheme
    assert url.path == "/sautikit/stream/HD_1/"
    assert check_token("HD_1", parse_qs(url.query)["token"][0])


def test_it_refuses_a_base_url_without_http():
    with pytest.raises(ValueError, match="http"):
        stream_url("voice.example.com", "x")
