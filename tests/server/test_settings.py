"""Settings as a process starting with them sees them: embedded with nothing set, services from
the environment, production refusing what is unsafe (`manage.py check --deploy`). The
readers alone: tests/unit/test_settings.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PROJECT_VARS = (
    "DATABASE_URL",
    "REDIS_URL",
    "DJANGO_SECRET_KEY",
    "DJANGO_DEBUG",
    "DJANGO_ALLOWED_HOSTS",
    "PUBLIC_BASE_URL",
    "OPENAI_API_KEY",
    "OPENAI_REALTIME_URL",
    "SAUTIKIT_SIGNING_SECRET",
    "TIME_ZONE",
    "DJANGO_TRUST_PROXY_HEADERS",
    "DJANGO_SECURE_SSL_REDIRECT",
    "DJANGO_SECURE_HSTS_SECONDS",
    "DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "DJANGO_SECURE_HSTS_PRELOAD",
)

# What production needs to start at all.
PRODUCTION = {
    "DJANGO_SECRET_KEY": "tq8Vw2-production-test-key-9dLk3mZp0sXa7RbN4cYe6HuJ1fGi5",
    "SAUTIKIT_SIGNING_SECRET": "whsec_production",
    "DJANGO_ALLOWED_HOSTS": "voice.example.com",
}


def settings_in_subprocess(module: str = "voiceproject.settings", **env: str):
    """Import the settings in a fresh interpreter with only `env` set; return it or the error."""
    clean = {k: v for k, v in os.environ.items() if k not in PROJECT_VARS}
    clean.update(env, DJANGO_SETTINGS_MODULE=module)
    code = (
        "import json, django\n"
        "from django.conf import settings\n"
        "django.setup()\n"
        "print(json.dumps({k: getattr(settings, k) for k in "
        "('DEBUG', 'ALLOWED_HOSTS', 'PUBLIC_BASE_URL', 'OPENAI_REALTIME_URL', 'TIME_ZONE', "
        "'SAUTIKIT_SIGNING_SECRET', 'OPENAI_API_KEY')} | "
        "{'db': settings.DATABASES['default']['ENGINE'], "
        "'layer': settings.CHANNEL_LAYERS['default']['BACKEND']}))\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=clean, capture_output=True, text=True
    )


def test_it_starts_embedded_with_nothing_set():
    result = settings_in_subprocess()
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values["db"] == "django.db.backends.sqlite3"
    assert values["layer"] == "channels.layers.InMemoryChannelLayer"
    assert values["DEBUG"] is False
    assert values["OPENAI_REALTIME_URL"] == "wss://api.openai.com/v1/realtime"
    assert values["TIME_ZONE"] == "Africa/Nairobi"
    assert values["PUBLIC_BASE_URL"] == ""


def test_it_reads_services_from_the_environment():
    result = settings_in_subprocess(
        DATABASE_URL="postgres://u:p@db.internal:5433/voice",
        REDIS_URL="redis://cache.internal:6379/1",
        DJANGO_ALLOWED_HOSTS="voice.example.com, admin.example.com",
        PUBLIC_BASE_URL="https://voice.example.com/",
        OPENAI_API_KEY="sk-test",
        SAUTIKIT_SIGNING_SECRET="whsec",
    )
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values["db"] == "django.db.backends.postgresql"
    assert values["layer"] == "channels_redis.core.RedisChannelLayer"
    assert values["ALLOWED_HOSTS"] == ["voice.example.com", "admin.example.com"]
    assert values["PUBLIC_BASE_URL"] == "https://voice.example.com"
    assert values["OPENAI_API_KEY"] == "sk-test"
    assert values["SAUTIKIT_SIGNING_SECRET"] == "whsec"


def test_production_refuses_debug():
    result = settings_in_subprocess(
        "voiceproject.settings_production", **PRODUCTION, DJANGO_DEBUG="1"
    )
    assert result.returncode != 0
    assert "DJANGO_DEBUG is on" in result.stderr


@pytest.mark.parametrize("key", ["short-but-random-9f8e7d", "a" * 60, "ab" * 40])
def test_production_refuses_weak_secret_keys(key):
    env = {**PRODUCTION, "DJANGO_SECRET_KEY": key}
    result = settings_in_subprocess("voiceproject.settings_production", **env)
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is unset or too short" in result.stderr


def test_production_refuses_the_default_secret_key():
    result = settings_in_subprocess("voiceproject.settings_production")
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is unset" in result.stderr


def test_production_starts_when_configured():
    result = settings_in_subprocess("voiceproject.settings_production", **PRODUCTION)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ("SAUTIKIT_SIGNING_SECRET", "SAUTIKIT_SIGNING_SECRET is unset: anyone could start calls"),
        ("DJANGO_ALLOWED_HOSTS", "DJANGO_ALLOWED_HOSTS is unset"),
    ],
)
def test_production_refuses_to_start_without(missing, message):
    env = {k: v for k, v in PRODUCTION.items() if k != missing}
    result = settings_in_subprocess("voiceproject.settings_production", **env)
    assert result.returncode != 0
    assert message in result.stderr


def manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in PROJECT_VARS}
    clean.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=clean, capture_output=True, text=True
    )


def test_production_passes_check_deploy():
    result = manage(
        "check", "--deploy", "--fail-level", "WARNING",
        DJANGO_SETTINGS_MODULE="voiceproject.settings_production", **PRODUCTION,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_development_warns_that_webhooks_are_unsigned():
    result = manage("check", "--deploy", DJANGO_SETTINGS_MODULE="voiceproject.settings")
    assert "calls.W001" in result.stderr
    assert "SAUTIKIT_SIGNING_SECRET is unset" in result.stderr
    signed = manage("check", "--deploy", DJANGO_SETTINGS_MODULE="voiceproject.settings",
                    SAUTIKIT_SIGNING_SECRET="whsec_dev")  # fmt: skip
    assert "calls.W001" not in signed.stderr
    # Other commands stay quiet about it: the server says it once, at start-up.
    assert (
        "calls.W001" not in manage("check", DJANGO_SETTINGS_MODULE="voiceproject.settings").stderr
    )


def test_it_trusts_proxy_headers_only_when_asked(settings):
    direct = settings_in_subprocess_value("SECURE_PROXY_SSL_HEADER")
    assert direct.returncode == 0 and direct.stdout.strip() == "None"
    proxied = settings_in_subprocess_value(
        "SECURE_PROXY_SSL_HEADER", DJANGO_TRUST_PROXY_HEADERS="1"
    )
    assert "HTTP_X_FORWARDED_PROTO" in proxied.stdout


def settings_in_subprocess_value(name: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in PROJECT_VARS}
    clean.update(env, DJANGO_SETTINGS_MODULE="voiceproject.settings")
    code = (
        "import django\nfrom django.conf import settings\ndjango.setup()\n"
        f"print(getattr(settings, {name!r}, None))\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=clean, capture_output=True, text=True
    )


def test_redis_reads_outwait_the_channel_layers_blocking_receive():
    # Otherwise redis-py's read timeout races channels-redis's BZPOPMIN, and a lost race
    # raises inside a live call's consumer.
    code = (
        "import django\n"
        "django.setup()\n"
        "from channels.layers import get_channel_layer\n"
        "from channels_redis.utils import create_pool\n"
        "layer = get_channel_layer()\n"
        "pool = create_pool(layer.hosts[0])\n"
        "print(pool.connection_kwargs['socket_timeout'], layer.brpop_timeout)\n"
    )
    clean = {k: v for k, v in os.environ.items() if k not in PROJECT_VARS}
    clean.update(REDIS_URL="redis://cache.internal:6379/1",
                 DJANGO_SETTINGS_MODULE="voiceproject.settings")  # fmt: skip
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=clean,
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 0, result.stderr
    read_timeout, blocking_wait = map(float, result.stdout.split())
    assert read_timeout >= blocking_wait + 5
