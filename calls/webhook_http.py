"""HTTP plumbing shared by Sautikit's webhooks: method, size, parsing, signature, clear errors."""

from __future__ import annotations

import functools
import io
import logging
from collections.abc import Callable, Iterable
from typing import Any, cast

from django.conf import settings
from django.core.exceptions import TooManyFieldsSent
from django.db import DataError, IntegrityError, OperationalError
from django.http import HttpRequest, HttpResponse, QueryDict
from django.http.multipartparser import MultiPartParser, MultiPartParserError
from django.views.decorators.csrf import csrf_exempt

from voiceproject.lib import signatures, strict_json

log = logging.getLogger(__name__)

View = Callable[..., HttpResponse]
# Seconds Sautikit is asked to wait before retrying when the database is busy.
RETRY_AFTER_S = 30


class WebhookError(Exception):
    """A request we refuse, with the status and the short reason the sender gets back."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class WebhookRequest(HttpRequest):
    """A webhook's request once `webhook` has read its (bounded) body."""

    raw_body: bytes


def text(reason: str, status: int = 200) -> HttpResponse:
    return HttpResponse(reason + "\n", status=status, content_type="text/plain; charset=utf-8")


def webhook(view: View) -> View:
    """POST only, bounded body, and every WebhookError answered as a plain-text 4xx."""

    @csrf_exempt
    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method != "POST":
            response = text(f"{request.method} not allowed here: Sautikit POSTs to this URL", 405)
            response["Allow"] = "POST"
            return response
        try:
            hook = cast(WebhookRequest, request)
            hook.raw_body = read_body(request)
            return view(hook, *args, **kwargs)
        except WebhookError as e:
            log.warning("webhook %s refused (%s): %s", request.path, e.status, e.reason)
            return text(e.reason, e.status)
        except (IntegrityError, DataError) as e:
            # Values the database will not hold (after every check we make): nothing was
            # stored, and sending the same body again would not help.
            log.warning("webhook %s could not be stored: %s", request.path, e)
            return text(f"could not be stored: {str(e).splitlines()[0][:200]}", 422)
        except OperationalError as e:
            # Locked, timed out or gone: nothing was stored. A non-2xx makes Sautikit retry.
            log.error("webhook %s: database unavailable: %s", request.path, e)
            response = text("database busy: nothing was stored, please retry", 503)
            response["Retry-After"] = str(RETRY_AFTER_S)
            return response

    return wrapper


def read_body(request: HttpRequest) -> bytes:
    limit = settings.WEBHOOK_MAX_BODY_BYTES
    too_big = WebhookError(413, f"body larger than {limit} bytes")
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise WebhookError(400, "Content-Length is not a number") from None
    if declared > limit:
        raise too_big
    # Read one byte past the limit: a body sent without a length can still be too big.
    body = request.read(limit + 1)
    if len(body) > limit:
        raise too_big
    return body


def parse_payload(request: WebhookRequest) -> dict[str, Any]:
    """The body as a dict, from JSON or a form; query parameters fill fields the body lacks."""
    body: bytes = request.raw_body
    content_type = request.content_type or ""
    if content_type == "application/json" or (
        content_type in {"", "text/plain"} and body.lstrip().startswith(b"{")
    ):
        payload = _parse_json(body)
    elif content_type in {"application/x-www-form-urlencoded", "", "text/plain"}:
        payload = _parse_form(body)
    elif content_type == "multipart/form-data":
        payload = _parse_multipart(request, body)
    else:
        raise WebhookError(415, f"{content_type} not understood: send form fields or JSON")
    for key, value in request.GET.items():
        payload.setdefault(key, value)
    cleaned: dict[str, Any] = strip_nul(payload)
    return cleaned


def _parse_json(body: bytes) -> dict[str, Any]:
    try:
        payload = strict_json.loads(body)
    except ValueError as e:
        raise WebhookError(400, str(e)) from None
    if not isinstance(payload, dict):
        raise WebhookError(400, "JSON body must be an object")
    return payload


def _parse_form(body: bytes) -> dict[str, Any]:
    try:
        form = QueryDict(body, encoding="utf-8")
    except TooManyFieldsSent:
        raise WebhookError(400, "too many form fields") from None
    # A field sent twice keeps its last value, as most form parsers do.
    return {key: form[key] for key in form}


def _parse_multipart(request: HttpRequest, body: bytes) -> dict[str, Any]:
    try:
        form, _files = MultiPartParser(
            request.META, io.BytesIO(body), request.upload_handlers, request.encoding
        ).parse()
    except (MultiPartParserError, TooManyFieldsSent, ValueError) as e:
        raise WebhookError(400, f"malformed multipart body: {e}") from None
    return {key: form[key] for key in form}


def strip_nul(value: Any) -> Any:
    """Drop NUL characters, which PostgreSQL cannot store in text or JSON."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {strip_nul(str(k)): strip_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [strip_nul(v) for v in value]
    return value


def field(payload: dict[str, Any], *names: str, limit: int = 128) -> str:
    """The first of `names` present in the payload, as text; too long is a 400."""
    for name in names:
        value = payload.get(name)
        if value is None or isinstance(value, dict | list):
            continue
        if isinstance(value, bool):
            value = int(value)
        value = str(value).strip()
        if not value:
            continue
        if len(value) > limit:
            raise WebhookError(400, f"{name} longer than {limit} characters")
        return value
    return ""


def check_signature(request: WebhookRequest, secrets: Iterable[str]) -> None:
    try:
        signatures.verify(
            request.raw_body,
            request.headers.get(signatures.HEADER),
            secrets,
            tolerance=settings.SAUTIKIT_SIGNATURE_TOLERANCE,
        )
    except signatures.SignatureError as e:
        raise WebhookError(403, str(e)) from None


def delivery_id(request: HttpRequest, payload: dict[str, Any]) -> str | None:
    """Sautikit's id for a delivery (body or header), for dropping repeats."""
    return (
        field(payload, "event_id")
        or request.headers.get("X-Sautikit-Event-Id", "")[:128]
        or request.headers.get("X-Sautikit-Idempotency-Key", "")[:128]
        or None
    )
