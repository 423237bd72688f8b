"""/healthz and /readyz, as a load balancer asks them: by IP, over plain http, GET only."""

from __future__ import annotations

import pytest
import redis
from django.db import OperationalError

from voiceproject import health

pytestmark = pytest.mark.django_db


def test_it_is_alive(client):
    response = client.get("/healthz")
    assert (response.status_code, response.content) == (200, b"ok\n")
    assert response["Cache-Control"] == "no-store"


def test_it_is_ready_when_the_database_answers(client):
    response = client.get("/readyz")
    assert (response.status_code, response.content) == (200, b"ready\n")


def test_it_answers_any_host_and_plain_http_in_production(client, settings):
    settings.ALLOWED_HOSTS = ["voice.example.com"]
    settings.SECURE_SSL_REDIRECT = True
    for path in ("/healthz", "/readyz/"):
        assert client.get(path, HTTP_HOST="10.0.0.12:8000").status_code == 200
    # Everything else still checks the host and redirects.
    assert client.get("/admin/", HTTP_HOST="10.0.0.12:8000").status_code == 400
    assert client.get("/admin/", HTTP_HOST="voice.example.com").status_code == 301


def test_it_is_not_ready_without_the_database(client, monkeypatch):
    def down(*args, **kwargs):
        raise OperationalError("could not connect to server")

    monkeypatch.setattr(health.connection, "cursor", down)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.content == b"not ready: database: OperationalError\n"
    assert client.get("/healthz").status_code == 200  # alive all the same


def test_it_is_not_ready_without_redis_when_it_is_configured(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:9/0"  # nothing listens on the discard port
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.content.startswith(b"not ready: redis: ")


def test_it_refuses_other_methods(client):
    response = client.post("/readyz")
    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"


def test_redis_is_checked_for_real_when_it_runs(client, settings):
    if not settings.REDIS_URL:
        pytest.skip("needs REDIS_URL (a real Redis)")
    redis.Redis.from_url(settings.REDIS_URL).ping()
    assert client.get("/readyz").status_code == 200


def test_it_is_not_ready_while_draining(client, monkeypatch):
    # Told to stop (a deploy): its live calls go on, load balancers send new ones elsewhere.
    monkeypatch.setattr(health.LIVE, "draining", True)
    response = client.get("/readyz")
    assert (response.status_code, response.content) == (503, b"not ready: draining\n")
    assert client.get("/healthz").status_code == 200
