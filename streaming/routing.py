"""WebSocket routes. The bridge consumer (live-bridge issue) mounts at tokens.STREAM_PATH."""

from __future__ import annotations

from django.urls import URLPattern

websocket_urlpatterns: list[URLPattern] = []
