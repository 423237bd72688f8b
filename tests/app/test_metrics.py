"""/metrics: Prometheus text, only for a scraper bearing METRICS_TOKEN. Across `make serve`'s
workers and a whole call: tests/server/test_metrics.py."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from tests.helpers import metric_figures as figures

TOKEN = "scrape-token-for-tests"


def test_it_is_off_without_a_token(client, settings):
    settings.METRICS_TOKEN = ""
    response = client.get("/metrics")
    assert response.status_code == 404
    assert b"set METRICS_TOKEN" in response.content


def test_it_refuses_a_scraper_without_the_token(client, settings):
    settings.METRICS_TOKEN = TOKEN
    for header in ({}, {"HTTP_AUTHORIZATION": "Bearer wrong"}, {"HTTP_AUTHORIZATION": TOKEN}):
        response = client.get("/metrics", **header)
        assert response.status_code == 401
        assert response["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert b"voice_" not in response.content


@pytest.mark.django_db
def test_it_counts_refused_calls(client, settings):
    settings.METRICS_TOKEN = TOKEN
    before = REGISTRY.get_sample_value("voice_calls_refused_total", {"reason": "unknown_number"})
    client.post("/sautikit/voice/", {"sessionId": "NOBODY", "destinationNumber": "+1555000"})
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}",
                          HTTP_HOST="10.0.0.5:8000")  # fmt: skip
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    key = ("voice_calls_refused_total", (("reason", "unknown_number"),))
    assert figures(response.content.decode())[key] == (before or 0) + 1
