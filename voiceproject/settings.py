"""Settings for the phone line that an AI answers.

Everything comes from the environment (see .env.example); with nothing set the
project starts embedded: SQLite and Channels' in-memory layer.
"""

from __future__ import annotations

from pathlib import Path

from streaming.ground.env import (
    database_from_url,
    env_bool,
    env_decimal,
    env_int,
    env_list,
    env_str,
)

BASE_DIR = Path(__file__).resolve().parent.parent

# Development only. voiceproject.settings_production refuses to start with it.
INSECURE_DEFAULT_SECRET_KEY = "django-insecure-local-development-only-never-in-production"  # noqa: S105
SECRET_KEY = env_str("DJANGO_SECRET_KEY") or INSECURE_DEFAULT_SECRET_KEY
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

# The https origin Sautikit reaches us on, e.g. https://voice.example.com. When
# empty, stream and callback URLs are built from each request.
PUBLIC_BASE_URL = env_str("PUBLIC_BASE_URL").rstrip("/")
# Only behind a proxy that sets X-Forwarded-Proto and X-Forwarded-Host itself (and strips what
# clients send): exposed directly, anyone could claim https or another host with them.
TRUST_PROXY_HEADERS = env_bool("DJANGO_TRUST_PROXY_HEADERS", False)
if TRUST_PROXY_HEADERS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    USE_X_FORWARDED_HOST = True

OPENAI_API_KEY = env_str("OPENAI_API_KEY")
OPENAI_REALTIME_URL = env_str("OPENAI_REALTIME_URL", "wss://api.openai.com/v1/realtime")
# The GPT-Live engine's endpoint (agents whose engine is GPT-Live).
OPENAI_LIVE_URL = env_str("OPENAI_LIVE_URL", "wss://api.openai.com/v1/live/sessions")
# Seconds the caller may wait in silence for OpenAI's session to open before the call is handed
# to the agent's fallback number or ended.
OPENAI_CONNECT_TIMEOUT = env_int("OPENAI_CONNECT_TIMEOUT", 8)
# OpenAI's HTTP API, for the summaries and notes written after each call (the Responses API).
OPENAI_BASE_URL = env_str("OPENAI_BASE_URL", "https://api.openai.com/v1").rstrip("/")
ANALYSIS_TIMEOUT_S = env_int("ANALYSIS_TIMEOUT_S", 60)
# Each server process looks for after-call work (summaries, webhooks) this often; 0: never
# (the tests run it themselves).
AFTER_CALL_POLL_S = float(env_decimal("AFTER_CALL_POLL_S", "1"))
# Threads per process for each kind of after-call task (summaries, webhooks): a slow endpoint
# holds one of them at most (calls.aftercall.runner).
AFTER_CALL_WORKERS = env_int("AFTER_CALL_WORKERS", 4)
SAUTIKIT_SIGNING_SECRET = env_str("SAUTIKIT_SIGNING_SECRET")
# Signed webhooks older (or further in the future) than this are refused as replays.
SAUTIKIT_SIGNATURE_TOLERANCE = env_int("SAUTIKIT_SIGNATURE_TOLERANCE", 300)
# Sautikit connects to the stream URL within seconds of our <Stream> answer.
STREAM_TOKEN_MAX_AGE = env_int("STREAM_TOKEN_MAX_AGE", 120)
# "0712 345 678" means +254 712 345 678 unless this says otherwise.
DEFAULT_COUNTRY_CODE = env_str("DEFAULT_COUNTRY_CODE", "254").lstrip("+")
# Limits against burning credits (0 = none), counted in the database across processes. A
# deployment sets the total from its measured capacity (docs/benchmarks.md).
LIMIT_LIVE_CALLS_PER_CALLER = env_int("LIMIT_LIVE_CALLS_PER_CALLER", 2)
LIMIT_CALLS_PER_CALLER_PER_HOUR = env_int("LIMIT_CALLS_PER_CALLER_PER_HOUR", 20)
LIMIT_LIVE_CALLS_TOTAL = env_int("LIMIT_LIVE_CALLS_TOTAL", 0)
# Each server process says it is alive this often (0: never, as in tests); a call held by a
# process silent for SERVER_LOST_AFTER_S is marked failed ("server lost") by another.
SERVER_HEARTBEAT_S = env_int("SERVER_HEARTBEAT_S", 10)
SERVER_LOST_AFTER_S = env_int("SERVER_LOST_AFTER_S", 40)
# A live call joins its channel-layer group again this often: Redis keeps no group across a
# restart, and a call that lost its group would no longer hear its status callbacks.
CHANNEL_GROUP_RENEW_S = env_int("CHANNEL_GROUP_RENEW_S", 10)
# A server process told to stop (SIGTERM: a deploy) takes no new calls and lets its live calls
# finish for up to this long; it then ends the rest, handing them to the agent's fallback
# number if there is one.
DRAIN_LIMIT_S = env_int("DRAIN_LIMIT_S", 15 * 60)
# /metrics (Prometheus) answers only requests with "Authorization: Bearer <this>"; unset, it is
# off. A secret: from the environment only.
METRICS_TOKEN = env_str("METRICS_TOKEN")
# Webhook bodies are a few hundred bytes; anything far larger is refused.
WEBHOOK_MAX_BODY_BYTES = env_int("WEBHOOK_MAX_BODY_BYTES", 64 * 1024)

# Each custom tool's requests are signed with a key derived from this for that tool alone (or a
# per-tool TOOL_SECRET_* named in the admin).
TOOL_SIGNING_SECRET = env_str("TOOL_SIGNING_SECRET")
# Development and tests only: tool endpoints on this machine (http://localhost, 127.0.0.1).
# Production refuses it: loopback, private and link-local addresses are never tool endpoints.
TOOL_ALLOW_LOOPBACK = env_bool("TOOL_ALLOW_LOOPBACK", DEBUG)

# What calls cost. OpenAI prices are USD per million tokens (gpt-realtime's published prices);
# Sautikit's are KES per minute by direction, billed per second.
PRICE_USD_PER_M = {
    "input_text": env_decimal("OPENAI_PRICE_INPUT_TEXT", "4.00"),
    "input_cached_text": env_decimal("OPENAI_PRICE_INPUT_CACHED_TEXT", "0.40"),
    "input_audio": env_decimal("OPENAI_PRICE_INPUT_AUDIO", "32.00"),
    "input_cached_audio": env_decimal("OPENAI_PRICE_INPUT_CACHED_AUDIO", "0.40"),
    "output_text": env_decimal("OPENAI_PRICE_OUTPUT_TEXT", "16.00"),
    "output_audio": env_decimal("OPENAI_PRICE_OUTPUT_AUDIO", "64.00"),
}
# GPT-Live: USD per minute of session, and its backend model's tokens (the tools), USD per
# million (gpt-5-mini's prices).
LIVE_PRICE_USD_PER_MINUTE = env_decimal("LIVE_PRICE_USD_PER_MINUTE", "0.05")
LIVE_BACKEND_PRICE_USD_PER_M = {
    "input": env_decimal("LIVE_BACKEND_PRICE_INPUT", "0.25"),
    "input_cached": env_decimal("LIVE_BACKEND_PRICE_INPUT_CACHED", "0.025"),
    "output": env_decimal("LIVE_BACKEND_PRICE_OUTPUT", "2.00"),
}
# The summary model's prices, USD per million tokens (gpt-5-mini's published prices): set them
# when an agent uses another model.
ANALYSIS_PRICE_USD_PER_M = {
    "input": env_decimal("ANALYSIS_PRICE_INPUT", "0.25"),
    "input_cached": env_decimal("ANALYSIS_PRICE_INPUT_CACHED", "0.025"),
    "output": env_decimal("ANALYSIS_PRICE_OUTPUT", "2.00"),
}
SAUTIKIT_KES_PER_MINUTE = {
    "inbound": env_decimal("SAUTIKIT_INBOUND_KES_PER_MINUTE", "0"),
    "outbound": env_decimal("SAUTIKIT_OUTBOUND_KES_PER_MINUTE", "3.00"),
}
KES_PER_USD = env_decimal("KES_PER_USD", "129.00")

# Call recordings (opt-in per agent) go through Django's storage API: local files by default.
MEDIA_ROOT = env_str("MEDIA_ROOT") or str(BASE_DIR / "media")
RECORDING_RETENTION_DAYS = env_int("RECORDING_RETENTION_DAYS", 30)

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "agents",
    "calls",
    "streaming",
]

MIDDLEWARE = [
    "voiceproject.health.HealthMiddleware",  # /healthz, /readyz: before host checks and redirects
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "voiceproject.urls"
ASGI_APPLICATION = "voiceproject.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "calls.security.admin_banner",
            ],
        },
    },
]

# Seconds a write waits for a database lock before it fails: under Sautikit's 10 s, so that a
# webhook answers 503 (and is retried) rather than time out; the bridge retries its own writes.
DATABASE_LOCK_TIMEOUT = env_int("DATABASE_LOCK_TIMEOUT", 8)
# PostgreSQL connections each server process keeps (a pool): size max_connections from it.
DATABASE_POOL_SIZE = env_int("DATABASE_POOL_SIZE", 20)
DATABASES = {
    "default": database_from_url(
        env_str("DATABASE_URL", "sqlite:///db.sqlite3"),
        BASE_DIR,
        DATABASE_LOCK_TIMEOUT,
        DATABASE_POOL_SIZE,
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # redis-py 8 gives up on a read after 5 s by default, and channels-redis waits
                # up to 5 s (BZPOPMIN) for a consumer's next message: the two race, and a lost
                # race raised in the consumer. Reads get comfortably longer than that wait.
                "hosts": [
                    {"address": REDIS_URL, "socket_timeout": 15, "socket_connect_timeout": 5}
                ],
                "prefix": env_str("CHANNEL_LAYER_PREFIX", "voice"),
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# "default" holds small counters every process must share (how many voice samples someone made
# this minute): Redis when there is one, else this process's memory, as with one process.
# "voice_samples" keeps the samples themselves, in each process's memory and bounded: at most
# 40 of them (about 1 MB each at most), for an hour.
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL,
         "KEY_PREFIX": env_str("CHANNEL_LAYER_PREFIX", "voice"),
         "OPTIONS": {"socket_timeout": 5, "socket_connect_timeout": 5}}
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    ),
    "voice_samples": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "voice-samples",
        "TIMEOUT": 3600,
        "OPTIONS": {"MAX_ENTRIES": 40},
    },
}  # fmt: skip

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
# Operators read call times in their own time zone.
TIME_ZONE = env_str("TIME_ZONE", "Africa/Nairobi")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# Without collectstatic (development, tests) whitenoise serves from the apps' folders.
WHITENOISE_USE_FINDERS = DEBUG

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django": {"level": "INFO", "propagate": True}},
}
