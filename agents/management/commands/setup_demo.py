"""Make a newcomer's first run useful: a demo agent and an admin user whose password is printed."""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from agents.models import Agent, NoteField, one_revision

DEMO_NUMBER = "+254711000100"
DEMO_INSTRUCTIONS = """\
You are the friendly demo assistant of a small Nairobi clinic, speaking on the phone.
Keep every answer short: one or two sentences, as people do on a call.
You can tell callers the opening hours (Monday to Saturday, 8 am to 6 pm) and help them
book an appointment by asking for their name and a preferred day.
If you do not know something, say so and offer to have a person call back.
When the caller has nothing more to ask, say goodbye and end the call."""
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
        parser.add_argument("--username", default="admin")
        parser.add_argument(
            "--reset-password", action="store_true", help="give the admin user a new password"
        )
        parser.add_argument(
            "--base-url", default="http://127.0.0.1:8000", help="where the server listens"
        )

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        agent = Agent.objects.for_number(options["number"])
        if agent is None:
            agent = Agent(
                name="Demo agent",
                phone_number=options["number"],
                instructions=DEMO_INSTRUCTIONS,
                greeting="Greet the caller warmly, say that demo calls are recorded, and ask "
                "how you can help.",
                # Off by default for real agents; the demo shows what a recorded call looks like.
                record_calls=True,
            )
            with one_revision("setup_demo"):  # the agent and its notes: one first version
                agent.save()
                for position, (name, kind, choices) in enumerate(DEMO_NOTES):
                    NoteField.objects.create(agent=agent, name=name, kind=kind,
                                             choices=choices, position=position)  # fmt: skip
            self.stdout.write(f"Created the demo agent on {agent.phone_number}.")
        else:
            self.stdout.write(f"The demo agent is on {agent.phone_number}.")

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
        self.stdout.write(
            "Try a call:\n"
            f"  curl -X POST -d 'sessionId=demo-1&callerNumber=%2B254700000001"
            f"&destinationNumber={agent.phone_number.replace('+', '%2B')}' {base}/sautikit/voice/"
        )
