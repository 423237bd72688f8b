"""python manage.py simulate_call --number +254711000100 [--wav caller.wav] [--out call.wav]"""

from __future__ import annotations

import asyncio
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from streaming.devtools.simulator import simulate_call


class Command(BaseCommand):
    help = "Play Sautikit's part in one call against a running server and report what happened."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--number", required=True, help="the number dialled (an agent's)")
        parser.add_argument("--caller", default="+254700000001")
        parser.add_argument("--wav", help="16-bit WAV of the caller (default: a scripted caller)")
        parser.add_argument("--out", default="call.wav", help="stereo WAV of both sides")
        parser.add_argument("--base-url", default="http://127.0.0.1:8000")
        parser.add_argument("--tail", type=float, default=3.0, help="seconds to listen at the end")

    def handle(self, *args: Any, **options: Any) -> None:
        report = asyncio.run(
            simulate_call(
                options["base_url"],
                options["number"],
                caller=options["caller"],
                wav=options["wav"],
                out=options["out"],
                tail_s=options["tail"],
                secret=settings.SAUTIKIT_SIGNING_SECRET,
            )
        )
        self.stdout.write(report.summary())
        if report.refused:
            raise CommandError(report.refused)
