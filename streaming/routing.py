"""WebSocket routes: the stream socket Sautikit opens for each call (see tokens.STREAM_PATH)."""

from __future__ import annotations

from django.urls import path

from streaming.consumer import StreamConsumer

websocket_urlpatterns = [
    path("sautikit/stream/<str:call_id>/", StreamConsumer.as_asgi()),
]
