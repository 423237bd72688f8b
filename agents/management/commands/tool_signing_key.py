"""python manage.py tool_signing_key NUMBER TOOL: the key a custom tool's endpoint checks with;
NUMBER --webhook: the key of the agent's end-of-call webhook."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from agents.models import Agent


class Command(BaseCommand):
    help = (
        "Print the key that signs one custom tool's requests (derived from TOOL_SIGNING_SECRET, "
        "or the tool's own TOOL_SECRET_* setting), for whoever builds its endpoint."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("number", help="the agent's phone number, any usual way")
        parser.add_argument("tool", nargs="?", help="the tool's name, e.g. look_up_booking")
        parser.add_argument(
            "--webhook", action="store_true", help="the end-of-call webhook's key instead"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        agent = Agent.objects.for_number(options["number"])
        if agent is None:
            raise CommandError(f"no agent answers {options['number']}")
        if options["webhook"]:
            self.stdout.write(self._key(agent.webhook_signing_secret(), agent.webhook_secret_env))
            return
        if not options["tool"]:
            raise CommandError("name a tool, or ask for --webhook")
        tool = agent.tools.filter(name=options["tool"]).first()
        if tool is None:
            names = ", ".join(agent.tools.values_list("name", flat=True)) or "none"
            raise CommandError(f"{agent.name} has no tool {options['tool']!r} (it has: {names})")
        self.stdout.write(self._key(tool.signing_secret(), tool.secret_env))

    @staticmethod
    def _key(key: str, secret_env: str) -> str:
        if not key:
            setting = secret_env or "TOOL_SIGNING_SECRET"
            raise CommandError(f"{setting} is not set on this server: there is no key yet")
        return key
