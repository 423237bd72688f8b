"""Rows kept in their agent's versions (its custom tools, its notes)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import models, transaction

if TYPE_CHECKING:
    from agents.models import Agent


class PartOfAgent(models.Model):
    """Saving or deleting one revises its agent: a new version, or one per admin Save."""

    agent: Agent  # each subclass's ForeignKey, with its own related name

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        with transaction.atomic():
            super().save(*args, **kwargs)
            self.agent.revise()

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        with transaction.atomic():
            deleted = super().delete(*args, **kwargs)
            self.agent.revise()
        return deleted
