"""Settings read from the environment: typed readers, DATABASE_URL, and .env.example listing
every variable and port. Production's refusals (`manage.py check --deploy` in a process of
its own): tests/server/test_settings.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from streaming.ground.env import SettingError, database_from_url, env_bool, env_int, env_list

ROOT = Path(__file__).resolve().parents[2]


def test_it_parses_database_urls(tmp_path):
    assert database_from_url("sqlite:///db.sqlite3", tmp_path)["NAME"] == str(
        tmp_path / "db.sqlite3"
    )
    assert database_from_url("sqlite:////var/lib/x.db", tmp_path)["NAME"] == "/var/lib/x.db"
    pg = database_from_url("postgresql://me:p%40ss@h:5433/voice?sslmode=require", tmp_path)
    assert pg["ENGINE"] == "django.db.backends.postgresql"
    assert (pg["USER"], pg["PASSWORD"], pg["HOST"], pg["PORT"], pg["NAME"]) == (
        "me", "p@ss", "h", "5433", "voice",
    )  # fmt: skip
    assert pg["OPTIONS"] == {
        "sslmode": "require",
        "options": "-c lock_timeout=8000",
        # Pooled: under ASGI each request is a thread of its own (no persistent connections).
        "pool": {"min_size": 2, "max_size": 20, "timeout": 8},
    }
    assert pg["CONN_HEALTH_CHECKS"] is True  # each pooled connection checked as it is taken
    quick = database_from_url("sqlite:///db.sqlite3", tmp_path, lock_timeout_s=1.5)
    assert quick["OPTIONS"]["timeout"] == 1.5
    with pytest.raises(SettingError, match="mysql"):
        database_from_url("mysql://h/db", tmp_path)


def test_it_keeps_the_lock_timeout_beside_a_urls_own_server_options(tmp_path):
    pg = database_from_url("postgres://h/db?options=-c%20search_path%3Dvoice&connect_timeout=5",
                           tmp_path)  # fmt: skip
    assert pg["OPTIONS"]["options"] == "-c lock_timeout=8000 -c search_path=voice"
    assert pg["OPTIONS"]["connect_timeout"] == "5"  # as given: psycopg reads text


def test_it_says_when_a_database_url_cannot_be_read(tmp_path):
    with pytest.raises(SettingError, match="cannot be read"):
        database_from_url("postgres://h:port/db", tmp_path)


def test_it_reads_typed_values(monkeypatch):
    monkeypatch.setenv("FLAG", "yes")
    monkeypatch.setenv("NUM", "42")
    monkeypatch.setenv("HOSTS", "a, b,,c")
    assert env_bool("FLAG") is True
    assert env_int("NUM", 0) == 42
    assert env_list("HOSTS") == ["a", "b", "c"]
    monkeypatch.setenv("FLAG", "maybe")
    with pytest.raises(SettingError, match="FLAG"):
        env_bool("FLAG")
    monkeypatch.setenv("NUM", "many")
    with pytest.raises(SettingError, match="NUM"):
        env_int("NUM", 0)


def test_env_example_lists_every_variable_the_settings_read():
    example = (ROOT / ".env.example").read_text()
    settings_source = (ROOT / "voiceproject" / "settings.py").read_text()
    read = set(re.findall(r'env_\w+\("([A-Z_]+)"', settings_source))
    listed = set(re.findall(r"^#?\s*([A-Z_]+)=", example, flags=re.M))
    assert read <= listed, f"missing from .env.example: {sorted(read - listed)}"


# Handed by one of the project's processes to another it starts, not set by anyone: the
# launcher's pipe to its workers, the relay's upstream under daphne (bench); and the two the
# settings test above already covers.
INTERNAL = {"SERVE_NOTIFY_FD", "RELAY_REALTIME_URL", "DJANGO_SETTINGS_MODULE", "OPENAI_API_KEY"}


def test_env_example_lists_every_port_and_variable_the_tooling_reads():
    example = (ROOT / ".env.example").read_text()
    listed = set(re.findall(r"^#?\s*([A-Z_]+)=", example, flags=re.M))
    read: set[str] = set()
    for path in [ROOT / "Makefile", *(ROOT / "scripts").glob("*.sh")]:
        read |= set(re.findall(r"\$\{([A-Z_]+)[:}]", path.read_text()))
        read |= set(re.findall(r"^([A-Z_]+) \?=", path.read_text(), flags=re.M))
    for path in [*(ROOT / "voiceproject").glob("*.py"), *(ROOT / "bench").glob("*.py"),
                 *(ROOT / "streaming" / "devtools").glob("*.py"),
                 *(ROOT / "streaming" / "management" / "commands").glob("*.py"),
                 ROOT / "tests" / "conftest.py"]:  # fmt: skip
        read |= set(re.findall(r'environ(?:\.get\(|\[)"([A-Z_]+)"', path.read_text()))
    read -= INTERNAL | {"PYTHON", "UV_VERSION"}  # the Makefile's own, not the server's
    assert {"PORT", "HOST", "FAKE_REALTIME_PORT", "FAKE_LIVE_PORT", "WORKERS"} <= read
    assert "SCREENSHOTS_DIR" in read  # the browser tests' (tests/conftest.py)
    assert read <= listed, f"missing from .env.example: {sorted(read - listed)}"
