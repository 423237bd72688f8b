"""Keep a request's middleware in one thread under ASGI.

Django adapts each middleware to the mode of the one inside it. The stock middleware is
async-capable, so under daphne every one of them ran in async mode and called its sync hooks
through `sync_to_async`: about fifteen hops between the event loop and a worker thread per
webhook, each waking the event loop that also carries every call's audio (measured: two thirds
of a webhook's CPU). Last in MIDDLEWARE and sync-only, this makes everything above it run sync,
in the request's one thread: three hops in all (in, to the URL resolver, to the view).
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse


class OneThreadPerRequest:
    sync_capable = True
    async_capable = False

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)
