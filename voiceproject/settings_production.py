"""Production settings: the same as settings.py, but refuse unsafe defaults.

Run with DJANGO_SETTINGS_MODULE=voiceproject.settings_production.
"""

from __future__ import annotations

import os

from django.core.exceptions import ImproperlyConfigured

from streaming.ground.env import env_bool, env_int
from voiceproject.settings import *  # noqa: F403
from voiceproject.settings import INSECURE_DEFAULT_SECRET_KEY

if DEBUG:  # noqa: F405
    raise ImproperlyConfigured(
        "DJANGO_DEBUG is on: debug pages would show callers' data. Unset it in production."
    )
# Django's own deploy check (security.W009) asks for 50 characters, 5 of them different.
if (
    SECRET_KEY == INSECURE_DEFAULT_SECRET_KEY  # noqa: F405
    or len(SECRET_KEY) < 50  # noqa: F405
    or len(set(SECRET_KEY)) < 5  # noqa: F405
):
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY is unset or too short (fewer than 50 characters, or fewer than 5"
        " different ones). It signs the stream tokens and sessions: set a long random value."
    )

if not SAUTIKIT_SIGNING_SECRET:  # noqa: F405
    raise ImproperlyConfigured(
        "SAUTIKIT_SIGNING_SECRET is unset: anyone could start calls (and OpenAI sessions billed"
        " to you) by posting to the voice webhook. Set it to the signing secret of your Sautikit"
        " workspace."
    )

if TOOL_ALLOW_LOOPBACK:  # noqa: F405
    raise ImproperlyConfigured(
        "TOOL_ALLOW_LOOPBACK is on: custom tools could reach services on this machine. It is for"
        " development only; unset it in production."
    )

if not os.environ.get("DJANGO_ALLOWED_HOSTS", "").strip():
    raise ImproperlyConfigured(
        "DJANGO_ALLOWED_HOSTS is unset: name the host names this server answers to, e.g."
        " voice.example.com (comma-separated)."
    )

# HTTPS only. Behind a proxy that terminates TLS, the proxy says so with X-Forwarded-Proto
# (trusted with DJANGO_TRUST_PROXY_HEADERS=1) and nothing is redirected; a proxy that already
# redirects and sends HSTS itself can turn these off.
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 365 * 24 * 3600)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", False)
if not SECURE_HSTS_PRELOAD:
    # Preloading is a promise to browsers that is slow to take back: the operator's choice.
    SILENCED_SYSTEM_CHECKS = ["security.W021"]
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_CONTENT_TYPE_NOSNIFF = True
