"""Tiny typed readers for settings that come from the environment (12-factor), and DATABASE_URL
read by dj-database-url with the project's own options. A bad value stops the start with the
setting's name and what it should be (SettingError)."""

from __future__ import annotations

import os
from decimal import Decimal, InvalidOperation
from typing import Any

import dj_database_url

TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off", ""}
ENGINES = {"django.db.backends.sqlite3", "django.db.backends.postgresql"}


class SettingError(ValueError):
    """A setting from the environment that cannot be used: the server does not start."""


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise SettingError(f"{name} must be one of 1/0, true/false, yes/no, on/off; got {raw!r}")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise SettingError(f"{name} must be a whole number; got {raw!r}") from None


def env_decimal(name: str, default: str) -> Decimal:
    raw = os.environ.get(name)
    text = default if raw is None or raw.strip() == "" else raw.strip()
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise SettingError(f"{name} must be a number like 3.00; got {raw!r}") from None
    if not value.is_finite() or value < 0:
        raise SettingError(f"{name} must be a number of zero or more; got {raw!r}")
    return value


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


def database_from_url(
    url: str, base_dir: os.PathLike[str] | str, lock_timeout_s: float = 8, pool_size: int = 20
) -> dict[str, object]:
    """Turn a DATABASE_URL into a DATABASES entry.

    Only the two databases the project supports: sqlite:///path (relative to
    the project) or sqlite:////absolute/path, and postgres[ql]://user:pw@host:port/name.
    A write waits at most `lock_timeout_s` for a lock, then fails (and is retried by whoever
    made it: the bridge's writer, or Sautikit after a 503). PostgreSQL connections come from a
    pool of at most `pool_size` per process.
    """
    scheme = url.split(":", 1)[0]
    unsupported = SettingError(
        f"DATABASE_URL scheme {scheme!r} is not supported; use sqlite:/// or postgres://"
    )
    try:
        config: dict[str, Any] = dict(dj_database_url.parse(url))
    except dj_database_url.UnknownSchemeError:
        raise unsupported from None
    except ValueError as e:  # a port that is not a number, characters not quoted
        raise SettingError(f"DATABASE_URL cannot be read: {e}") from None
    if config.get("ENGINE") not in ENGINES:
        raise unsupported
    if config["ENGINE"] == "django.db.backends.sqlite3":
        name = config["NAME"]
        if name != ":memory:" and not name.startswith("/"):
            name = os.path.join(base_dir, name)  # sqlite:///db.sqlite3: in the project
        # Tests get a file too (not Django's in-memory default), so that the servers a
        # whole-call test starts as separate processes can share it.
        test_name = (
            ":memory:" if name == ":memory:" else os.path.splitext(name)[0] + "-test.sqlite3"
        )
        return {
            "ENGINE": config["ENGINE"],
            "NAME": name,
            "TEST": {"NAME": test_name},
            # Webhooks and bridges write at once: wait for the lock instead of failing at once,
            # and let readers run beside the writer (WAL).
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": lock_timeout_s,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    # Options in the URL's query are kept as given (psycopg reads them as text); a server
    # option (`options=-c …`) goes after the lock timeout, not instead of it.
    given = {key: str(value) for key, value in config.get("OPTIONS", {}).items()}
    server = f"-c lock_timeout={round(lock_timeout_s * 1000)} {given.pop('options', '')}"
    return {
        "ENGINE": config["ENGINE"],
        "NAME": config["NAME"],
        "USER": config["USER"],
        "PASSWORD": config["PASSWORD"],
        "HOST": config["HOST"],
        "PORT": str(config["PORT"]),
        "OPTIONS": {
            "options": server.strip(),
            # Under ASGI every request runs in a thread of its own, so Django's persistent
            # connections cannot be kept: without a pool each webhook and each of a call's
            # writes opened a new connection (most of a call's database cost). A request
            # that finds every connection busy waits as long as for a lock, then fails
            # (503: Sautikit retries; the bridge's writer retries).
            "pool": {"min_size": 2, "max_size": pool_size, "timeout": lock_timeout_s},
            **given,
        },
        # Each pooled connection is checked as it is taken: after a database restart or a
        # failover a dead one is replaced, not handed to a webhook or a call's writer.
        "CONN_HEALTH_CHECKS": True,
    }
