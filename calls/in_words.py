"""What the admin shows operators when a call ends or after-call work fails: a sentence a clinic
manager understands, with the technical text it came from kept beside it (one click away).

The raw texts stay what they are in the database, the events and the end-of-call webhook (a
developer greps for "Sautikit: StreamStopped"); only what people read is translated, so calls
recorded before this module read in words too. A text no rule knows is shown as it is when it
reads as words already, else as "a technical problem" with the text under it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Said:
    words: str  # a sentence for an operator
    detail: str = ""  # the technical text behind it, when the words are not that text

    def __bool__(self) -> bool:
        return bool(self.words)


Rule = tuple[re.Pattern[str], Callable[[re.Match[str]], str]]


def _rules(*pairs: tuple[str, Callable[[re.Match[str]], str]]) -> list[Rule]:
    return [(re.compile(pattern, re.S), say) for pattern, say in pairs]


# callSessionState values and events_url kinds that end a call (calls.webhook_fields), and
# Q.850/SIP hangup causes as Sautikit passes them on.
SAUTIKIT_STATES = {
    "streamstopped": "The caller hung up.",
    "streamerror": "The phone company's audio stream broke, so the call ended.",
    "completed": "The call ended.",
    "hangup": "The call ended.",
    "ended": "The call ended.",
    "call.completed": "The call ended.",
    "call.failed": "The phone company reported that the call failed.",
    "busy": "The line was busy.",
    "failed": "The phone company could not connect the call.",
    "noanswer": "Nobody answered.",
    "notanswered": "Nobody answered.",
    "canceled": "The caller hung up before the call was answered.",
    "cancelled": "The caller hung up before the call was answered.",
    "rejected": "The call was rejected.",
}
HANGUP_CAUSES = {
    "NORMAL_CLEARING": "The call ended normally.",
    "USER_BUSY": "The line was busy.",
    "NO_ANSWER": "Nobody answered.",
    "NO_USER_RESPONSE": "Nobody answered.",
    "CALL_REJECTED": "The call was rejected.",
    "ORIGINATOR_CANCEL": "The caller hung up before the call was answered.",
    "NORMAL_TEMPORARY_FAILURE": "The phone network had a passing problem, so the call ended.",
    "NETWORK_OUT_OF_ORDER": "The phone network had a problem, so the call ended.",
    "RECOVERY_ON_TIMER_EXPIRE": "The phone network stopped answering, so the call ended.",
    "UNALLOCATED_NUMBER": "The number called does not exist.",
}
LIMITS = {
    "LIMIT_LIVE_CALLS_PER_CALLER": "this caller was already on as many calls as one caller may be",
    "LIMIT_CALLS_PER_CALLER_PER_HOUR": "this caller had already called as often as allowed in "
    "an hour",
    "its own limit": "the agent was already on as many calls as it takes at once",
    "LIMIT_LIVE_CALLS_TOTAL": "the line was already on as many calls as it takes at once",
}


def _sautikit(m: re.Match[str]) -> str:
    key = re.sub(r"[\s_-]", "", m[1]).lower() if not m[1].startswith("call.") else m[1]
    return SAUTIKIT_STATES.get(key, "The phone company ended the call.")


def _hung_up(m: re.Match[str]) -> str:
    return HANGUP_CAUSES.get(m[1].upper(), "The phone company ended the call.")


def _limit(m: re.Match[str]) -> str:
    which = next((words for key, words in LIMITS.items() if key in m[0]), "a limit was reached")
    return f"Not answered: {which}. The caller heard that the lines are busy."


def _minutes(seconds: str) -> str:
    s = int(seconds)
    return f"{s // 60} minutes" if s >= 120 and s % 60 == 0 else f"{s} seconds"


def _agent_stop(m: re.Match[str]) -> str:
    said = (
        f"The agent handed the caller over to {m['to']}."
        if m["to"]
        else "The agent ended the call."
    )
    if m["quiet"]:
        said += " Its goodbye was not heard before the line closed."
    return said


ENDINGS: list[Rule] = _rules(
    (r"caller hung up", lambda m: "The caller hung up."),
    (r"Sautikit: (\S+)", _sautikit),
    (r"hung up: (\S+)", _hung_up),
    (r"failed: (.*)", lambda m: "The phone company could not complete the call."),
    (r"no agent for number (\(none given\)|\S+)",
     lambda m: "Not answered: no number was given." if m[1].startswith("(")
     else f"Not answered: no agent has the number {m[1]}."),
    (r"agent (.+) is inactive", lambda m: f"Not answered: the agent {m[1]} is switched off."),
    (r"agent (.+) is not published yet",
     lambda m: f"Not answered: the agent {m[1]} has no published version yet."),
    (r"refused: (.+) is blocked", lambda m: f"Not answered: {m[1]} is on the blocked list."),
    (r"refused: .*", _limit),
    (r"the agent (?:ended the call|transferred the call to (?P<to>\S+))"
     r"(?P<quiet> \(no goodbye heard\))?", _agent_stop),
    (r"maximum call duration reached \((\d+) s\)",
     lambda m: f"The call reached the agent's longest call ({_minutes(m[1])}) and was ended."),
    (r"silence timeout \((\d+) s\)",
     lambda m: f"Nobody spoke for {_minutes(m[1])}, so the call was ended."),
    (r"OpenAI ended the session \(60-minute limit\)",
     lambda m: "The call reached OpenAI's limit of 60 minutes per conversation."),
    (r"OpenAI refused the agent's settings.*",
     lambda m: "OpenAI refused the agent's settings, so the agent could not answer. An editor "
     "should check the agent's voice, model and tools."),
    (r"OpenAI unavailable: .*",
     lambda m: "The agent could not answer: OpenAI could not be reached, or refused to start."),
    (r"OpenAI closed the session.*",
     lambda m: "OpenAI broke off the conversation in the middle of the call."),
    (r"GPT-Live ended the session \(its time limit\)",
     lambda m: "The call reached GPT-Live's time limit per conversation."),
    (r"GPT-Live ended the session \(a safety filter\)",
     lambda m: "GPT-Live's safety filter ended the conversation."),
    (r"GPT-Live (?:ended|closed) the session.*|GPT-Live closed .*",
     lambda m: "GPT-Live broke off the conversation in the middle of the call."),
    (r"GPT-Live lost the connection",
     lambda m: "The connection to GPT-Live was lost in the middle of the call."),
    (r"server lost: .*",
     lambda m: "The server holding the call stopped answering, so the call was cut off."),
    (r"server stopping: .*",
     lambda m: "The server was being restarted and the call outlasted the wait for it, so "
     "it was ended."),
    (r"the phone company never connected the audio",
     lambda m: "The phone company never connected the audio, so nobody could talk."),
)  # fmt: skip

AFTER_CALL: list[Rule] = _rules(
    (r"OpenAI could not be reached: .*",
     lambda m: "OpenAI could not be reached from the server; it is tried again."),
    (r"OpenAI answered 401.*",
     lambda m: "OpenAI refused the server's key (OPENAI_API_KEY): the key is wrong or revoked."),
    (r"OpenAI answered 429.*",
     lambda m: "OpenAI asked us to wait (too many requests, or the account's credit is used "
     "up)."),
    (r"OpenAI answered 5\d\d.*", lambda m: "OpenAI had a problem of its own."),
    (r"OpenAI answered (\d+).*", lambda m: f"OpenAI refused the request (HTTP {m[1]})."),
    (r"OpenAI's answer could not be used.*",
     lambda m: "OpenAI's answer could not be read, so nothing was stored."),
    (r"unexpected error: .*",
     lambda m: "Something unexpected went wrong on the server; it is tried again."),
    (r"could not be reached \((\w+)\)", lambda m: "The webhook address could not be reached."),
    (r"answered HTTP ([23]\d\d)", lambda m: f"Delivered (the address answered HTTP {m[1]})."),
    (r"answered HTTP (\d+)",
     lambda m: f"The webhook address answered with an error (HTTP {m[1]})."),
)  # fmt: skip

# What makes a text read as a machine's rather than a person's.
TECHNICAL = re.compile(
    r"\w+(Error|Exception)\b|\w+\(|Traceback|<\?xml|<\w+[ >/]|[{}]|\bcode \d{4}\b"
    r"|\b[A-Z]+_[A-Z_]+\b"
)


def _translate(text: str, rules: list[Rule]) -> Said:
    text = (text or "").strip()
    if not text:
        return Said("")
    handed = re.fullmatch(r"(.*); handed over to (\+?\d+)", text, re.S)
    if handed:
        first = _translate(handed[1], rules)
        return Said(f"{first.words} The caller was handed over to {handed[2]}.", text)
    for pattern, say in rules:
        m = pattern.fullmatch(text)
        if m:
            words = say(m)
            return Said(words, "" if words == text else text)
    if TECHNICAL.search(text):
        return Said("A technical problem; the details are below.", text)
    sentence = text[0].upper() + text[1:]
    return Said(sentence if sentence.endswith((".", "!", "?")) else sentence + ".")


def ending(reason: str) -> Said:
    """Why a call ended (Call.end_reason, failure_reason), in words."""
    return _translate(reason, ENDINGS)


def after_call(detail: str) -> Said:
    """How a summary or end-of-call webhook attempt went (attempt.detail, last_error)."""
    return _translate(detail, AFTER_CALL)
