"""OpenAI's published GPT-Live types (openai.types.live, a development dependency) as strict
judges: an event passes only if it is one of the union's members exactly, unknown keys refused.

Client events are TypedDicts (pydantic would ignore unknown keys in them), so they are walked
here, member by member of every union; server events are pydantic models, validated by pydantic
against the discriminated union, then walked for keys the models did not expect (openai's
models keep those as extras instead of refusing them).
"""

from __future__ import annotations

import types
import typing
from typing import Any, Literal, NotRequired, Required, Union, get_args, get_origin, get_type_hints

from openai.types.live import ClientEventParam, ServerEvent
from pydantic import BaseModel, TypeAdapter
from typing_extensions import is_typeddict

SERVER_EVENTS: TypeAdapter[Any] = TypeAdapter(ServerEvent)


class NotPublished(AssertionError):
    """The event is not one OpenAI's types describe."""


def check_client_event(event: Any) -> None:
    problem = _problem(event, ClientEventParam, "event")
    if problem:
        raise NotPublished(f"{event.get('type')!r}: {problem}")


def check_server_event(event: dict[str, Any]) -> None:
    try:
        model = SERVER_EVENTS.validate_python(event)
    except Exception as e:
        raise NotPublished(f"{event.get('type')!r}: {e}") from None
    extra = _extras(model, "event")
    if extra:
        raise NotPublished(f"{event.get('type')!r}: not in the published type: {extra}")


def _extras(value: Any, where: str) -> str:
    if isinstance(value, BaseModel):
        if value.model_extra:
            return f"{where}.{next(iter(value.model_extra))}"
        for name in type(value).model_fields:
            found = _extras(getattr(value, name), f"{where}.{name}")
            if found:
                return found
    elif isinstance(value, list):
        for n, item in enumerate(value):
            found = _extras(item, f"{where}[{n}]")
            if found:
                return found
    return ""


def _problem(value: Any, hint: Any, where: str) -> str:
    """Why `value` is not a `hint`, or ""."""
    origin = get_origin(hint)
    if hint is Any or hint is object:
        return ""
    if origin in (Required, NotRequired) or (origin is typing.Annotated):
        return _problem(value, get_args(hint)[0], where)
    if origin in (Union, types.UnionType):
        members = _by_type(value, get_args(hint))
        problems = [_problem(value, member, where) for member in members]
        if any(p == "" for p in problems):
            return ""
        return min(problems, key=len)  # the nearest miss says most
    if origin is Literal:
        return "" if value in get_args(hint) else f"{where}: {value!r} not in {get_args(hint)}"
    if hint is type(None):
        return "" if value is None else f"{where}: not null"
    if is_typeddict(hint):
        return _typeddict_problem(value, hint, where)
    if origin in (list, typing.List) or (origin is not None and _is_iterable(origin)):  # noqa: UP006
        if not isinstance(value, list):
            return f"{where}: not a list"
        (item,) = get_args(hint) or (Any,)
        return next(
            (p for n, v in enumerate(value) if (p := _problem(v, item, f"{where}[{n}]"))), ""
        )
    if origin in (dict, typing.Dict):  # noqa: UP006
        return "" if isinstance(value, dict) else f"{where}: not an object"
    if hint is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return "" if ok else f"{where}: not a number"
    if isinstance(hint, type):
        ok = isinstance(value, hint) and not (hint is int and isinstance(value, bool))
        return "" if ok else f"{where}: not {hint.__name__}"
    return ""  # a hint this walker does not know: pydantic's side is checked elsewhere


def _by_type(value: Any, members: tuple[Any, ...]) -> tuple[Any, ...]:
    """The members of a union an object says it is (by its "type"), when that says."""
    if not isinstance(value, dict) or "type" not in value:
        return members
    named = tuple(
        m for m in members
        if is_typeddict(m) and value["type"] in get_args(_bare(_hints(m).get("type")))
    )  # fmt: skip
    return named or members


def _hints(typed: Any) -> dict[str, Any]:
    return get_type_hints(typed, include_extras=True)


def _bare(hint: Any) -> Any:
    while get_origin(hint) in (Required, NotRequired):
        hint = get_args(hint)[0]
    return hint


def _is_iterable(origin: Any) -> bool:
    import collections.abc

    return origin in (collections.abc.Iterable, collections.abc.Sequence)


def _typeddict_problem(value: Any, hint: Any, where: str) -> str:
    if not isinstance(value, dict):
        return f"{where}: not an object"
    hints = _hints(hint)
    unknown = [key for key in value if key not in hints]
    if unknown:
        return f"{where}.{unknown[0]}: not in the published type"
    # Worked out here: with postponed annotations, Required[...] is not seen by TypedDict itself.
    required = [
        key for key, h in hints.items()
        if get_origin(h) is Required or (hint.__total__ and get_origin(h) is not NotRequired)
    ]  # fmt: skip
    missing = [key for key in required if key not in value]
    if missing:
        return f"{where}.{missing[0]}: required"
    for key, item in value.items():
        problem = _problem(item, hints[key], f"{where}.{key}")
        if problem:
            return problem
    return ""
