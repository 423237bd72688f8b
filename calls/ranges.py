"""Byte ranges for the recording player: browsers seek in audio with `Range` requests."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import IO

from django.http import FileResponse, HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase

RANGE = re.compile(r"^bytes=([0-9]*)-([0-9]*)\Z")
CHUNK = 64 * 1024
# No file here is anywhere near 10^18 bytes; longer numbers are refused before int() reads them.
MAX_DIGITS = 18


def serve(request: HttpRequest, handle: IO[bytes], size: int, content_type: str,
          filename: str) -> HttpResponseBase:  # fmt: skip
    """The whole file, or the one range asked for (206); 416 for a range past the end."""
    wanted = _parse(request.headers.get("Range", ""), size)
    if wanted is None:
        response: HttpResponseBase = FileResponse(handle, content_type=content_type,
                                              filename=filename)  # fmt: skip
    elif isinstance(wanted, str):  # "unsatisfiable"
        handle.close()
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
    else:
        start, end = wanted
        response = StreamingHttpResponse(_read(handle, start, end), status=206,
                                         content_type=content_type)  # fmt: skip
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
        response["Content-Length"] = str(end - start + 1)
    response["Accept-Ranges"] = "bytes"
    return response


def _parse(header: str, size: int) -> tuple[int, int] | str | None:
    match = RANGE.match(header.strip())
    if not match or not (match[1] or match[2]):
        return None  # no range, several ranges, or nonsense: the whole file
    if len(match[1]) > MAX_DIGITS or len(match[2]) > MAX_DIGITS:
        return "unsatisfiable"
    if match[1]:
        start = int(match[1])
        end = min(int(match[2]), size - 1) if match[2] else size - 1
    else:  # the last N bytes
        start, end = max(0, size - int(match[2])), size - 1
    if start >= size or start > end:
        return "unsatisfiable"
    return start, end


def _read(handle: IO[bytes], start: int, end: int) -> Iterator[bytes]:
    try:
        handle.seek(start)
        left = end - start + 1
        while left > 0:
            chunk = handle.read(min(CHUNK, left))
            if not chunk:
                break
            left -= len(chunk)
            yield chunk
    finally:
        handle.close()
