"""Names of settings that hold secrets: operators type the name, never the secret."""

from __future__ import annotations

import os
import re

from django.core.exceptions import ValidationError


def check_env_name(value: str, prefix: str, example: str) -> None:
    if value and not re.fullmatch(re.escape(prefix) + r"[A-Z0-9_]+", value):
        raise ValidationError(
            f"Use a name that starts with {prefix}, in capitals, for example {prefix}{example}."
        )


def read_env(name: str) -> str:
    """The secret under `name`, read when needed (never stored in the database)."""
    return os.environ.get(name, "") if name else ""
