"""`make serve`: the production shape on one machine, in the foreground.

WORKERS daphne processes (default: the number of cores) share one listening socket on
HOST:PORT, made here and handed to each (`--fd`): the kernel gives each new connection to
whichever worker accepts it first, so no proxy is needed between them. A call lives in the
process that accepted its stream socket; Sautikit's callbacks land on any worker and reach it
through Redis. So more than one worker needs PostgreSQL (SQLite is one process's database) and
REDIS_URL (Channels' in-memory layer is one process's), and this refuses to start without them.

The environment is the one `make run` reads, settings module included: DJANGO_SETTINGS_MODULE
when set (the production unit sets voiceproject.settings_production), else the defaults.

Signals (deploys drop no call; see voiceproject.worker for what a worker does when told to stop):
- SIGHUP: rolling restart. Each worker is replaced by a new one (new code, new settings) and
  told to stop; it drains its live calls while the new ones take the new calls.
- SIGTERM to one worker: the same for that worker alone (it tells us; we start its successor).
- SIGTERM or SIGINT here: every worker drains and the server exits once they are done. Again:
  the calls left are ended at once.
A worker that dies by itself is started again.

Metrics: the workers write theirs to PROMETHEUS_MULTIPROC_DIR (a temporary directory unless
set), and /metrics in any worker sums them (streaming.metrics).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# A worker that exits by itself is replaced, this long after.
RESTART_BACKOFF_S = 1.0
# Past the drain limit, workers get this long to end their calls before they are killed.
STOP_GRACE_S = 60.0


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
    def __init__(self, listener: socket.socket, workers: int, drain_limit_s: float) -> None:
        self.listener = listener
        self.size = workers
        self.drain_limit_s = drain_limit_s
        self.workers: list[subprocess.Popen[bytes]] = []
        # Workers told to stop (or that said they are stopping): reaped, never replaced.
        self.draining: list[subprocess.Popen[bytes]] = []
        self.signals: list[int] = []
        # Workers write their pid here when they begin to drain.
        self.notify_read, self.notify_write = os.pipe()
        os.set_blocking(self.notify_read, False)

    def spawn(self) -> subprocess.Popen[bytes]:
        fd = self.listener.fileno()
        command = [sys.executable, "-m", "voiceproject.worker", "--fd", str(fd),
                   "voiceproject.asgi:application"]  # fmt: skip
        return subprocess.Popen(  # noqa: S603
            command,
            pass_fds=(fd, self.notify_write),
            env={**os.environ, "SERVE_NOTIFY_FD": str(self.notify_write)},
            # Its own process group: Ctrl-C in the terminal reaches the launcher alone, which
            # tells each worker once (a second signal would end its calls at once).
            process_group=0,
            preexec_fn=_die_with_parent,
        )

    def on_signal(self, signum: int, frame: object) -> None:
        self.signals.append(signum)

    def run(self) -> int:
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, self.on_signal)
        self.workers = [self.spawn() for _ in range(self.size)]
        host, port = self.listener.getsockname()[:2]
        print(f"serving on {host}:{port} with {self.size} worker(s): {self.pids()}", flush=True)
        while True:
            time.sleep(0.2)
            while self.signals:
                received = self.signals.pop(0)
                if received == signal.SIGHUP:
                    self.restart()
                else:
                    return self.shutdown()
            for pid in self.stopping_workers():
                self.replace(pid, "is stopping")
            for worker in list(self.workers):
                if worker.poll() is not None:
                    print(f"worker {worker.pid} exited ({worker.returncode})", file=sys.stderr,
                          flush=True)  # fmt: skip
                    time.sleep(RESTART_BACKOFF_S)
                    self.replace(worker.pid, "exited")
            for worker in self.draining:
                if worker.poll() is not None:
                    _forget_live_figures(worker.pid)
            self.draining = [w for w in self.draining if w.poll() is None]

    def pids(self) -> str:
        return ", ".join(str(w.pid) for w in self.workers)

    def restart(self) -> None:
        """Rolling restart: a new worker for each, then the old ones drain."""
        for worker in list(self.workers):
            self.replace(worker.pid, "restarting")
            worker.send_signal(signal.SIGTERM)

    def replace(self, pid: int, why: str) -> None:
        old = next((w for w in self.workers if w.pid == pid), None)
        if old is None:
            return  # already replaced (we told it to stop, and it says so)
        new = self.spawn()
        self.workers[self.workers.index(old)] = new
        if old.poll() is None:
            self.draining.append(old)
        else:
            _forget_live_figures(pid)
        print(f"worker {pid} {why}; started {new.pid}. Workers: {self.pids()}", flush=True)

    def stopping_workers(self) -> list[int]:
        try:
            data = os.read(self.notify_read, 4096)
        except BlockingIOError:
            return []
        return [int(line) for line in data.split() if line.isdigit()]

    def shutdown(self) -> int:
        """Every worker drains; a second signal here ends their calls at once."""
        self.listener.close()  # the workers' copies close as they start draining
        everyone = self.workers + self.draining
        for worker in self.workers:
            worker.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.drain_limit_s + STOP_GRACE_S
        while any(w.poll() is None for w in everyone) and time.monotonic() < deadline:
            time.sleep(0.2)
            if self.signals:
                self.signals.clear()
                for worker in everyone:
                    if worker.poll() is None:
                        worker.send_signal(signal.SIGTERM)  # a second time: end calls now
        for worker in everyone:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
        return 0


def metrics_directory() -> tuple[Path, bool]:
    """Where the workers' metrics files go (PROMETHEUS_MULTIPROC_DIR, or a new temporary
    directory), emptied: figures of an earlier run would be added to this one's. Returns the
    directory and whether it is ours to delete at exit."""
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    path = Path(given) if given else Path(tempfile.mkdtemp(prefix="voice-metrics-"))
    path.mkdir(parents=True, exist_ok=True)
    for old in path.glob("*.db"):
        old.unlink()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)
    return path, not given


def _forget_live_figures(pid: int) -> None:
    """A worker is gone: its share of the live-calls gauge goes (its totals stay)."""
    from prometheus_client import multiprocess

    with contextlib.suppress(OSError):
        multiprocess.mark_process_dead(pid)


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
    problem = shape_problem(
        workers, str(settings.DATABASES["default"]["ENGINE"]), settings.REDIS_URL
    )
    if problem:
        print(f"make serve: {problem}", file=sys.stderr)
        return 2
    host = os.environ.get("HOST") or "127.0.0.1"
    figures, ours = metrics_directory()
    try:
        return Supervisor(listen(host, port), workers, settings.DRAIN_LIMIT_S).run()
    finally:
        if ours:
            shutil.rmtree(figures, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
