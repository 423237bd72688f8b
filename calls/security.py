"""Whether Sautikit's webhooks are signature-checked, said loudly where people will see it."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core import checks
from django.http import HttpRequest

log = logging.getLogger("voiceproject.security")

UNSIGNED = (
    "SAUTIKIT_SIGNING_SECRET is unset: Sautikit's webhooks are not signature-checked, so anyone "
    "who can reach this server can start calls (and OpenAI sessions billed to you). Fine on your "
    "own machine; never on the internet (voiceproject.settings_production refuses to start)."
)


def webhooks_signed() -> bool:
    return bool(settings.SAUTIKIT_SIGNING_SECRET)


def warn_if_unsigned() -> None:
    """Once per server process, at start-up (asgi.py)."""
    if not webhooks_signed():
        log.warning("\n%s\n%s\n%s", "!" * 72, UNSIGNED, "!" * 72)


# Deploy checks only: every management command runs the others, and the warning is meant to be
# said once, loudly, when the server starts (warn_if_unsigned).
@checks.register(checks.Tags.security, deploy=True)
def check_signing_secret(**kwargs: Any) -> list[checks.CheckMessage]:
    if webhooks_signed():
        return []
    return [checks.Warning(UNSIGNED, id="calls.W001")]


def admin_banner(request: HttpRequest) -> dict[str, Any]:
    """Template context: the admin shows a banner while webhooks are unsigned."""
    return {"webhooks_unsigned": not webhooks_signed()}
