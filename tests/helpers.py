"""Plain helpers the tests share: recorded payloads and posting them as Sautikit does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from django.test import Client

DATA = Path(__file__).parent / "test_data"
DEMO_NUMBER = "+254711000100"


def load(name: str) -> dict[str, Any]:
    return json.loads((DATA / f"{name}.json").read_text())


def post_form(client: Client, url: str, data: dict[str, Any], **extra: Any):
    return client.post(
        url, urlencode(data), content_type="application/x-www-form-urlencoded", **extra
    )


def post_json(client: Client, url: str, data: Any, **extra: Any):
    body = data if isinstance(data, str | bytes) else json.dumps(data)
    return client.post(url, body, content_type="application/json", **extra)
