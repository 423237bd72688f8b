"""A setting's name as operators read it: the label its field has on the agent's page."""

from __future__ import annotations

from django.core.exceptions import FieldDoesNotExist
from django.db import models

from agents.models import Agent

__all__ = ["label"]


def label(name: str) -> str:
    if name == "tools":
        return "custom tools"
    if name == "notes":
        return "notes to take"
    try:
        field = Agent._meta.get_field(name)
    except FieldDoesNotExist:  # a setting since removed, kept in old versions
        return name.replace("_", " ")
    return str(field.verbose_name) if isinstance(field, models.Field) else name
