"""python manage.py delete_expired_recordings: run daily (cron, a systemd timer)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from calls.models import Call, Source


class Command(BaseCommand):
    help = "Delete call recordings older than RECORDING_RETENTION_DAYS (the calls are kept)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="list, delete nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        days = settings.RECORDING_RETENTION_DAYS
        cutoff = timezone.now() - timedelta(days=days)
        expired = Call.objects.filter(started_at__lt=cutoff).exclude(recording="")
        deleted = 0
        for call in expired.iterator():
            name = call.recording.name
            if options["dry_run"]:
                self.stdout.write(f"would delete {name} (call {call.call_id})")
                continue
            # A file already gone (deleted by hand) still clears the call's link to it.
            call.recording.delete(save=False)
            call.save(update_fields=["recording", "updated_at"])
            call.record_event(Source.SYSTEM, "recording.deleted", {"name": name, "days": days})
            deleted += 1
        verb = "would delete" if options["dry_run"] else "deleted"
        count = expired.count() if options["dry_run"] else deleted
        self.stdout.write(f"{verb} {count} recording(s) older than {days} days")
