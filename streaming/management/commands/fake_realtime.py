"""python manage.py fake_realtime: a local stand-in for OpenAI's Realtime API."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from streaming.devtools.fake_live import FakeLiveServer, LiveOptions
from streaming.devtools.fake_realtime import FakeRealtimeServer, Options, Voice, load_clip
from streaming.devtools.fake_text import FakeTextServer
from streaming.ground.heap import set_aside_start_up


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
        parser.add_argument(
            "--think-ms", type=int, default=0, help="wait before each answer's first audio"
        )
        parser.add_argument(
            "--live-port",
            type=int,
            help="also stand in for GPT-Live on this port, at /v1/live/sessions",
        )
        parser.add_argument(
            "--text-port",
            type=int,
            help="also answer OpenAI's Responses API (summaries) on this port, at /v1/responses",
        )
        parser.add_argument("--stats", help="append per-session timings (JSON lines) here")
        parser.add_argument(
            "--keep-audio", metavar="DIR", help="keep what each session heard, as DIR/<id>.wav"
        )
        parser.add_argument(
            "--answer",
            action="append",
            help="what an answer's transcript says (repeatable: used in turn)",
        )
        parser.add_argument(
            "--tool-call",
            action="append",
            default=[],
            metavar="TURN:NAME[:JSON]",
            help="answer caller turn TURN with a call of tool NAME, e.g. 2:end_call or "
            '1:look_up_booking:{"date":"2026-12-01"} (repeatable)',
        )

        faults = parser.add_argument_group("faults", "what callers hear when OpenAI fails")
        faults.add_argument(
            "--refuse-status", type=int, help="answer every upgrade with this HTTP status"
        )
        faults.add_argument(
            "--drop-after-s", type=float, help="fail each session this long in (error, close 1011)"
        )
        faults.add_argument(
            "--max-session-s",
            type=float,
            default=3600.0,
            help="close 1001 after this (OpenAI: 60 min)",
        )
        faults.add_argument(
            "--open-delay-ms", type=int, default=0, help="wait this long before session.created"
        )
        faults.add_argument(
            "--refuse-settings", metavar="CODE", help="refuse every session.update with this code"
        )

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
            first_delta_delay_ms=options["think_ms"],
            stats_path=options["stats"],
            keep_audio=options["keep_audio"],
            answers=options["answer"] or ["(a synthesised answer)"],
            tool_calls=dict(parse_tool_call(spec) for spec in options["tool_call"]),
            refuse_status=options["refuse_status"],
            drop_after_s=options["drop_after_s"],
            max_session_s=options["max_session_s"],
            open_delay_ms=options["open_delay_ms"],
            refuse_settings=options["refuse_settings"],
        )
        if options["text_port"] is not None:
            text = FakeTextServer(port=options["text_port"])
            self.stdout.write(f"Fake OpenAI Responses API on {text.base_url}")
        set_aside_start_up()  # a stand-in that pauses would be measured as the bridge's gaps
        asyncio.run(
            self.serve(server_options, options["host"], options["port"], options["live_port"])
        )

    async def serve(
        self, options: Options, host: str, port: int, live_port: int | None = None
    ) -> None:
        server = await FakeRealtimeServer(options).start(host, port)
        self.stdout.write(f"Fake OpenAI Realtime on ws://{host}:{server.port}/v1/realtime")
        if live_port is not None:
            live = LiveOptions(answers=options.answers, tool_calls=options.tool_calls,
                               reply_ms=options.voice.duration_ms,
                               stats_path=options.stats_path,
                               keep_audio=options.keep_audio)  # fmt: skip
            stand_in = await FakeLiveServer(live).start(host, live_port)
            self.stdout.write(f"Fake OpenAI GPT-Live on {stand_in.url}")
        await asyncio.Event().wait()


def parse_tool_call(spec: str) -> tuple[int, tuple[str, dict[str, Any]]]:
    turn, _, rest = spec.partition(":")
    name, _, arguments = rest.partition(":")
    try:
        args = json.loads(arguments) if arguments else {}
        if not turn.isdigit() or not name or not isinstance(args, dict):
            raise ValueError
    except ValueError:
        raise CommandError(f"--tool-call {spec!r}: expected TURN:NAME[:JSON object]") from None
    return int(turn), (name, args)
