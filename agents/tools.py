"""Custom tools: functions an agent may call during a call, answered by an HTTPS endpoint."""

from __future__ import annotations

import concurrent.futures
import hashlib
import hmac
import re
import socket
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from agents.env_names import check_env_name, read_env
from agents.versioned import PartOfAgent
from streaming.core.call.tool_schemas import FORMAT_CHECKER, schema_problem
from streaming.core.call.toolbox import BUILTIN_TOOL_NAMES, ToolSpec
from streaming.ground.outbound import endpoint_problem, resolved_problem

TOOL_SECRET_ENV_PREFIX = "TOOL_SECRET_"  # noqa: S105 (a name, not a secret)
NAME = re.compile(r"^[a-zA-Z][a-zA-Z0-9_-]{0,63}$")
# An admin save waits this long for DNS at most; a name not resolved by then is checked again,
# as every endpoint is, when a call uses it.
SAVE_DNS_TIMEOUT_S = 2.0
# Sent to OpenAI with every session, and read by the model at every turn: a few sentences.
MAX_DESCRIPTION_CHARS = 1024


def default_parameters() -> dict[str, Any]:
    return {"type": "object", "properties": {}, "required": []}


def validate_tool_name(value: str) -> None:
    if not NAME.match(value):
        raise ValidationError(
            "Use letters, digits, _ or -, starting with a letter, at most 64 characters "
            "(for example look_up_booking)."
        )
    if value in BUILTIN_TOOL_NAMES:
        raise ValidationError(f"{value} is built in: switch it on in the agent's settings.")


def validate_parameters(value: Any) -> None:
    """The parameters must be a JSON Schema for an object, as OpenAI's function calling needs."""
    if not isinstance(value, dict):
        raise ValidationError("The parameters must be a JSON object (a JSON Schema).")
    # First the bounds that every call checks again (streaming.core.call.toolbox): the metaschema's
    # own check would otherwise meet an oversized schema, or compile patterns with Python's re.
    problem = schema_problem(value)
    if problem:
        raise ValidationError(f"{problem[0].upper()}{problem[1:]}.")
    try:
        Draft202012Validator.check_schema(value, format_checker=FORMAT_CHECKER)
    except SchemaError as e:
        where = "/".join(str(p) for p in e.path) or "the top level"
        raise ValidationError(f"Not a valid JSON Schema at {where}: {e.message}") from None
    if value.get("type") != "object":
        raise ValidationError('The top level must say "type": "object".')
    properties = value.get("properties", {})
    if not isinstance(properties, dict):
        raise ValidationError('"properties" must be an object.')
    missing = [name for name in value.get("required", []) if name not in properties]
    if missing:
        raise ValidationError(f"Required but not described in properties: {', '.join(missing)}.")


def validate_endpoint(value: str) -> None:
    """https only, and never an address inside our own network, by name or once resolved."""
    allow_loopback = settings.TOOL_ALLOW_LOOPBACK
    problem = endpoint_problem(value, allow_loopback) or _resolved_problem(value, allow_loopback)
    if problem:
        raise ValidationError(f"This address cannot be used: {problem}.")


def _resolved_problem(url: str, allow_loopback: bool) -> str:
    host = urlsplit(url).hostname or ""
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        infos = pool.submit(socket.getaddrinfo, host, 443, type=socket.SOCK_STREAM).result(
            timeout=SAVE_DNS_TIMEOUT_S
        )
    except (OSError, concurrent.futures.TimeoutError):
        return ""  # not resolvable now: refused at call time if it resolves inside later
    finally:
        pool.shutdown(wait=False)
    return resolved_problem(host, infos, allow_loopback)


def signing_secret_for(secret_env: str, agent_number: str, tool_name: str) -> str:
    """A tool's signing secret, read from the environment now: the setting named, or the key
    derived from TOOL_SIGNING_SECRET for this agent's number and tool."""
    if secret_env:
        return read_env(secret_env)
    return derived_key(settings.TOOL_SIGNING_SECRET, agent_number, tool_name)


def tool_spec(saved: dict[str, Any], agent_number: str) -> ToolSpec:
    """What a call needs of a tool as a revision saved it (Tool.snapshot); the secret is read
    now, from the environment."""
    return ToolSpec(
        name=saved["name"],
        description=saved["description"],
        parameters=saved["parameters"],
        endpoint=saved["endpoint"],
        secret=signing_secret_for(saved["secret_env"], agent_number, saved["name"]),
        timeout_s=saved["timeout_seconds"],
        allow_loopback=settings.TOOL_ALLOW_LOOPBACK,
    )


def derived_key(master: str, agent_number: str, tool_name: str) -> str:
    """A tool's own signing key, derived from TOOL_SIGNING_SECRET: one leaked key signs for one
    tool only. `manage.py tool_signing_key` prints it for whoever builds the endpoint."""
    if not master:
        return ""
    message = f"sautivoice tool key\n{agent_number}\n{tool_name}".encode()
    return hmac.new(master.encode(), message, hashlib.sha256).hexdigest()


def validate_secret_env(value: str) -> None:
    check_env_name(value, TOOL_SECRET_ENV_PREFIX, "BOOKINGS")


class Tool(PartOfAgent):
    agent = models.ForeignKey("agents.Agent", on_delete=models.CASCADE, related_name="tools")
    name = models.CharField(
        max_length=64,
        validators=[validate_tool_name],
        help_text="A short name the agent uses for this action, e.g. look_up_booking.",
    )
    description = models.TextField(
        help_text="For the agent: what this tool does and when to use it, in plain words, "
        "e.g. “Looks up a booking by the caller's phone number. Use it when the caller asks "
        "about an appointment they already made.”",
    )
    parameters = models.JSONField(
        default=default_parameters,
        validators=[validate_parameters],
        help_text="What the agent must send, as a JSON Schema object. Ask a developer if "
        'unsure. Example: {"type": "object", "properties": {"date": {"type": "string", '
        '"description": "The day, like 2026-12-01"}}, "required": ["date"]}',
    )
    endpoint = models.URLField(
        max_length=500,
        validators=[validate_endpoint],
        help_text="The https:// address that answers this tool. It receives the agent's "
        "arguments as a signed JSON POST and must answer with JSON, quickly.",
    )
    secret_env = models.CharField(
        max_length=80,
        blank=True,
        validators=[validate_secret_env],
        verbose_name="signing secret (setting name)",
        help_text="Usually empty: requests are signed with a key of this tool's own, derived "
        "from the server's TOOL_SIGNING_SECRET (a developer gets it with manage.py "
        "tool_signing_key). To choose the secret instead, your administrator sets one named "
        f"like {TOOL_SECRET_ENV_PREFIX}BOOKINGS and you type that name here.",
    )
    timeout_seconds = models.FloatField(
        default=5.0,
        validators=[MinValueValidator(0.5), MaxValueValidator(30)],
        verbose_name="wait at most (seconds)",
        help_text="If the endpoint has not answered by then, the agent is told the tool failed "
        "and the call goes on. The caller waits in silence meanwhile: keep it short.",
    )
    is_enabled = models.BooleanField(default=True, verbose_name="enabled")

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["agent", "name"], name="unique_tool_name_per_agent")
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        super().clean()
        # Here rather than as the field's max_length, which would need a migration.
        if len(self.description) > MAX_DESCRIPTION_CHARS:
            raise ValidationError(
                {
                    "description": f"At most {MAX_DESCRIPTION_CHARS} characters: say what the tool "
                    "does and when to use it; the parameters' own descriptions can say the rest."
                }
            )

    def signing_secret(self) -> str:
        """Read from the environment at call time; never stored in the database."""
        return signing_secret_for(self.secret_env, self.agent.phone_number, self.name)

    def snapshot(self) -> dict[str, Any]:
        """The tool as a revision keeps it (the secret's setting name, never the secret)."""
        return {
            "name": self.name,
            "description": self.description,
            "parameters": self.parameters,
            "endpoint": self.endpoint,
            "secret_env": self.secret_env,
            "timeout_seconds": self.timeout_seconds,
        }
