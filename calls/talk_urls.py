from __future__ import annotations

from django.urls import path

from calls import talk

app_name = "talk"

# The socket itself is a WebSocket route: talk.socket_path, in streaming/routing.py.
urlpatterns = [
    path("agent/<int:agent_id>/", talk.page, name="page"),
    path("agent/<int:agent_id>/start/", talk.start, name="start"),
    path("call/<str:call_id>/status/", talk.status, name="status"),
]
