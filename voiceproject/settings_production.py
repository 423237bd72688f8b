"""Production settings: the same as settings.py, but refuse unsafe defaults.

Run with DJANGO_SETTINGS_MODULE=voiceproject.settings_production.
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from voiceproject.settings import *  # noqa: F403
from voiceproject.settings import INSECURE_DEFAULT_SECRET_KEY

if DEBUG:  # noqa: F405
    raise ImproperlyConfigured(
        "DJANGO_DEBUG is on: debug pages would show callers' data. Unset it in production."
    )
if SECRET_KEY == INSECURE_DEFAULT_SECRET_KEY or len(SECRET_KEY) < 32:  # noqa: F405
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY is unset or too short (fewer than 32 characters). It signs the"
        " stream tokens and sessions: set a long random value."
    )

SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_CONTENT_TYPE_NOSNIFF = True
