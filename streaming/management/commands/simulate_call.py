"""python manage.py simulate_call --number +254711000100 [--wav caller.wav] [--out call.wav]"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from streaming.devtools.simulator import simulate_call, unreachable


def default_base_url() -> str:
    """Where `make run` listens: the same HOST and PORT it reads (127.0.0.1:8000 unset)."""
    host = os.environ.get("HOST") or "127.0.0.1"
    # A server listening on every address is reached on this machine through loopback.
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)  # noqa: S104
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{os.environ.get('PORT') or 8000}"


class Command(BaseCommand):
    help = (
        "Play Sautikit's part in one call against a running server (`make run`) and report "
        "what happened."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--number", required=True, help="the number dialled (an agent's)")
        parser.add_argument("--caller", default="+254700000001", help="the caller's number")
        parser.add_argument("--wav", help="16-bit WAV of the caller (default: a scripted caller)")
        parser.add_argument("--out", default="call.wav", help="stereo WAV of both sides")
        parser.add_argument(
            "--base-url",
            default=default_base_url(),
            help="the server's address, as `make run` printed it (default: %(default)s, from "
            "the HOST and PORT that `make run` reads)",
        )
        parser.add_argument("--tail", type=float, default=3.0, help="seconds to listen at the end")

    def handle(self, *args: Any, **options: Any) -> None:
        base_url = options["base_url"]
        why = unreachable(base_url)
        if why:
            raise CommandError(
                f"{why}. Start the server with `make run` (it prints its address) and give that "
                "address here with --base-url if it is not this one."
            )
        report = asyncio.run(
            simulate_call(
                base_url,
                options["number"],
                caller=options["caller"],
                wav=options["wav"],
                out=options["out"],
                tail_s=options["tail"],
                secret=settings.SAUTIKIT_SIGNING_SECRET,
                say=self.progress,
            )
        )
        self.stdout.write(report.summary())
        if report.refused:
            raise CommandError(report.refused)

    def progress(self, step: str) -> None:
        # Flushed: piped (`make demo` tees it), the steps would otherwise all come at the end.
        self.stdout.write(step)
        self.stdout.flush()
