"""`/healthz` and `/readyz` for load balancers and process managers.

Answered before any other middleware: a load balancer asks by IP address (not one of
ALLOWED_HOSTS) and over plain http inside the network (which production would redirect), and
neither should make a healthy server look dead. They say nothing about calls or callers.
"""

from __future__ import annotations

from collections.abc import Callable

import redis
from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse

# Each dependency gets this long to answer before the server is reported not ready.
CHECK_TIMEOUT_S = 2


def healthz() -> HttpResponse:
    """The process is alive and serving requests."""
    return _text("ok", 200)


def readyz() -> HttpResponse:
    """Ready for calls: the database answers, and Redis too when several processes share it."""
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


CHECKS: dict[str, Callable[[], HttpResponse]] = {"/healthz": healthz, "/readyz": readyz}


class HealthMiddleware:
    """First in MIDDLEWARE: health checks skip host validation and the HTTPS redirect."""

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
        return check()


def _text(body: str, status: int) -> HttpResponse:
    response = HttpResponse(body + "\n", status=status, content_type="text/plain; charset=utf-8")
    response["Cache-Control"] = "no-store"
    return response
