"""HTTP plumbing shared by Sautikit's webhooks: method, size, parsing, signature, clear errors."""

from __future__ import annotations

import functools
import io
import logging
from collections.abc import Callable, Iterable
from typing import Any, TypeVar, cast

from django.conf import settings
from django.core.exceptions import TooManyFieldsSent
from django.db import DataError, IntegrityError, OperationalError
from django.http import HttpRequest, HttpResponse, QueryDict
from django.http.multipartparser import MultiPartParser, MultiPartParserError
from django.views.decorators.csrf import csrf_exempt

from streaming.ground import signatures, strict_json
from streaming.ground.text import strip_nul

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


class Answered(Exception):
    """A delivery whose answer is decided part-way (a repeat that raced its first copy)."""

    def __init__(self, response: HttpResponse) -> None:
        super().__init__("answered")
        self.response = response


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
        except Answered as e:
            return e.response
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
    """The body as a dict, from JSON or a form. Only the body is signed: the query string is
    left out (`signed_payload` adds it where nothing was signed)."""
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


def check_signature(request: WebhookRequest, secrets: Iterable[str]) -> signatures.Verified:
    try:
        return signatures.verify(
            request.raw_body,
            request.headers.get(signatures.HEADER),
            secrets,
            tolerance=settings.SAUTIKIT_SIGNATURE_TOLERANCE,
        )
    except signatures.SignatureError as e:
        raise WebhookError(403, str(e)) from None


T = TypeVar("T")
# Who signs a payload: the secrets that may, and what was looked up to name them (the known call,
# the agent), which the webhook goes on to use rather than look up again.
Signer = Callable[[dict[str, Any]], tuple[list[str], T]]


def signed_payload(
    request: WebhookRequest, signer: Signer[T]
) -> tuple[dict[str, Any], signatures.Verified, T]:
    """The payload a webhook acts on, once its signature is checked with the secrets `signer`
    names for it, and what `signer` found.

    On a signed request that is the body alone: the query string is not signed, so it decides
    nothing (Sautikit puts `clientRequestId` in the body too). Where no secret applies
    (development), query fields fill what the body lacks, as before; if those fields would
    name a call or number whose webhooks are signed, the request is refused instead.
    """
    payload = parse_payload(request)
    try:
        secrets, found = signer(payload)
    except WebhookError:
        if not request.GET:
            raise
        secrets = None  # the body alone lacks something (a call id): the query may have it
    if secrets is not None:
        verified = check_signature(request, secrets)
        if verified.signed or not request.GET:
            return payload, verified, found
    filled = dict(payload)
    for key, value in request.GET.items():
        filled.setdefault(key, strip_nul(value))
    secrets, found = signer(filled)
    if any(secrets):
        raise WebhookError(403, "query-string fields are not signed: send them in the body")
    return filled, signatures.UNSIGNED, found


def delivery_id(
    request: HttpRequest, payload: dict[str, Any], verified: signatures.Verified
) -> str | None:
    """The id repeats of this delivery share, for dropping them.

    Sautikit's `event_id` when the body has one; else, on a signed request, the fingerprint of
    the signed bytes (the same signed message twice is one delivery). The id headers are not
    signed, so they count only where nothing is: anyone could change them to make a replay
    look new, or a genuine delivery look like a repeat.
    """
    from_body = field(payload, "event_id")
    if from_body or verified.signed:
        return from_body or verified.fingerprint
    return (
        request.headers.get("X-Sautikit-Event-Id", "")[:128]
        or request.headers.get("X-Sautikit-Idempotency-Key", "")[:128]
        or None
    )
