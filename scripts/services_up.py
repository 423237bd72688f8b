"""Exit 0 when PostgreSQL and Redis answer on the addresses the test run will use."""

from __future__ import annotations

import os
import socket
import sys
from urllib.parse import urlsplit

DEFAULTS = {
    "TEST_DATABASE_URL": "postgres://postgres@127.0.0.1:5432/test",
    "TEST_REDIS_URL": "redis://127.0.0.1:6379/0",
}
PORTS = {"postgres": 5432, "postgresql": 5432, "redis": 6379}


def reachable(url: str) -> bool:
    parts = urlsplit(url)
    port = parts.port or PORTS.get(parts.scheme, 0)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False


if __name__ == "__main__":
    urls = [os.environ.get(name) or default for name, default in DEFAULTS.items()]
    sys.exit(0 if all(reachable(url) for url in urls) else 1)
