"""WebSocket routes: the stream socket Sautikit opens for each call (see tokens.STREAM_PATH),
and the one a staff member's browser opens to talk to an agent (see calls.talk)."""

from __future__ import annotations

from channels.auth import AuthMiddlewareStack
from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import path

from streaming.browser_consumer import BrowserCallConsumer
from streaming.consumer import StreamConsumer

websocket_urlpatterns = [
    path("sautikit/stream/<str:call_id>/", StreamConsumer.as_asgi()),
    # A browser sends the session cookie with any page's socket: only this site's pages (its
    # Origin) may open one, and the user must be the one who started the call.
    path(
        "talk/call/<str:call_id>/socket/",
        AllowedHostsOriginValidator(AuthMiddlewareStack(BrowserCallConsumer.as_asgi())),
    ),
]
