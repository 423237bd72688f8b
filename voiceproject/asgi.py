"""ASGI entry point: Django's HTTP app for the web and webhooks, Channels for the stream socket."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voiceproject.settings")

# Build Django's app first: it sets Django up before anything imports models.
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from calls import liveness  # noqa: E402
from calls.aftercall import runner  # noqa: E402
from calls.security import warn_if_unsigned  # noqa: E402
from calls.stream_records import RECORDS  # noqa: E402
from streaming.drain import LIVE  # noqa: E402
from streaming.records import PROCESS  # noqa: E402
from streaming.routing import websocket_routes  # noqa: E402

warn_if_unsigned()
liveness.start(PROCESS, tell=LIVE.tell_from_thread)
runner.start()  # summaries and webhooks of finished calls, with retries

# No AllowedHostsOriginValidator: Sautikit's media server sends no Origin and
# no cookies; the stream route is authenticated by its signed token instead.
application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": URLRouter(websocket_routes(RECORDS)),
    }
)
