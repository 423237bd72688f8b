"""WebSocket routes. The bridge consumer (the live-bridge issue) mounts at streaming.tokens.STREAM_PATH."""

from __future__ import annotations

from django.urls import URLPattern

websocket_urlpatterns: list[URLPattern] = []
