"""A custom tool's parameter schema (an operator wrote it) and the model's arguments for it,
checked on the event loop that carries every call of this worker: so every check is bounded.

The arguments' size and depth, the schema's size, depth and patterns, and the CPU time of one
check are capped, and patterns run by RE2, which takes linear time (Python's `re` backtracks:
`^([A-Za-z]+ ?)*$` took 6 s on a name of 38 characters). A schema refused here makes the tool an
error for the model, never an exception in the bridge; the admin refuses it when it is saved.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from typing import Any
from urllib.parse import unquote

import re2
from jsonschema import Draft202012Validator, FormatChecker, ValidationError, validators
from referencing.jsonschema import EMPTY_REGISTRY

from streaming.ground import strict_json

# A phone tool's arguments are a few short fields; a model sending more is looping or misled.
# Nesting is capped by strict_json (16 levels).
MAX_ARGUMENTS_BYTES = 16 * 1024
# The schema is sent to OpenAI with every session and checked on the event loop: a few hundred
# fields' worth, far more than a phone tool needs.
MAX_SCHEMA_BYTES = 16 * 1024
MAX_SCHEMA_DEPTH = 32
MAX_PATTERNS = 64
MAX_PATTERN_CHARS = 1000
# One check of a call's arguments may use this much CPU; a normal one takes well under 1 ms.
# CPU time of this thread, not wall time, so that a busy machine does not refuse good arguments.
CHECK_CPU_S = 0.05


def parse_arguments(arguments: str, schema: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The model's arguments as a dict, or an explanation the model can act on; never raises."""
    # len() first: encoding a runaway string would itself be the work this cap avoids.
    if len(arguments) > MAX_ARGUMENTS_BYTES or len(arguments.encode()) > MAX_ARGUMENTS_BYTES:
        return {}, (
            f"the arguments are longer than {MAX_ARGUMENTS_BYTES // 1024} KiB: send only what "
            "the tool's parameters ask for"
        )
    try:
        args = strict_json.loads(arguments or "{}")
    except ValueError as e:
        # strict_json says "malformed" for any syntax error, and what to change for the rest.
        detail = "" if str(e) == "malformed JSON body" else f" ({e})"
        return {}, f"the arguments were not valid JSON{detail}"
    if not isinstance(args, dict):
        return {}, "the arguments must be a JSON object"
    validator, problem = _validator(schema)
    if validator is None:
        return {}, (
            f"this tool cannot be used: its parameter schema is refused ({problem}); an "
            "operator has to correct it, so do not try it again in this call"
        )
    until = _CHECK_UNTIL.set(time.thread_time() + CHECK_CPU_S)
    try:
        errors = sorted(validator.iter_errors(args), key=lambda e: list(e.path))
    except _TooLong:
        return {}, "checking these arguments took too long: send shorter, simpler arguments"
    except RecursionError:
        return {}, "this tool cannot be used: its parameter schema refers to itself endlessly"
    except Exception as e:  # a stored schema jsonschema cannot apply (an odd shape)
        return {}, f"this tool cannot be used: its parameter schema fails ({type(e).__name__})"
    finally:
        _CHECK_UNTIL.reset(until)
    if errors:
        first = errors[0]
        where = "/".join(str(p) for p in first.path)
        return {}, _short(f"invalid arguments{' at ' + where if where else ''}: {first.message}")
    return args, ""


def schema_problem(schema: Any) -> str:
    """Why a tool's parameter schema cannot be used, as a clause for an operator (or ""): too
    large or deep, a pattern RE2 cannot run, or a keyword whose checking we cannot bound."""
    return _validator(schema)[1]


# -- the schema's bounds ---------------------------------------------------------------------

# The 2020-12 keywords whose values are subschemas, by shape: jsonschema descends into these
# (and into what "$ref" points to), so these are where a pattern or a switch of validator hides.
_ONE_SCHEMA = ("additionalProperties", "propertyNames", "items", "contains", "not", "if", "then",
               "else")  # fmt: skip
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")
_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_UNSUPPORTED = {
    # jsonschema re-validates subschemas for these and matches patternProperties with re.
    "unevaluatedProperties": "is not supported: list the properties, or use additionalProperties",
    "unevaluatedItems": "is not supported: use items",
    # Resolved by the dynamic scope, which this check cannot follow.
    "$dynamicRef": 'is not supported: use "$ref": "#/$defs/…"',
}
_DRAFT_2020_12 = {"https://json-schema.org/draft/2020-12/schema",
                  "https://json-schema.org/draft/2020-12/schema#"}  # fmt: skip
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # refused patterns are reported to the operator, not stderr
_RE2_OPTIONS.max_mem = 1 << 20  # per compiled pattern, its DFA cache included (default 8 MiB)


def _regex(pattern: str) -> Any:
    """A compiled RE2 pattern (re2 keeps the last 128); re2.error if RE2 cannot run it."""
    return re2.compile(pattern, _RE2_OPTIONS)


def _schema_text(schema: Any) -> tuple[str, str]:
    """The schema as compact JSON, or why it is too large or deep to be one worth checking."""
    if not isinstance(schema, dict):
        return "", "the schema must be a JSON object"
    # Counted without recursion and stopped at the caps: a schema stored before they existed
    # may be of any size.
    too_large = f"the schema is larger than {MAX_SCHEMA_BYTES // 1024} KiB as compact JSON"
    least_bytes, stack = 0, [(schema, 1)]
    while stack:
        item, level = stack.pop()
        if level > MAX_SCHEMA_DEPTH:
            return "", f"the schema nests deeper than {MAX_SCHEMA_DEPTH} levels"
        least_bytes += 1 + (len(item) if isinstance(item, str) else 0)
        if isinstance(item, dict):
            least_bytes += sum(len(key) for key in item)
            stack.extend((child, level + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, level + 1) for child in item)
        if least_bytes > MAX_SCHEMA_BYTES:
            return "", too_large
    text = json.dumps(schema, ensure_ascii=False, separators=(",", ":"))
    return (text, "") if len(text.encode()) <= MAX_SCHEMA_BYTES else ("", too_large)


@functools.lru_cache(maxsize=256)
def _prepared(text: str) -> tuple[Any, str]:
    """(a validator, "") for a schema's compact JSON, or (None, why not). Cached: a call
    checks its tools' arguments with the schemas of its revision, again and again."""
    schema = json.loads(text)
    problem = _walk_problem(schema)
    if problem:
        return None, problem
    # Without "$schema": a "$ref" to the root would otherwise switch to the stock validator
    # (jsonschema picks the class by "$schema"), and with it back to Python's re.
    root = {key: value for key, value in schema.items() if key != "$schema"}
    # An empty registry: no "$ref" is ever fetched from the network (jsonschema's default
    # fetches any URL, on the event loop).
    return _ArgumentsValidator(root, registry=EMPTY_REGISTRY), ""


def _validator(schema: Any) -> tuple[Any, str]:
    text, problem = _schema_text(schema)
    if problem:
        return None, problem
    try:
        return _prepared(text)
    except Exception as e:  # a stored schema jsonschema cannot even load
        return None, f"the schema cannot be loaded ({type(e).__name__})"


def _walk_problem(root: dict[str, Any]) -> str:
    """The first problem in document order, in every subschema jsonschema can reach."""
    seen: set[int] = set()
    patterns = 0
    stack: list[tuple[Any, tuple[str, ...]]] = [(root, ())]
    while stack:
        node, path = stack.pop()
        if not isinstance(node, dict) or id(node) in seen:
            continue
        seen.add(id(node))
        at = _where(path)
        for keyword, why in _UNSUPPORTED.items():
            if keyword in node:
                return f'"{keyword}" at {at} {why}'
        if path and "$schema" in node:
            return f'"$schema" at {at}: only the top level may name a JSON Schema version'
        if path and "$id" in node:
            return f'"$id" at {at} is not supported below the top level'
        if not path and "$schema" in node and str(node["$schema"]) not in _DRAFT_2020_12:
            return ('"$schema" must be https://json-schema.org/draft/2020-12/schema: arguments '
                    "are checked with JSON Schema 2020-12")  # fmt: skip
        found: list[tuple[Any, str]] = []
        if "pattern" in node:
            found.append((node["pattern"], f"the pattern at {_where((*path, 'pattern'))}"))
        keyed = node.get("patternProperties")
        if keyed is not None and not isinstance(keyed, dict):
            return f'"patternProperties" at {at} must be an object'
        found += [(key, f"the patternProperties key at {at}") for key in keyed or {}]
        for pattern, what in found:
            patterns += 1
            if patterns > MAX_PATTERNS:
                return f"the schema has more than {MAX_PATTERNS} patterns"
            problem = _pattern_problem(pattern, what)
            if problem:
                return problem
        children: list[tuple[Any, tuple[str, ...]]] = []
        if "$ref" in node:
            target, problem = _resolve(root, node["$ref"], at)
            if problem:
                return problem
            children.append(target)
        for keyword in _ONE_SCHEMA:
            value = node.get(keyword)
            if isinstance(value, list):  # an older draft's "items": still what is descended
                children += [(v, (*path, keyword, str(i))) for i, v in enumerate(value)]
            else:
                children.append((value, (*path, keyword)))
        for keyword in _SCHEMA_LISTS:
            value = node.get(keyword)
            if isinstance(value, list):
                children += [(v, (*path, keyword, str(i))) for i, v in enumerate(value)]
        for keyword in _SCHEMA_MAPS:
            value = node.get(keyword)
            if isinstance(value, dict):
                children += [(v, (*path, keyword, str(k))) for k, v in value.items()]
        stack.extend(reversed(children))
    return _endless(root)


# Keywords that check the same value again with another subschema: a cycle through only these
# (and "$ref") never reaches a smaller part of the arguments, so checking would never end.
_IN_PLACE_ONE = ("not", "if", "then", "else")
_IN_PLACE_LISTS = ("allOf", "anyOf", "oneOf")


def _endless(root: dict[str, Any]) -> str:
    """A "$ref" that comes back to where it started without descending into the arguments
    ({"$ref": "#"} at the top level), found before any check rather than by the CPU budget or
    Python's recursion limit, whichever a busy machine reaches first."""

    def in_place(node: dict[str, Any]) -> Iterator[tuple[Any, tuple[str, ...]]]:
        if "$ref" in node:
            yield _resolve(root, node["$ref"], "")[0]
        for keyword in _IN_PLACE_ONE:
            yield node.get(keyword), (keyword,)
        for keyword in _IN_PLACE_LISTS:
            value = node.get(keyword)
            if isinstance(value, list):
                yield from ((v, (keyword, str(i))) for i, v in enumerate(value))
        dependent = node.get("dependentSchemas")
        if isinstance(dependent, dict):
            yield from ((v, ("dependentSchemas", str(k))) for k, v in dependent.items())

    done: set[int] = set()
    # Every subschema the walk can reach is a start; each is followed once (iteratively).
    starts: list[Any] = [root]
    while starts:
        start = starts.pop()
        if not isinstance(start, dict) or id(start) in done:
            continue
        on_path: set[int] = {id(start)}
        stack: list[tuple[dict[str, Any], Iterator[tuple[Any, tuple[str, ...]]]]] = [
            (start, in_place(start))
        ]
        while stack:
            node, following = stack[-1]
            child = next(following, None)
            if child is None:
                stack.pop()
                on_path.discard(id(node))
                done.add(id(node))
                continue
            target = child[0]
            if not isinstance(target, dict) or id(target) in done:
                continue
            if id(target) in on_path:
                return ('"$ref" comes back to itself without descending into the arguments, '
                        "so checking them would never end")  # fmt: skip
            on_path.add(id(target))
            stack.append((target, in_place(target)))
        starts.extend(_descendants(start))
    return ""


def _descendants(node: dict[str, Any]) -> Iterator[Any]:
    """The subschemas directly inside `node`, whatever the keyword."""
    for keyword in (*_ONE_SCHEMA, *_SCHEMA_LISTS, *_SCHEMA_MAPS):
        value = node.get(keyword)
        if isinstance(value, dict) and keyword in _SCHEMA_MAPS:
            yield from value.values()
        elif isinstance(value, list):
            yield from value
        else:
            yield value


def _where(path: tuple[str, ...]) -> str:
    return "/".join(path) or "the top level"


def _pattern_problem(pattern: Any, what: str) -> str:
    if not isinstance(pattern, str):
        return f"{what} must be a string"
    shown = json.dumps(pattern if len(pattern) <= 60 else pattern[:60] + "…", ensure_ascii=False)
    if len(pattern) > MAX_PATTERN_CHARS:
        return f"{what} is longer than {MAX_PATTERN_CHARS} characters"
    try:
        _regex(pattern)
    except re2.error as e:
        return (f"{what}, {shown}, cannot be used: {_re2_why(e)} (patterns run with RE2, which "
                "always finishes in linear time)")  # fmt: skip
    return ""


def _re2_why(error: Exception) -> str:
    raw = error.args[0] if error.args else ""
    text = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
    if text.startswith("invalid escape sequence: \\") and text[-1:].isdigit():
        return "backreferences such as \\1 are not supported"
    if text.startswith(("invalid perl operator: (?=", "invalid perl operator: (?!",
                        "invalid perl operator: (?<")):  # fmt: skip
        return "lookahead and lookbehind ((?=…), (?!…), (?<=…), (?<!…)) are not supported"
    if text.startswith("invalid escape sequence: \\u"):
        return "write \\x{00E9} instead of \\u00E9"
    if text.startswith("invalid repetition size"):
        return "a repetition count above 1000 is not supported"
    if text.startswith("pattern too large"):
        return "it is too large once compiled"
    return f"RE2 refuses it ({text})"


def _resolve(root: dict[str, Any], ref: Any, at: str) -> tuple[tuple[Any, tuple[str, ...]], str]:
    """What a "$ref" points to, with its path, found as the `referencing` library finds it (a
    JSON pointer, percent-decoded, ~1 and ~0 unescaped); only inside this schema."""
    if not isinstance(ref, str) or not (ref == "#" or ref.startswith("#/")):
        return (None, ()), f'"$ref" at {at} must point inside this schema, like "#/$defs/name"'
    node: Any = root
    segments = unquote(ref[2:]).split("/") if ref != "#" else []
    for segment in segments:
        if isinstance(node, dict):
            key = segment.replace("~1", "/").replace("~0", "~")
            node = node.get(key, _NOWHERE)
        elif isinstance(node, list) and segment.lstrip("-").isdigit():
            index = int(segment)
            node = node[index] if -len(node) <= index < len(node) else _NOWHERE
        else:
            node = _NOWHERE
        if node is _NOWHERE:
            return (None, ()), f'"$ref": "{ref}" at {at} points to nothing in this schema'
    return (node, tuple(segments)), ""


_NOWHERE = object()


# -- the validator: the 2020-12 keywords, with RE2 and a CPU budget ---------------------------


class _TooLong(Exception):
    pass


_CHECK_UNTIL: ContextVar[float] = ContextVar("_CHECK_UNTIL", default=float("inf"))
_Keyword = Callable[[Any, Any, Any, Any], Iterable[ValidationError] | None]


def _bounded(keyword: _Keyword) -> _Keyword:
    """The keyword, refused once the check has spent its CPU time: every keyword of every
    subschema passes here, so no schema (however its "$ref"s fan out) checks for long."""

    def checked(validator: Any, value: Any, instance: Any, schema: Any) -> Any:
        if time.thread_time() > _CHECK_UNTIL.get():
            raise _TooLong
        return keyword(validator, value, instance, schema)

    return checked


# What follows mirrors jsonschema's _keywords.py (4.26), with RE2 where it calls re.search.


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not _regex(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(
    validator: Any, patterns: dict[str, Any], instance: Any, schema: Any
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        regex = _regex(pattern)
        for k, v in instance.items():
            if regex.search(k):
                yield from validator.descend(v, subschema, path=k, schema_path=pattern)


def _additional_properties(
    validator: Any, additional: Any, instance: Any, schema: Any
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    properties = schema.get("properties", {})
    regexes = [_regex(p) for p in schema.get("patternProperties", {})]
    extras = {k for k in instance if k not in properties and not any(r.search(k) for r in regexes)}
    if validator.is_type(additional, "object"):
        for extra in extras:
            yield from validator.descend(instance[extra], additional, path=extra)
    elif not additional and extras:
        if "patternProperties" in schema:
            verb = "does" if len(extras) == 1 else "do"
            joined = ", ".join(repr(each) for each in sorted(extras))
            patterns = ", ".join(repr(each) for each in sorted(schema["patternProperties"]))
            yield ValidationError(f"{joined} {verb} not match any of the regexes: {patterns}")
        else:
            verb = "was" if len(extras) == 1 else "were"
            joined = ", ".join(repr(each) for each in sorted(extras, key=str))
            yield ValidationError(
                f"Additional properties are not allowed ({joined} {verb} unexpected)"
            )


def _unique_items(
    validator: Any, unique: Any, instance: Any, schema: Any
) -> Iterator[ValidationError]:
    # jsonschema compares unhashable items pairwise: 1,300 small objects take seconds.
    if unique and validator.is_type(instance, "array"):
        seen: set[Any] = set()
        for item in instance:
            key = _hashable(item)
            if key in seen:
                yield ValidationError(f"{instance!r} has non-unique elements")
                return
            seen.add(key)


def _hashable(value: Any) -> Any:
    """A key that is == when JSON Schema calls two values equal (1 and 1.0 are, true and 1 are
    not, key order does not count). Recursion is bounded: arguments nest at most 16 deep."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, dict):
        return ("object", frozenset((k, _hashable(v)) for k, v in value.items()))
    if isinstance(value, list):
        return ("array", tuple(_hashable(v) for v in value))
    return ("string", value) if isinstance(value, str) else ("value", value)


def _is_regex(instance: object) -> bool:
    if isinstance(instance, str):
        _regex(instance)
    return True


def _formats() -> FormatChecker:
    """2020-12's format checks, with "regex" meaning what RE2 runs: for the metaschema's
    check of "pattern" when a tool is saved, and for "format": "regex" if checked."""
    checker = FormatChecker(())
    checker.checkers = dict(Draft202012Validator.FORMAT_CHECKER.checkers)
    checker.checks("regex", raises=re2.error)(_is_regex)
    return checker


FORMAT_CHECKER = _formats()
_KEYWORDS: dict[str, _Keyword] = {
    **Draft202012Validator.VALIDATORS,
    "pattern": _pattern,
    "patternProperties": _pattern_properties,
    "additionalProperties": _additional_properties,
    "uniqueItems": _unique_items,
}
# types-jsonschema leaves extend() unannotated.
_ArgumentsValidator = validators.extend(  # type: ignore[no-untyped-call]
    Draft202012Validator,
    {name: _bounded(keyword) for name, keyword in _KEYWORDS.items()},
    format_checker=FORMAT_CHECKER,
)


def _short(text: str, most: int = 500) -> str:
    """An error for the model: the first words say what is wrong; a 16 KiB value adds nothing."""
    return text if len(text) <= most else text[: most - 1] + "…"
