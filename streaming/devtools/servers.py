"""The servers a test or a benchmark talks to, as subprocesses: the project (one daphne process
as `make run`, or `make serve`'s production shape) or the minimal relay (bench/relay.py), and the
Realtime stand-in, with one agent per call made in a fresh database.
"""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from streaming.core.live import client as live

ROOT = Path(__file__).resolve().parents[2]
BASE_NUMBER = 254711500000


class LoopbackHTTP:
    """An HTTP server on 127.0.0.1 answering from threads of its own: the Responses stand-in
    and the tests' tool endpoints. poll_interval is how often serve_forever looks for close():
    a test that starts one per test asks for less than a long-running stand-in's half second."""

    def __init__(
        self, handler: type[BaseHTTPRequestHandler], port: int = 0, poll_interval: float = 0.5
    ) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.server.daemon_threads = True
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": poll_interval}, daemon=True
        ).start()

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def free_port() -> int:
    """A port nothing listens on, for a server started next. Taken below the kernel's range
    for outgoing connections: a port from that range (what binding to port 0 gives) can be
    handed to some process's connection to PostgreSQL or Redis before the server binds it.
    Never the same port twice in one process (of those it picks; the kernel's fallback below
    is the kernel's): the check releases the port at once, so two servers started together
    (the project and its stand-ins) could otherwise be given one."""
    low = _outgoing_ports()[0]
    for _ in range(200 if low > PORTS_FROM + 1000 else 0):
        port = random.randrange(PORTS_FROM, low)  # noqa: S311 (a port, not a secret)
        if port in _HANDED_OUT:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            _HANDED_OUT.add(port)
            return port
    with socket.socket() as s:  # every one tried was taken: the kernel's choice, as before
        s.bind(("127.0.0.1", 0))
        chosen: int = s.getsockname()[1]
        return chosen


# Servers that tests and benchmarks start listen from here up to the outgoing range.
PORTS_FROM = 20000
_HANDED_OUT: set[int] = set()


def _outgoing_ports() -> tuple[int, int]:
    """The ports the kernel gives outgoing connections (Linux's default where unreadable)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def wait_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listening on port {port}")


# The shapes measured: the project in one process on its embedded defaults (make run), the
# production shape (make serve: 2 workers, PostgreSQL, Redis), and the minimal relay, on its
# own `websockets` server and under daphne.
EMBEDDED, SERVE, RELAY, RELAY_DAPHNE = "embedded", "serve", "relay", "relay-daphne"
# The yardsticks: no webhooks, no database; callers go straight to the stream socket.
RELAYS = (RELAY, RELAY_DAPHNE)
# The agents' engines (agents.models.Engine) and a model each.
REALTIME, LIVE = "realtime", "live"
ENGINE_MODELS = {REALTIME: "gpt-realtime", LIVE: live.MODELS[0]}


@dataclass
class Servers:
    env: dict[str, str]
    port: int
    stats_path: str
    server: subprocess.Popen[bytes]
    fake: subprocess.Popen[bytes]
    tmp: tempfile.TemporaryDirectory[str] = field(repr=False)
    shape: str = EMBEDDED
    database: str = ""  # a PostgreSQL database made for this run, dropped at the end

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def pids(self) -> list[int]:
        """The server's processes: the launcher and its workers under `make serve`."""
        children = Path(f"/proc/{self.server.pid}/task/{self.server.pid}/children")
        found = children.read_text().split() if children.exists() else []
        return [self.server.pid, *map(int, found)]

    def stop(self) -> None:
        for p in (self.server, self.fake):
            p.terminate()
            if p is self.server and self.shape not in RELAYS:
                p.terminate()  # twice: no drain wait for calls a failed run left open
        for p in (self.server, self.fake):
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        if self.database:
            _drop_database(self.database)


def start_servers(
    calls: int,
    env: dict[str, str] | None = None,
    fake_args: list[str] | None = None,
    shape: str = EMBEDDED,
    engine: str = REALTIME,
) -> Servers:
    """The server (by `shape`) and the stand-ins (Realtime, GPT-Live, Responses) as
    subprocesses, with one agent per call, on `engine` (the agent's setting).

    Without `env`, a fresh database (SQLite in a temporary folder; PostgreSQL for `serve`);
    with a DATABASE_URL in `env` (a test's database), that one, already migrated, with `calls`
    = 0 agents made here.
    """
    tmp = tempfile.TemporaryDirectory(prefix="voicebench-")
    port, fake_port, text_port, live_port = free_port(), free_port(), free_port(), free_port()
    stats = os.path.join(tmp.name, "fake-stats.jsonl")
    database = _make_database() if shape == SERVE else ""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "voiceproject.settings",
        "DATABASE_URL": database or f"sqlite:///{tmp.name}/bench.sqlite3",
        "OPENAI_API_KEY": "sk-bench",
        "OPENAI_REALTIME_URL": f"ws://127.0.0.1:{fake_port}/v1/realtime",
        # The summaries after each call: the stand-in's Responses API, never OpenAI's.
        "OPENAI_BASE_URL": f"http://127.0.0.1:{text_port}/v1",
        "OPENAI_LIVE_URL": f"ws://127.0.0.1:{live_port}/v1/live/sessions",
        "LOG_LEVEL": "WARNING",
        "SAUTIKIT_SIGNING_SECRET": "",
        "PUBLIC_BASE_URL": "",
        "REDIS_URL": BENCH_REDIS_URL if shape == SERVE else "",
        "CHANNEL_LAYER_PREFIX": f"bench-{os.getpid()}",
        **(env or {}),
    }
    py = sys.executable
    if calls and shape not in RELAYS:
        subprocess.run([py, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
        make_agents = (
            "from agents.models import Agent\n"
            f"for i in range({calls}):\n"
            f"    Agent(name=f'bench {{i}}', phone_number='+' + str({BASE_NUMBER} + i), "
            "instructions=f'bench call {i}', greeting='Greet the caller.', "
            f"engine={engine!r}, model={ENGINE_MODELS[engine]!r}).save()\n"
        )
        subprocess.run([py, "manage.py", "shell", "-v0", "-c", make_agents], cwd=ROOT, env=env,
                       check=True)  # fmt: skip
    fake = subprocess.Popen(
        [py, "manage.py", "fake_realtime", "--port", str(fake_port), "--stats", stats,
         "--text-port", str(text_port), "--live-port", str(live_port),
         *(fake_args or [])],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    command = {
        EMBEDDED: [py, "-m", "voiceproject.worker", "-b", "127.0.0.1", "-p", str(port),
                   "voiceproject.asgi:application"],  # as `make run`
        SERVE: [py, "-m", "voiceproject.serve"],
        RELAY: [py, "-m", "bench.relay", "--port", str(port), "--realtime-url",
                env["OPENAI_REALTIME_URL"]],
        RELAY_DAPHNE: [py, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "bench.relay:asgi"],
    }[shape]  # fmt: skip
    if shape == SERVE:
        env = {**env, "WORKERS": BENCH_WORKERS, "HOST": "127.0.0.1", "PORT": str(port)}
    if shape == RELAY_DAPHNE:
        env = {**env, "RELAY_REALTIME_URL": env["OPENAI_REALTIME_URL"]}
    with open(os.path.join(tmp.name, "server.log"), "w") as log:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log)
    wait_port(port)
    wait_port(fake_port)
    return Servers(env, port, stats, server, fake, tmp, shape, database)


# PostgreSQL and Redis for the production shape: the ones `make test` uses, by default.
BENCH_POSTGRES_URL = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")
BENCH_REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
BENCH_WORKERS = os.environ.get("BENCH_WORKERS", "2")


def _make_database() -> str:
    """A new, empty PostgreSQL database for one run (dropped by Servers.stop)."""
    import psycopg

    name = f"voicebench_{os.getpid()}_{int(time.time())}"
    with psycopg.connect(BENCH_POSTGRES_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return BENCH_POSTGRES_URL.rsplit("/", 1)[0] + "/" + name


def _drop_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(BENCH_POSTGRES_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
