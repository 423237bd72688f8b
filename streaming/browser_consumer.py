"""The socket a staff member's browser opens to talk to an agent (calls.talk starts the call).

The same consumer and bridge as a phone call's stream: binary frames of S16LE mono at the call's
rate both ways, killAudio as text. Only who may open it differs (the logged-in user who started
the call, still allowed to, with the call's one-use token, from this site's pages), and what is
sent besides the audio: each turn of the transcript, and how the call ended, as JSON text.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any
from urllib.parse import parse_qs

from streaming.consumer import StreamConsumer
from streaming.core.call.bridge import TURN
from streaming.core.call.endings import CallEnd
from streaming.tokens import BROWSER_SALT, BROWSER_TOKEN_MAX_AGE, check_token


class BrowserCallConsumer(StreamConsumer):
    async def authorised(self, call_id: str) -> bool:
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        token = (query.get("token") or [""])[0]
        if not check_token(call_id, token, BROWSER_TOKEN_MAX_AGE, salt=BROWSER_SALT):
            return False
        return await self.records.may_talk(self.scope.get("user"), call_id)

    def _report(self, kind: str, payload: dict[str, Any]) -> None:
        super()._report(kind, payload)
        if kind == TURN and payload.get("text"):
            said = {"type": "transcript", "item_id": payload.get("item_id"),
                    "role": payload.get("role"), "text": payload["text"]}  # fmt: skip
            self._spawn(self._tell_browser(said))

    async def _record_end(self, result: CallEnd, close: bool, error: str) -> None:
        if close:
            ending = result.ending
            said = {"type": "ended", "reason": ending.reason,
                    "words": self.records.ending_words(ending.reason), "ended_by": ending.ended_by,
                    "transfer_to": ending.transfer_to, "failed": ending.failed}  # fmt: skip
            await self._tell_browser(said)
        await super()._record_end(result, close, error)

    async def _tell_browser(self, message: dict[str, Any]) -> None:
        # The page may be gone (closed, or the socket closing): the call's record matters, this
        # does not.
        with contextlib.suppress(Exception):
            await self._send_text(json.dumps(message))
