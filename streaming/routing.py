"""WebSocket routes: the stream socket Sautikit opens for each call (see
streaming.tokens.STREAM_PATH), and the one a staff member's browser opens to talk to an agent
(calls.talk starts it)."""

from __future__ import annotations

from channels.auth import AuthMiddlewareStack
from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import URLPattern, path

from streaming.browser_consumer import BrowserCallConsumer
from streaming.consumer import StreamConsumer
from streaming.records import CallRecords


def websocket_routes(records: CallRecords) -> list[URLPattern]:
    """The two sockets, keeping their calls' records in `records` (voiceproject.asgi wires
    calls.stream_records.RECORDS)."""
    browser = BrowserCallConsumer.as_asgi(records=records)
    return [
        path("sautikit/stream/<str:call_id>/", StreamConsumer.as_asgi(records=records)),
        # A browser sends the session cookie with any page's socket: only this site's pages (its
        # Origin) may open one, and the user must be the one who started the call.
        path(
            "talk/call/<str:call_id>/socket/",
            AllowedHostsOriginValidator(AuthMiddlewareStack(browser)),
        ),
    ]
