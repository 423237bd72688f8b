"""Tool parameter schemas and the model's arguments are bounded: patterns run with RE2 (never
Python's backtracking re), schemas and arguments have size and depth caps, and one check has a
CPU budget. Nothing here measures wall-clock time: linearity is shown by Python's re never being
called, and the budget by a check that would otherwise not end."""

from __future__ import annotations

import asyncio
import json
import socket

import jsonschema._format
import jsonschema._keywords
import jsonschema._utils
import pytest
from django.core.exceptions import ValidationError

from agents.models import Tool
from agents.tools import MAX_DESCRIPTION_CHARS, validate_parameters
from streaming.core.call import tool_schemas
from streaming.core.call.tool_schemas import parse_arguments, schema_problem
from streaming.core.call.toolbox import ToolBox, ToolSpec, shown_arguments

BACKTRACKERS = [r"^(a+)+$", r"^([A-Za-z]+ ?)*$"]


def one_field(pattern: str) -> dict:
    return {"type": "object", "properties": {"name": {"type": "string", "pattern": pattern}}}


class PythonRe:
    """Stands in for `re` inside jsonschema: any use of it fails the test."""

    def __getattr__(self, name: str):
        raise AssertionError(f"jsonschema called re.{name} on a pattern")


@pytest.fixture
def no_python_re(monkeypatch):
    for module in (jsonschema._keywords, jsonschema._utils, jsonschema._format):
        monkeypatch.setattr(module, "re", PythonRe())


@pytest.fixture(autouse=True)
def _no_dns(monkeypatch):
    # Saving a tool resolves its endpoint; these tests are about its schema.
    def unresolvable(*args, **kwargs):
        raise socket.gaierror("not resolved in tests")

    monkeypatch.setattr(socket, "getaddrinfo", unresolvable)


def refused(parameters) -> str:
    with pytest.raises(ValidationError) as e:
        validate_parameters(parameters)
    return e.value.messages[0]


# -- when a tool is saved ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("parameters", "place", "why"),
    [
        (one_field(r"^(a+)\1$"), "the pattern at properties/name/pattern", "backreferences"),
        (one_field(r"^(?=.*\d).+$"), "the pattern at properties/name/pattern", "lookahead"),
        (one_field(r"(?<!0)1"), "the pattern at properties/name/pattern", "lookbehind"),
        (
            {"type": "object", "properties": {"meta": {"patternProperties": {r"^(x)\1": {}}}}},
            "the patternProperties key at properties/meta",
            "backreferences",
        ),
        (
            {"type": "object", "propertyNames": {"pattern": r"^(?!id).*"}},
            "the pattern at propertyNames/pattern",
            "lookahead",
        ),
        (
            {
                "type": "object",
                "$defs": {"code": {"type": "string", "pattern": r"(\d)\1"}},
                "properties": {"code": {"$ref": "#/$defs/code"}},
            },
            "the pattern at $defs/code/pattern",
            "backreferences",
        ),
    ],
)
def test_it_refuses_patterns_re2_cannot_run_naming_where_they_are(parameters, place, why):
    message = refused(parameters)
    assert message.startswith(f"The {place.removeprefix('the ')}, ")
    assert why in message
    assert "RE2, which always finishes in linear time" in message


def test_it_shows_the_refusal_on_the_tools_field_as_the_admin_does(agent):
    tool = Tool(agent=agent, name="look_up", description="d", endpoint="https://x.example/t",
                parameters=one_field(r"^(a+)\1$"))  # fmt: skip
    with pytest.raises(ValidationError) as e:
        tool.full_clean()
    assert "backreferences such as \\1 are not supported" in e.value.message_dict["parameters"][0]


@pytest.mark.parametrize("pattern", BACKTRACKERS)
def test_it_accepts_patterns_that_backtrack_in_python_since_re2_runs_them_linearly(
    no_python_re, pattern
):
    validate_parameters(one_field(pattern))


@pytest.mark.parametrize(
    ("parameters", "why"),
    [
        ({"type": "object", "description": "x" * 17_000}, "larger than 16 KiB"),
        ({"type": "object", "x": json.loads("[" * 33 + "]" * 33)}, "deeper than 32 levels"),
        (
            {"type": "object", "properties": {f"p{i}": {"pattern": "a"} for i in range(65)}},
            "more than 64 patterns",
        ),
        (one_field("a" * 1001), "longer than 1000 characters"),
        (one_field("a{1001}"), "repetition count above 1000"),
        (one_field(r"\u00e9"), "instead of \\u00E9"),
        (one_field(5), "must be a string"),
        (
            {"type": "object", "properties": {"x": {"$ref": "https://example.com/s.json"}}},
            '"$ref" at properties/x must point inside this schema',
        ),
        ({"type": "object", "properties": {"x": {"$ref": "#/$defs/nope"}}}, "points to nothing"),
        (
            {
                "type": "object",
                "properties": {"x": {"$schema": "http://json-schema.org/draft-07/schema#"}},
            },
            '"$schema" at properties/x',
        ),
        ({"$schema": "http://json-schema.org/draft-07/schema#", "type": "object"}, "2020-12"),
        ({"type": "object", "properties": {"x": {"$id": "other"}}}, '"$id" at properties/x'),
        ({"type": "object", "unevaluatedProperties": False}, '"unevaluatedProperties"'),
        ({"type": "object", "items": {"unevaluatedItems": False}}, '"unevaluatedItems" at items'),
        ({"type": "object", "$dynamicRef": "#meta"}, '"$dynamicRef"'),
    ],
)
def test_it_refuses_schemas_beyond_the_bounds_it_can_check_quickly(parameters, why):
    assert why in refused(parameters)
    # A call checks the same bounds, and tells the model instead of raising.
    assert why in parse_arguments("{}", parameters)[1]


def test_it_finds_a_pattern_a_ref_points_to_outside_the_usual_places():
    hidden = {"type": "object", "x-library": {"name": {"pattern": r"(a)\1"}},
              "properties": {"name": {"$ref": "#/x-library/name"}}}  # fmt: skip
    assert refused(hidden).startswith("The pattern at x-library/name/pattern, ")


def test_it_refuses_a_description_longer_than_openai_needs(agent):
    tool = Tool(agent=agent, name="look_up", description="x" * (MAX_DESCRIPTION_CHARS + 1),
                endpoint="https://x.example/t")  # fmt: skip
    with pytest.raises(ValidationError) as e:
        tool.full_clean()
    assert f"At most {MAX_DESCRIPTION_CHARS} characters" in e.value.message_dict["description"][0]


# -- when the model calls it ---------------------------------------------------------------------


@pytest.mark.parametrize("pattern", BACKTRACKERS)
def test_it_checks_long_arguments_with_re2_and_never_with_pythons_re(no_python_re, pattern):
    schema = one_field(pattern)
    name = "Ann Lee Smith" if " " in pattern else "a" * 10_000
    assert parse_arguments(json.dumps({"name": name}), schema) == ({"name": name}, "")
    # What takes Python's re hours at 10,000 characters: one character that cannot match.
    args, why = parse_arguments(json.dumps({"name": "a" * 10_000 + "!"}), schema)
    assert args == {}
    assert why.startswith("invalid arguments at name: 'aaaa")
    assert why.endswith("…") and len(why) <= 500  # the model is not sent the 10,000 back


def test_it_keeps_jsonschemas_meaning_for_patterns(no_python_re):
    schema = {
        "type": "object",
        "properties": {"code": {"pattern": "[0-9]{4}"}},  # a search, as in JSON Schema
        "patternProperties": {"^x-": {"type": "string"}},
        "additionalProperties": False,
    }
    assert parse_arguments('{"code": "PIN 1234 ok", "x-note": "hi"}', schema)[1] == ""
    assert parse_arguments('{"code": 5}', schema)[1] == ""  # only strings are matched
    assert [
        parse_arguments(a, schema)[1] for a in ('{"code": "12"}', '{"x-note": 3}', '{"y": 1}')
    ] == [
        "invalid arguments at code: '12' does not match '[0-9]{4}'",
        "invalid arguments at x-note: 3 is not of type 'string'",
        "invalid arguments: 'y' does not match any of the regexes: '^x-'",
    ]


def test_it_compares_unique_items_as_json_schema_does_in_one_pass(monkeypatch):
    schema = {"type": "object", "properties": {"list": {"uniqueItems": True}}}
    same = '{"list": [{"a": 1, "b": [2]}, {"b": [2], "a": 1.0}]}'
    assert "has non-unique elements" in parse_arguments(same, schema)[1]
    assert parse_arguments('{"list": [1, true, "1", [1], {"1": 1}]}', schema)[1] == ""
    # jsonschema's own check compares objects pairwise (seconds for these); no pairs here.
    many = json.dumps({"list": [{"a": i} for i in range(1300)]})

    def pairwise(items):
        raise AssertionError("compared the items pairwise")

    monkeypatch.setattr(jsonschema._keywords, "uniq", pairwise)
    assert parse_arguments(many, schema)[1] == ""


def test_it_refuses_arguments_over_16_kib_before_parsing_them(monkeypatch):
    def parse(raw):
        raise AssertionError("parsed arguments it should have refused by size")

    monkeypatch.setattr(tool_schemas.strict_json, "loads", parse)
    args, why = parse_arguments(json.dumps({"name": "a" * 100_000}), one_field("^a+$"))
    assert args == {}
    assert (
        why == "the arguments are longer than 16 KiB: send only what the tool's parameters ask for"
    )


@pytest.mark.parametrize(
    ("arguments", "why"),
    [
        (
            '{"a":' * 17 + "1" + "}" * 17,
            "the arguments were not valid JSON (JSON nested deeper than 16 levels)",
        ),
        ("[" * 10_000 + "]" * 10_000, "the arguments are longer than 16 KiB"),
        ('{"name": NaN}', "the arguments were not valid JSON (NaN is not a JSON number"),
    ],
)
def test_it_refuses_arguments_python_would_parse_but_no_tool_should_get(arguments, why):
    args, problem = parse_arguments(arguments, {"type": "object"})
    assert args == {} and problem.startswith(why)


def test_it_stops_a_check_that_runs_out_of_cpu_time():
    # A few lines of "$ref"s that double at every level: 2**30 checks of one integer.
    defs = {"d0": {"type": "integer"}}
    for i in range(1, 31):
        defs[f"d{i}"] = {"allOf": [{"$ref": f"#/$defs/d{i - 1}"}] * 2}
    schema = {"type": "object", "$defs": defs, "properties": {"n": {"$ref": "#/$defs/d30"}}}
    assert schema_problem(schema) == ""  # small, and every part allowed: the budget stops it
    args, why = parse_arguments('{"n": 1}', schema)
    assert args == {}
    assert why == "checking these arguments took too long: send shorter, simpler arguments"


def test_it_gives_the_model_an_error_for_a_schema_stored_before_these_checks(agent):
    # Stored as an older version allowed (create() runs no validators).
    tool = Tool.objects.create(agent=agent, name="look_up", description="d",
                               endpoint="https://x.example/t",
                               parameters=one_field(r"^(a+)\1$"))  # fmt: skip
    (spec,) = agent.current_revision.call_settings().tools
    box = ToolBox(end_call=False, transfer_to="", custom={spec.name: spec})
    outcome = asyncio.run(box.run("look_up", '{"name": "aa"}', "C"))
    assert not outcome.ok
    assert outcome.result.startswith(
        "this tool cannot be used: its parameter schema is refused (the pattern at "
        "properties/name/pattern"
    )
    assert "backreferences" in json.loads(outcome.output())["error"]
    # And the operator sees why the next time the agent is saved.
    with pytest.raises(ValidationError) as e:
        tool.full_clean()
    assert "backreferences" in e.value.message_dict["parameters"][0]


@pytest.mark.parametrize(
    "parameters",
    [
        {"type": "object", "properties": []},  # a shape jsonschema itself trips on
        {"type": "object", "properties": {"x": {"$ref": "#"}}, "$ref": "#"},  # endless
        {"type": "object", "properties": {"n": {"multipleOf": 0}}},
    ],
)
def test_it_turns_a_stored_schema_jsonschema_cannot_apply_into_an_error(parameters):
    spec = ToolSpec("look_up", "d", parameters, "https://x.example/t", "s", 1.0, False)
    box = ToolBox(end_call=False, transfer_to="", custom={"look_up": spec})
    outcome = asyncio.run(box.run("look_up", '{"x": {}, "n": 3}', "C"))
    assert not outcome.ok
    assert outcome.result.startswith("this tool cannot be used: its parameter schema")


def test_it_shows_any_arguments_in_the_transcript_without_raising():
    assert shown_arguments('{"day": "monday"}') == {"day": "monday"}
    assert shown_arguments("[" * 5000) == "[" * 5000  # json.loads raises RecursionError
    assert shown_arguments("x" * 100_000) == "x" * tool_schemas.MAX_ARGUMENTS_BYTES + "…"


@pytest.mark.parametrize(
    "parameters",
    [
        {"type": "object", "$ref": "#"},
        {"$defs": {"a": {"allOf": [{"$ref": "#/$defs/b"}]}, "b": {"not": {"$ref": "#/$defs/a"}}},
         "type": "object", "properties": {"x": {"$ref": "#/$defs/a"}}},
        {"type": "object",
         "properties": {"x": {"anyOf": [{"type": "string"}, {"$ref": "#/properties/x"}]}}},
    ],
)  # fmt: skip
def test_it_refuses_a_ref_that_comes_back_without_descending(parameters):
    """Found before any check, the same on any machine (not by the CPU budget or by Python's
    recursion limit, whichever comes first)."""
    assert "comes back to itself without descending into the arguments" in (
        tool_schemas.schema_problem(parameters)
    )


def test_a_schema_that_descends_as_it_refers_to_itself_is_fine():
    children = {"type": "array", "items": {"$ref": "#"}}
    tree = {"type": "object", "properties": {"name": {"type": "string"}, "children": children}}
    assert tool_schemas.schema_problem(tree) == ""
    args, problem = tool_schemas.parse_arguments('{"children": [{"children": [{}]}]}', tree)
    assert problem == "" and args["children"][0]["children"] == [{}]
