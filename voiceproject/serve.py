"""`make serve`: the production shape on one machine, in the foreground.

WORKERS daphne processes (default: the number of cores) share one listening socket on
HOST:PORT, made here and handed to each (`daphne --fd`): the kernel gives each new connection to
whichever worker accepts it first, so no proxy is needed between them. A call lives in the
process that accepted its stream socket; Sautikit's callbacks land on any worker and reach it
through Redis. So more than one worker needs PostgreSQL (SQLite is one process's database) and
REDIS_URL (Channels' in-memory layer is one process's), and this refuses to start without them.

The environment is the one `make run` reads, settings module included: DJANGO_SETTINGS_MODULE
when set (the production unit sets voiceproject.settings_production), else the defaults. A
worker that dies is started again; SIGTERM or SIGINT stops them all.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time

# A worker that exits by itself is replaced; one that keeps dying this fast stops the server.
RESTART_BACKOFF_S = 1.0
STOP_TIMEOUT_S = 30.0


def shape_problem(workers: int, database_engine: str, redis_url: str) -> str:
    """Why this many workers cannot run on these settings, or "" if they can."""
    if workers < 1:
        return "WORKERS must be 1 or more"
    if workers == 1:
        return ""
    missing = []
    if not database_engine.endswith("postgresql"):
        missing.append("DATABASE_URL must point at PostgreSQL (SQLite serves one process)")
    if not redis_url:
        missing.append("REDIS_URL must be set (Sautikit's callbacks reach a call's process "
                       "through Redis)")  # fmt: skip
    if not missing:
        return ""
    return (f"{workers} workers need PostgreSQL and Redis: " + "; ".join(missing)
            + ". Or run one worker: WORKERS=1.")  # fmt: skip


def listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.create_server((host, port), family=family, backlog=1024)
    listener.set_inheritable(True)
    return listener


class Supervisor:
    def __init__(self, listener: socket.socket, workers: int) -> None:
        self.listener = listener
        self.size = workers
        self.workers: list[subprocess.Popen[bytes]] = []
        self.stopping = False

    def spawn(self) -> subprocess.Popen[bytes]:
        fd = self.listener.fileno()
        command = [sys.executable, "-m", "daphne", "--fd", str(fd), "voiceproject.asgi:application"]
        return subprocess.Popen(command, pass_fds=(fd,), preexec_fn=_die_with_parent)  # noqa: S603

    def stop(self, signum: int, frame: object) -> None:
        self.stopping = True

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        self.workers = [self.spawn() for _ in range(self.size)]
        host, port = self.listener.getsockname()[:2]
        print(f"serving on {host}:{port} with {self.size} worker(s): "
              f"{', '.join(str(w.pid) for w in self.workers)}", flush=True)  # fmt: skip
        while not self.stopping:
            time.sleep(0.2)
            for i, worker in enumerate(self.workers):
                if worker.poll() is not None and not self.stopping:
                    print(f"worker {worker.pid} exited ({worker.returncode}); starting another",
                          file=sys.stderr, flush=True)  # fmt: skip
                    time.sleep(RESTART_BACKOFF_S)
                    self.workers[i] = self.spawn()
        return self.shutdown()

    def shutdown(self) -> int:
        for worker in self.workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for worker in self.workers:
            try:
                worker.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
        self.listener.close()
        return 0


def _die_with_parent() -> None:
    """In a worker, before daphne starts (Linux): SIGTERM when the launcher dies, however it
    dies, so that no orphaned worker keeps serving (and holding calls) on its own."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


PR_SET_PDEATHSIG = 1


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voiceproject.settings")
    import django
    from django.conf import settings

    django.setup()
    try:
        workers = int(os.environ.get("WORKERS") or os.cpu_count() or 1)
        port = int(os.environ.get("PORT") or 8000)
    except ValueError:
        print("make serve: WORKERS and PORT must be whole numbers", file=sys.stderr)
        return 2
    problem = shape_problem(workers, settings.DATABASES["default"]["ENGINE"], settings.REDIS_URL)
    if problem:
        print(f"make serve: {problem}", file=sys.stderr)
        return 2
    host = os.environ.get("HOST") or "127.0.0.1"
    return Supervisor(listen(host, port), workers).run()


if __name__ == "__main__":
    sys.exit(main())
