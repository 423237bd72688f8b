"""The agent ending the call or handing the caller to a person (the built-in tools end_call and
transfer_call): what it asked for, and what the model is told to say before the line closes."""

from __future__ import annotations

from dataclasses import dataclass

from streaming.core.call.toolbox import END_CALL, TRANSFER_CALL, ToolBox, ToolOutcome

# After end_call/transfer_call the line closes once the goodbye is heard, or after this anyway.
HANG_UP_WITHIN_S = 15.0


@dataclass(frozen=True)
class HangUpRequest:
    reason: str
    transfer_to: str = ""


class HangUp:
    def __init__(self, tools: ToolBox) -> None:
        self._end_call = tools.end_call
        self._transfer_to = tools.transfer_to
        self._request: HangUpRequest | None = None
        self._goodbye_asked = False

    def builtin(self, name: str) -> ToolOutcome | None:
        """The answer to a built-in tool the agent may use, or None if `name` is not one."""
        if name == END_CALL and self._end_call:
            self._ask(HangUpRequest("the agent ended the call"))
            return ToolOutcome(True, {"ok": True, "next": "Say a short goodbye; the line "
                                      "closes after it."})  # fmt: skip
        if name == TRANSFER_CALL and self._transfer_to:
            number = self._transfer_to
            self._ask(HangUpRequest(f"the agent transferred the call to {number}", number))
            return ToolOutcome(True, {"ok": True, "next": "Tell the caller in one sentence that "
                                      "you are putting them through to a person now."})  # fmt: skip
        return None

    def _ask(self, request: HangUpRequest) -> None:
        self._request = self._request or request  # the first one asked is the one kept

    def requested(self) -> HangUpRequest | None:
        return self._request

    def goodbye_asked(self) -> None:
        """The model has been given the tool's answer: what it says next is the goodbye."""
        self._goodbye_asked = True

    def after_goodbye(self) -> HangUpRequest | None:
        """The hang-up to carry out once what was said has been heard, if the goodbye is due."""
        return self._request if self._goodbye_asked else None
