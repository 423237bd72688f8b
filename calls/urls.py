from __future__ import annotations

from django.urls import path

from calls import views

app_name = "calls"

urlpatterns = [
    path("voice/", views.voice, name="voice"),
    path("stream-status/", views.stream_status, name="stream-status"),
    path("events/", views.events, name="events"),
]
