"""`/healthz` and `/readyz` for load balancers and process managers; `/metrics` for Prometheus.

Answered before any other middleware: a load balancer or a scraper asks by IP address (not one
of ALLOWED_HOSTS) and over plain http inside the network (which production would redirect), and
neither should make a healthy server look dead. The health checks say nothing about calls or
callers; the metrics do (how many, how they end), so they are off unless METRICS_TOKEN is set,
and then answered only to a request bearing it.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable

import redis
from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse

from streaming import metrics
from streaming.drain import LIVE

# Each dependency gets this long to answer before the server is reported not ready.
CHECK_TIMEOUT_S = 2


def healthz() -> HttpResponse:
    """The process is alive and serving requests."""
    return _text("ok", 200)


def readyz() -> HttpResponse:
    """Ready for calls: not stopping, the database answers, and Redis too when set."""
    if LIVE.draining:
        # Stopping (a deploy): its live calls go on, new ones should go elsewhere.
        return _text("not ready: draining", 503)
    problems = []
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as e:
        problems.append(f"database: {type(e).__name__}")
    if settings.REDIS_URL:
        try:
            client = redis.Redis.from_url(
                settings.REDIS_URL,
                socket_timeout=CHECK_TIMEOUT_S,
                socket_connect_timeout=CHECK_TIMEOUT_S,
            )
            client.ping()
            client.close()
        except redis.RedisError as e:
            problems.append(f"redis: {type(e).__name__}")
    if problems:
        return _text("not ready: " + "; ".join(problems), 503)
    return _text("ready", 200)


def metrics_page(request: HttpRequest) -> HttpResponse:
    """Prometheus text format, for a scraper that sends `Authorization: Bearer $METRICS_TOKEN`."""
    token = settings.METRICS_TOKEN
    if not token:
        return _text("metrics are off: set METRICS_TOKEN to turn them on", 404)
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(),
                                                             token.encode()):  # fmt: skip
        response = _text("metrics need Authorization: Bearer <METRICS_TOKEN>", 401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    body, content_type = metrics.render()
    response = HttpResponse(body, content_type=content_type)
    response["Cache-Control"] = "no-store"
    return response


CHECKS: dict[str, Callable[[HttpRequest], HttpResponse]] = {
    "/healthz": lambda request: healthz(),
    "/readyz": lambda request: readyz(),
    "/metrics": metrics_page,
}


class HealthMiddleware:
    """First in MIDDLEWARE: these answers skip host validation and the HTTPS redirect."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        check = CHECKS.get(request.path_info.rstrip("/"))
        if check is None:
            return self.get_response(request)
        if request.method not in {"GET", "HEAD"}:
            response = _text(f"{request.method} not allowed here", 405)
            response["Allow"] = "GET, HEAD"
            return response
        return check(request)


def _text(body: str, status: int) -> HttpResponse:
    response = HttpResponse(body + "\n", status=status, content_type="text/plain; charset=utf-8")
    response["Cache-Control"] = "no-store"
    return response
