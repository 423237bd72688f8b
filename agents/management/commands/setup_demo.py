"""Make a newcomer's first run useful: a demo agent and an admin user whose password is printed."""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from agents.models import LIVE_MODELS, Agent, Engine, NoteField, one_revision

DEMO_NUMBER = "+254711000100"
DEMO_LIVE_NUMBER = "+254711000101"  # the same demo on the GPT-Live engine
DEMO_INSTRUCTIONS = """\
You are the friendly demo assistant of a small Nairobi clinic, speaking on the phone.
Keep every answer short: one or two sentences, as people do on a call.
You can tell callers the opening hours (Monday to Saturday, 8 am to 6 pm) and help them
book an appointment by asking for their name and a preferred day.
If you do not know something, say so and offer to have a person call back.
When the caller has nothing more to ask, say goodbye and end the call."""
# GPT-Live speaks from the instructions above and hands tools to a backend model, which gets
# its own (as OpenAI's migration guide advises: how to speak there, what to do here).
DEMO_BACKEND_INSTRUCTIONS = """\
You act for a small Nairobi clinic's phone line. Opening hours: Monday to Saturday, 8 am to 6 pm.
When the caller has said goodbye, end the call."""
# What the demo notes after each call (the call's page and the call list show them).
DEMO_NOTES = [
    ("caller's name", "text", ""),
    ("wants an appointment?", "yes_no", ""),
    ("reason", "choice", "appointment\nopening hours\nsomething else"),
]


class Command(BaseCommand):
    help = "Create the demo agent and an admin user (idempotent); print how to try them."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--number", default=DEMO_NUMBER, help="the demo agent's number")
        parser.add_argument(
            "--live-number", default=DEMO_LIVE_NUMBER, help="the GPT-Live demo agent's number"
        )
        parser.add_argument("--username", default="admin")
        parser.add_argument(
            "--reset-password", action="store_true", help="give the admin user a new password"
        )
        parser.add_argument(
            "--base-url", default="http://127.0.0.1:8000", help="where the server listens"
        )

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        agent = self.demo_agent(options["number"], Engine.REALTIME)
        live = self.demo_agent(options["live_number"], Engine.LIVE)

        User = get_user_model()
        username = options["username"]
        user = User.objects.filter(username=username).first()
        password = None
        if user is None:
            password = secrets.token_urlsafe(12)
            User.objects.create_superuser(username=username, email="", password=password)
        elif options["reset_password"]:
            password = secrets.token_urlsafe(12)
            user.set_password(password)
            user.save(update_fields=["password"])

        base = options["base_url"].rstrip("/")
        if password:
            self.stdout.write(
                self.style.SUCCESS(f"Admin: {base}/admin/  user {username}  password {password}")
            )
        else:
            self.stdout.write(
                f"Admin: {base}/admin/  user {username} (password unchanged; "
                "`make admin-password` sets a new one)"
            )
        self.stdout.write("Try a call:")
        # simulate_call finds a server on the default address by itself; elsewhere it is told.
        where = "" if base == "http://127.0.0.1:8000" else f" --base-url {base}"
        for demo in (agent, live):
            self.stdout.write(
                f"  .venv/bin/python manage.py simulate_call --number {demo.phone_number}{where}"
                f"   # {demo.name}, as Sautikit would, with a scripted caller"
            )
        self.stdout.write("or just its first webhook:")
        for demo in (agent, live):
            self.stdout.write(
                f"  curl -X POST -d 'sessionId=demo-1&callerNumber=%2B254700000001"
                f"&destinationNumber={demo.phone_number.replace('+', '%2B')}' "
                f"{base}/sautikit/voice/   # {demo.name}"
            )

    def demo_agent(self, number: str, engine: str) -> Agent:
        """The demo agent on `number`, made with its notes if there is none there."""
        live = engine == Engine.LIVE
        name = "Demo agent (GPT-Live)" if live else "Demo agent"
        agent = Agent.objects.for_number(number)
        if agent is not None:
            self.stdout.write(f"{agent.name} is on {agent.phone_number}.")
            return agent
        agent = Agent(
            name=name,
            phone_number=number,
            instructions=DEMO_INSTRUCTIONS,
            # Words as a person says them: the agent speaks them (OpenAI in its own voice; the
            # local stand-in reads a greeting out as it is written).
            greeting="Hello, this is the demo clinic. Demo calls are recorded. How can I help "
            "you today?",
            # Off by default for real agents; the demo shows what a recorded call looks like.
            record_calls=True,
        )
        if live:
            agent.engine, agent.model = Engine.LIVE, LIVE_MODELS[0]
            agent.backend_instructions = DEMO_BACKEND_INSTRUCTIONS
        with one_revision("setup_demo"):  # the agent and its notes: one first version
            agent.save()
            for position, (note, kind, choices) in enumerate(DEMO_NOTES):
                NoteField.objects.create(agent=agent, name=note, kind=kind, choices=choices,
                                         position=position)  # fmt: skip
        self.stdout.write(f"Created {name} on {agent.phone_number}.")
        return agent
