from __future__ import annotations

from django.apps import AppConfig


class CallsConfig(AppConfig):
    name = "calls"
    verbose_name = "Call history"

    def ready(self) -> None:
        from calls import security  # noqa: F401 (registers the signing-secret check)
