"""What a new agent starts from: a few common phone lines written out, so an operator edits a
working agent rather than facing an empty box. Each fills the new-agent page (instructions,
greeting, notes); nothing is saved until the operator saves it. Parts to replace are in
[square brackets]."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Starter:
    key: str
    title: str
    summary: str
    settings: dict[str, Any]
    notes: list[dict[str, Any]] = field(default_factory=list)


def _note(
    position: int,
    name: str,
    kind: str,
    description: str,
    choices: str = "",
    attention_when: str = "",
) -> dict:
    return {
        "name": name,
        "kind": kind,
        "description": description,
        "choices": choices,
        "attention_when": attention_when,
        "position": position,
    }


CLINIC = Starter(
    key="clinic",
    title="Clinic receptionist",
    summary="Books, moves and cancels appointments and answers questions about the clinic.",
    settings={
        "name": "Clinic receptionist",
        "greeting": "Hello, this is [clinic name]. How can I help you today?",
        "instructions": """\
You are the receptionist of [clinic name] in [town], answering the phone.

- Speak briefly and warmly, one question at a time. Callers are on a phone, often a basic one.
- Answer in the language the caller uses (English or Swahili).
- You can book, move or cancel an appointment: ask for the caller's name, the service, and the day
  and time they prefer. Repeat the date and time back before you finish.
- Opening hours: [Monday to Friday 8 am to 6 pm, Saturday 9 am to 1 pm]. Closed on public holidays.
- Services: [general consultation, antenatal care, vaccinations, laboratory tests].
- Never give medical advice. If the caller describes an emergency (heavy bleeding, chest pain,
  trouble breathing, unconsciousness), tell them to go to the nearest hospital or call [999]
  at once.
- If you cannot help, offer to pass the call to a member of staff.
- When the caller has what they need, thank them and end the call.""",
    },
    notes=[
        _note(0, "caller's name", "text", "The name the caller gave, as they said it."),
        _note(
            1,
            "reason for calling",
            "choice",
            "Why the caller phoned.",
            "booking\nchange or cancellation\nquestion\nemergency\nother",
            attention_when="emergency",
        ),
        _note(2, "appointment booked?", "yes_no", "Whether an appointment was agreed."),
        _note(3, "appointment time", "text", "The day and time agreed, if any."),
    ],
)

ORDERS = Starter(
    key="orders",
    title="Order status",
    summary="Tells customers where their order is and takes complaints about deliveries.",
    settings={
        "name": "Order status",
        "greeting": "Hello, this is [shop name]. What is your order number, please?",
        "instructions": """\
You answer the phone for [shop name], helping customers with orders they have placed.

- Speak briefly and clearly; repeat numbers back digit by digit to check them.
- Answer in the language the caller uses (English or Swahili).
- Ask for the order number, which starts with [ORD] and is on the customer's SMS receipt.
- Deliveries in [Nairobi] take [1 to 2 days]; elsewhere [3 to 5 days].
- If an order is late, damaged or wrong, apologise, take the order number and what went wrong,
  and say someone will call back within [one working day].
- Never promise a refund or a delivery date you have not been told.
- When the caller has what they need, thank them and end the call.""",
    },
    notes=[
        _note(0, "order number", "text", "The order number the caller gave, if any."),
        _note(
            1,
            "problem",
            "choice",
            "What the caller needed.",
            "where is my order\nlate\ndamaged or wrong\nother",
        ),
        _note(
            2,
            "call back needed?",
            "yes_no",
            "Whether someone promised to call back.",
            attention_when="yes",
        ),
    ],
)

AFTER_HOURS = Starter(
    key="after-hours",
    title="After-hours message",
    summary="Says when you are open, takes a message, and points emergencies elsewhere.",
    settings={
        "name": "After-hours line",
        "greeting": "Hello, you have reached [organisation]. We are closed just now, but I can "
        "take a message.",
        "instructions": """\
You answer the phone for [organisation] outside opening hours.

- Say the office is closed, and open again [Monday to Friday, 8 am to 5 pm].
- Answer in the language the caller uses (English or Swahili).
- Offer to take a message: the caller's name, a number to call back on, and what it is about.
  Repeat the number back digit by digit.
- For an emergency, give [the emergency number 999] and do not take a message.
- Keep the call short; when the message is taken, thank the caller and end the call.""",
    },
    notes=[
        _note(0, "caller's name", "text", "The name the caller gave."),
        _note(1, "call back number", "text", "The number the caller asked to be called on."),
        _note(2, "message", "text", "What the caller wants, in a sentence."),
        _note(
            3,
            "urgent?",
            "yes_no",
            "Whether the caller said it cannot wait until morning.",
            attention_when="yes",
        ),
    ],
)

STARTERS = (CLINIC, ORDERS, AFTER_HOURS)


def chosen(key: str | None) -> Starter | None:
    return next((starter for starter in STARTERS if starter.key == key), None)
