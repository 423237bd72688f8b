"""python manage.py fake_realtime: a local stand-in for OpenAI's Realtime API."""

from __future__ import annotations

import asyncio
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from streaming.fake_realtime import FakeRealtimeServer, Options, Voice, load_clip


class Command(BaseCommand):
    help = "Serve a Realtime-compatible WebSocket on ws://HOST:PORT/v1/realtime (no key needed)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8765)
        parser.add_argument("--tone", type=float, action="append", help="Hz (repeatable)")
        parser.add_argument("--reply-ms", type=int, default=1500, help="length of each answer")
        parser.add_argument("--clip", help="16-bit WAV to answer with instead of tones")
        parser.add_argument("--api-key", help="accept only this key (default: any)")
        parser.add_argument("--speedup", type=float, default=4.0, help="x real time for deltas")
        parser.add_argument("--stats", help="append per-session timings (JSON lines) here")

    def handle(self, *args: Any, **options: Any) -> None:
        tones = options["tone"] or [440.0]
        voice = Voice(
            tones=[(hz, 0.3 / len(tones)) for hz in tones],
            duration_ms=options["reply_ms"],
            clip=load_clip(options["clip"]) if options["clip"] else None,
        )
        server_options = Options(
            voice=voice,
            api_key=options["api_key"],
            speedup=options["speedup"],
            stats_path=options["stats"],
        )
        asyncio.run(self.serve(server_options, options["host"], options["port"]))

    async def serve(self, options: Options, host: str, port: int) -> None:
        server = await FakeRealtimeServer(options).start(host, port)
        self.stdout.write(f"Fake OpenAI Realtime on ws://{host}:{server.port}/v1/realtime")
        await asyncio.Event().wait()
