"""Tools: custom ones answered over HTTPS (signed, validated, failures as error results) and the
built-in end_call, through the real consumer and the fake Realtime (transfer_call:
tests/app/test_transfer.py)."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import io
import json
import socket
import time
from http.server import BaseHTTPRequestHandler

import pytest
import pytest_asyncio
from channels.db import database_sync_to_async
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from agents.models import Agent, Tool
from calls.models import Status
from streaming.core.call.endings import EndedBy
from streaming.core.call.toolbox import ToolBox, ToolSpec, signed_message
from streaming.devtools.fake_realtime import Options, Voice
from streaming.devtools.servers import LoopbackHTTP
from streaming.ground import signatures
from tests.bridge_helpers import (
    bridge_ended,
    call_turns,
    collect,
    communicator,
    get_call,
    speak,
    start_call,
    wait_for,
)
from tests.helpers import DEMO_NUMBER
from tests.live_stack import ToolEndpoint, json_answer

# Calls driven through the consumer are hung up after each test.
pytestmark = pytest.mark.usefixtures("hang_up_leftovers")

SECRET = "s3cret"

LOOKUP = {"type": "object", "properties": {"day": {"type": "string"}}, "required": ["day"]}


@pytest.fixture
def endpoint():
    """Serves endpoints for one test: a ToolEndpoint by default, or another kind."""
    served = []

    def start(answer, kind=ToolEndpoint):
        served.append(kind(answer))
        return served[-1]

    yield start
    for e in served:
        e.close()


def box(
    url: str, timeout_s: float = 2.0, secret: str = SECRET, allow_loopback: bool = True
) -> ToolBox:
    spec = ToolSpec("look_up", "Looks things up.", LOOKUP, url, secret, timeout_s, allow_loopback)
    return ToolBox(end_call=True, transfer_to="", custom={"look_up": spec})


@pytest.fixture(autouse=True)
def _tools_on_this_machine(settings):
    # The endpoints these tests serve are on loopback, as in development.
    settings.TOOL_ALLOW_LOOPBACK = True


class RawEndpoint:
    """An endpoint whose `handle(request_handler)` writes the reply byte by byte as it likes."""

    def __init__(self, handle) -> None:
        self.bytes_written = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with contextlib.suppress(OSError):
                    handle(self, outer)

            def log_message(self, *args) -> None:
                pass

        self.http = LoopbackHTTP(Handler, poll_interval=0.02)
        self.url = f"http://127.0.0.1:{self.http.port}/tool"

    def close(self) -> None:
        self.http.close()


def start_json_answer(handler) -> None:
    """A 200 with JSON to come, length unsaid: the body is written as the test likes."""
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.end_headers()


@pytest.fixture
def raw_endpoint(endpoint):
    return lambda handle: endpoint(handle, RawEndpoint)


@pytest.mark.asyncio
async def test_it_posts_signed_arguments_and_returns_the_json_answer(endpoint):
    tool = endpoint(json_answer({"open": True}))
    outcome = await box(tool.url).run("look_up", '{"day": "monday"}', "CALL_9")
    assert outcome.ok and outcome.result == {"open": True}
    [(body, headers)] = tool.requests
    assert json.loads(body) == {"day": "monday"}
    signed = signed_message("POST", tool.url, "CALL_9", "look_up", body)
    signatures.verify(signed, headers["X-Tool-Signature"], [SECRET])  # raises if not valid
    with pytest.raises(signatures.SignatureError):
        signatures.verify(signed, headers["X-Tool-Signature"], ["another secret"])
    assert headers["X-Call-Id"] == "CALL_9"
    assert headers["X-Tool-Name"] == "look_up"
    # The signature covers more than the body: not valid for another call, tool or URL.
    for other in (
        signed_message("POST", tool.url, "CALL_8", "look_up", body),
        signed_message("POST", tool.url, "CALL_9", "cancel_booking", body),
        signed_message("POST", tool.url + "/other", "CALL_9", "look_up", body),
        signed_message("PUT", tool.url, "CALL_9", "look_up", body),
        body,
    ):
        with pytest.raises(signatures.SignatureError):
            signatures.verify(other, headers["X-Tool-Signature"], [SECRET])


@pytest.mark.asyncio
async def test_one_deadline_covers_an_endpoint_that_trickles_its_answer(raw_endpoint):
    def trickle(handler, endpoint) -> None:
        start_json_answer(handler)
        for byte in b'{"open": true, "padding": "' + b"x" * 50:
            handler.wfile.write(bytes([byte]))
            handler.wfile.flush()
            time.sleep(0.2)  # each read is quick; the whole answer is not

    tool = raw_endpoint(trickle)
    started = time.monotonic()
    outcome = await box(tool.url, timeout_s=1.0).run("look_up", '{"day": "monday"}', "C")
    assert (outcome.ok, outcome.result) == (False, "the tool did not answer within 1 s")
    assert time.monotonic() - started < 3.0


@pytest.mark.asyncio
async def test_it_stops_reading_an_answer_past_16_kb(raw_endpoint):
    def endless(handler, endpoint) -> None:
        start_json_answer(handler)
        chunk = b"x" * 4096
        while endpoint.bytes_written < 200 * 1024 * 1024:  # far more than anyone should read
            handler.wfile.write(chunk)
            endpoint.bytes_written += len(chunk)

    tool = raw_endpoint(endless)
    outcome = await box(tool.url, timeout_s=5.0).run("look_up", '{"day": "monday"}', "C")
    assert (outcome.ok, outcome.result) == (False, "the tool's answer was over 16 KB")
    await asyncio.sleep(0.2)
    # Cut off early: what was written is what fits in socket buffers, not 200 MB.
    assert tool.bytes_written < 16 * 1024 * 1024


@pytest.mark.asyncio
async def test_it_refuses_compressed_answers_without_inflating_them(raw_endpoint):
    bomb = gzip.compress(b'{"a": "' + b"0" * 10_000_000 + b'"}')

    def compressed(handler, endpoint) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Encoding", "gzip")
        handler.send_header("Content-Length", str(len(bomb)))
        handler.end_headers()
        handler.wfile.write(bomb)

    tool = raw_endpoint(compressed)
    outcome = await box(tool.url).run("look_up", '{"day": "monday"}', "C")
    assert (outcome.ok, outcome.result) == (
        False,
        "the tool's answer was compressed: answer plain JSON",
    )


@pytest.mark.asyncio
async def test_it_does_not_follow_redirects(raw_endpoint, endpoint):
    inside = endpoint(json_answer({"secret": "metadata"}))

    def redirect(handler, _endpoint) -> None:
        handler.send_response(302)
        handler.send_header("Location", inside.url)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    tool = raw_endpoint(redirect)
    outcome = await box(tool.url).run("look_up", '{"day": "monday"}', "C")
    assert (outcome.ok, outcome.result) == (False, "the tool answered with HTTP 302")
    assert inside.requests == []


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://169.254.169.254/latest/meta-data/", "169.254.169.254 is link-local"),
        ("https://10.1.2.3/t", "10.1.2.3 is a private address"),
        ("https://192.168.0.1/t", "192.168.0.1 is a private address"),
        ("https://[fd00:ec2::254]/t", "fd00:ec2::254 is a private address"),
        ("https://[::ffff:127.0.0.1]/t", "127.0.0.1 is this machine"),
        ("https://127.0.0.1/t", "127.0.0.1 is this machine"),
        ("https://localhost/t", "localhost is this machine"),
        ("https://0.0.0.0/t", "0.0.0.0 is a private address"),
        ("https://[ff02::1]/t", "ff02::1 is not a public address"),
        ("https://100.64.0.1/t", "100.64.0.1 is not a public address"),
        ("http://tools.example.com/t", "only https:// addresses"),
    ],
)
async def test_it_refuses_addresses_inside_our_network_without_connecting(url, why, monkeypatch):
    connected = []
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: connected.append(a))
    outcome = await box(url, allow_loopback=False).run("look_up", '{"day": "x"}', "C")
    assert not outcome.ok
    assert why in outcome.result
    assert connected == []


@pytest.mark.asyncio
async def test_it_checks_the_address_a_name_resolves_to_and_connects_to_that_one(monkeypatch):
    """A public-looking name that resolves inside (or rebinds there) is refused before any
    connection; the check runs on every address DNS gives."""
    seen = []

    def resolve(host, port, *args, **kwargs):
        seen.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.7", port))]  # fmt: skip

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    outcome = await box("https://tools.example.com/t", allow_loopback=False).run(
        "look_up", '{"day": "x"}', "C"
    )
    assert not outcome.ok
    assert "tools.example.com resolves to 10.0.0.7 is a private address" in outcome.result
    assert seen == ["tools.example.com"]


@pytest.mark.asyncio
async def test_it_turns_a_timeout_into_an_error_result(endpoint):
    tool = endpoint(json_answer({"open": True}, delay_s=3))
    started = time.monotonic()
    outcome = await box(tool.url, timeout_s=0.5).run("look_up", '{"day": "monday"}', "C")
    assert not outcome.ok
    assert outcome.result == "the tool did not answer within 0.5 s"
    assert 0.5 <= time.monotonic() - started < 2.5
    assert json.loads(outcome.output()) == {"error": "the tool did not answer within 0.5 s"}


@pytest.mark.asyncio
async def test_it_turns_a_non_json_answer_into_an_error_result(endpoint):
    tool = endpoint(lambda body, headers: (200, b"<html>oops</html>"))
    outcome = await box(tool.url).run("look_up", '{"day": "monday"}', "C")
    assert (outcome.ok, outcome.result) == (False, "the tool's answer was not JSON")


@pytest.mark.asyncio
async def test_it_refuses_an_answer_too_large_for_the_model(endpoint):
    tool = endpoint(json_answer({"text": "x" * 20_000}))
    outcome = await box(tool.url).run("look_up", '{"day": "monday"}', "C")
    assert (outcome.ok, outcome.result) == (False, "the tool's answer was over 16 KB")


@pytest.mark.asyncio
async def test_it_turns_an_error_status_into_an_error_result(endpoint):
    tool = endpoint(lambda body, headers: (503, b'{"down": true}'))
    outcome = await box(tool.url).run("look_up", '{"day": "monday"}', "C")
    assert (outcome.ok, outcome.result) == (False, "the tool answered with HTTP 503")


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("arguments", "why"),
    [
        ("{}", "invalid arguments: 'day' is a required property"),
        ('{"day": 3}', "invalid arguments at day: 3 is not of type 'string'"),
        ("not json", "the arguments were not valid JSON"),
        ("[1]", "the arguments must be a JSON object"),
    ],
)
async def test_it_refuses_arguments_that_break_the_schema_without_calling(endpoint, arguments, why):
    tool = endpoint(json_answer({}))
    outcome = await box(tool.url).run("look_up", arguments, "C")
    assert (outcome.ok, outcome.result) == (False, why)
    assert tool.requests == []


@pytest.mark.asyncio
async def test_it_answers_unknown_unreachable_and_unsigned_tools_with_errors(endpoint):
    tool = endpoint(json_answer({}))
    assert (await box(tool.url).run("nope", "{}", "C")).result == "there is no tool named 'nope'"
    dead = box("http://127.0.0.1:9/tool")
    assert "could not be reached" in (await dead.run("look_up", '{"day": "x"}', "C")).result
    unsigned = box(tool.url, secret="")
    assert "no signing secret" in (await unsigned.run("look_up", '{"day": "x"}', "C")).result
    assert tool.requests == []


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"type": "object", "properties": {"day": {"type": "date"}}}, "Not a valid JSON Schema"),
        ({"type": "string"}, 'The top level must say "type": "object".'),
        ({"type": "object", "properties": {}, "required": ["day"]}, "Required but not described"),
        ([1, 2], "must be a JSON object"),
    ],
)
def test_it_refuses_a_schema_that_is_not_a_valid_object_schema(agent, parameters, message):
    tool = Tool(agent=agent, name="look_up", description="d", endpoint="https://x.example/t",
                parameters=parameters)  # fmt: skip
    with pytest.raises(ValidationError) as e:
        tool.full_clean()
    assert message in str(e.value.message_dict["parameters"])


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "end_call"),
        ("name", "two words"),
        ("endpoint", "http://tools.example.com/t"),
        ("secret_env", "MY_SECRET"),
    ],
)
def test_it_refuses_bad_names_endpoints_and_secret_names(agent, field, value):
    values = {"name": "look_up", "endpoint": "https://x.example/t", field: value}
    tool = Tool(agent=agent, description="d", parameters=LOOKUP, **values)
    with pytest.raises(ValidationError) as e:
        tool.full_clean()
    assert field in e.value.message_dict


@pytest.mark.parametrize(
    ("endpoint", "loopback", "why"),
    [
        ("https://10.0.0.1/t", False, "10.0.0.1 is a private address"),
        ("https://169.254.169.254/latest", False, "169.254.169.254 is link-local"),
        ("http://127.0.0.1:8000/t", False, "only https:// addresses"),
        ("https://localhost/t", False, "localhost is this machine"),
        ("https://inside.example.com/t", False, "inside.example.com resolves to 10.9.8.7"),
        ("http://127.0.0.1:8000/t", True, None),
        ("https://bookings.example.com/t", False, None),  # not resolvable here: checked later
    ],
)
def test_it_refuses_endpoints_inside_our_network_when_saved(
    agent, settings, monkeypatch, endpoint, loopback, why
):
    settings.TOOL_ALLOW_LOOPBACK = loopback
    real = socket.getaddrinfo

    def resolve(host, port, *args, **kwargs):
        if host == "inside.example.com":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.9.8.7", port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    tool = Tool(agent=agent, name="look_up", description="d", parameters=LOOKUP, endpoint=endpoint)
    if why is None:
        tool.full_clean()
        return
    with pytest.raises(ValidationError) as e:
        tool.full_clean()
    assert why in str(e.value.message_dict["endpoint"])


def test_each_tool_signs_with_a_key_of_its_own(agent, settings, monkeypatch):
    settings.TOOL_SIGNING_SECRET = "master-secret"
    look_up = Tool.objects.create(agent=agent, name="look_up", description="d",
                                  endpoint="https://a.example/t")  # fmt: skip
    cancel = Tool.objects.create(agent=agent, name="cancel", description="d",
                                 endpoint="https://a.example/t")  # fmt: skip
    keys = {look_up.signing_secret(), cancel.signing_secret(), settings.TOOL_SIGNING_SECRET}
    assert len(keys) == 3 and "" not in keys
    # A call reads each tool's key when it starts, from its revision's tools.
    offered = {t.name: t.secret for t in agent.current_revision.call_settings().tools}
    assert offered == {"look_up": look_up.signing_secret(), "cancel": cancel.signing_secret()}
    printed = io.StringIO()
    call_command("tool_signing_key", "0711 000 100", "look_up", stdout=printed)
    assert printed.getvalue().strip() == look_up.signing_secret()
    monkeypatch.setenv("TOOL_SECRET_CANCEL", "chosen-secret")
    cancel.secret_env = "TOOL_SECRET_CANCEL"
    assert cancel.signing_secret() == "chosen-secret"
    with pytest.raises(CommandError, match="has no tool 'nope'"):
        call_command("tool_signing_key", DEMO_NUMBER, "nope")


def test_it_shows_schema_errors_in_the_admin_form(agent, admin_client):
    url = f"/admin/agents/agent/{agent.pk}/change/"
    form = admin_form(admin_client.get(url))
    form.update(
        {
            "tools-TOTAL_FORMS": "1",
            "tools-0-name": "look_up",
            "tools-0-description": "Looks up a booking.",
            "tools-0-parameters": '{"type": "object", "properties": {"day": {"type": 5}}}',
            "tools-0-endpoint": "https://bookings.example.com/look-up",
            "tools-0-timeout_seconds": "5",
            "tools-0-is_enabled": "on",
        }
    )
    response = admin_client.post(url, form)
    assert response.status_code == 200  # the form again, with the error
    assert "Not a valid JSON Schema at properties/day/type" in response.content.decode()
    assert not Tool.objects.exists()

    form["tools-0-parameters"] = json.dumps(LOOKUP)
    response = admin_client.post(url, form)
    assert response.status_code == 302
    assert Tool.objects.get().parameters == LOOKUP


def admin_form(response) -> dict[str, str]:
    """The values an operator's browser would post back, unchanged, from the change form."""
    form = response.context["adminform"].form
    data = {}
    for name, field in form.fields.items():
        value = form.initial.get(name, field.initial)
        if isinstance(value, bool):
            if value:
                data[name] = "on"
        elif value is not None:
            data[name] = str(value)
    for formset in response.context["inline_admin_formsets"]:
        management = formset.formset.management_form
        for name in management.fields:
            data[f"{formset.formset.prefix}-{name}"] = str(management.initial.get(name, 0))
    return data


@pytest_asyncio.fixture
async def fake(fake_realtime, settings):
    settings.TOOL_SIGNING_SECRET = SECRET
    return await fake_realtime(Options(voice=Voice(duration_ms=600)))


def live(test):
    return pytest.mark.asyncio(pytest.mark.django_db(transaction=True)(test))


@live
async def test_the_agent_says_goodbye_then_hangs_up(fake):
    fake.options.tool_calls = {1: ("end_call", {"reason": "all done"})}
    comm = communicator(await start_call())
    await comm.connect()
    await speak(comm)
    audio, texts, _ = await collect(comm, seconds=5, stop_after_quiet=1.5)
    # The whole goodbye (600 ms at 16 kHz) was written before the line closed.
    assert len(audio) >= 2 * 16000 * 0.55
    assert texts[-1] == {"type": "closed", "code": 1000}
    session = fake.sessions[0]
    assert [t["name"] for t in session.updates[0]["tools"]] == ["end_call"]
    [output] = session.tool_outputs
    assert json.loads(output["output"])["ok"] is True
    assert await wait_for(bridge_ended)
    call = await get_call()
    assert call.ended_by == EndedBy.AGENT
    assert call.end_reason == "the agent ended the call"
    assert call.status == Status.COMPLETED
    [tool] = [t for t in await call_turns() if t.role == "tool"]
    assert (tool.tool_name, tool.tool_arguments, tool.tool_ok) == (
        "end_call",
        {"reason": "all done"},
        True,
    )


@live
async def test_the_agent_hangs_up_after_an_interrupted_answer_too(fake):
    fake.options.voice = Voice(duration_ms=1500)
    fake.options.speedup = 1.5
    fake.options.tool_calls = {2: ("end_call", {})}
    comm = communicator(await start_call())
    await comm.connect()
    await speak(comm)  # the first answer starts as the caller falls quiet
    await speak(comm)  # and the caller talks over it
    audio, texts, _ = await collect(comm, seconds=6, stop_after_quiet=2.5)
    assert {"type": "killAudio"} in texts
    assert len(audio) >= 2 * 16000 * 1.45  # the whole 1.5 s goodbye, before the line closed
    assert texts[-1] == {"type": "closed", "code": 1000}
    assert await wait_for(bridge_ended)
    call = await get_call()
    assert (call.ended_by, call.end_reason) == (EndedBy.AGENT, "the agent ended the call")


@live
async def test_a_failing_tool_becomes_an_error_result_and_the_call_goes_on(fake, endpoint):
    slow = endpoint(json_answer({"late": True}, delay_s=3))
    await _add_tool(slow.url, timeout_seconds=0.5)
    fake.options.tool_calls = {1: ("look_up", {"day": "monday"})}
    comm = communicator(await start_call())
    await comm.connect()
    await speak(comm)
    audio, texts, _ = await collect(comm, seconds=5, stop_after_quiet=1.5)
    assert len(audio) >= 2 * 16000 * 0.55  # the model spoke after the error
    assert not any(t.get("type") == "closed" for t in texts)
    [output] = fake.sessions[0].tool_outputs
    assert json.loads(output["output"]) == {"error": "the tool did not answer within 0.5 s"}
    await comm.disconnect()
    assert await wait_for(bridge_ended)
    [tool] = [t for t in await call_turns() if t.role == "tool"]
    assert tool.tool_ok is False
    assert tool.tool_result == "the tool did not answer within 0.5 s"
    assert (await get_call()).ended_by == EndedBy.CALLER


@live
async def test_switched_off_tools_are_not_offered(fake, endpoint):
    tool = endpoint(json_answer({}))
    await _add_tool(tool.url, is_enabled=False)
    comm = communicator(await start_call(end_call_enabled=False))
    await comm.connect()
    assert await wait_for(lambda: fake.sessions and fake.sessions[0].updates)
    assert "tools" not in fake.sessions[0].updates[0]
    await comm.disconnect()


@database_sync_to_async
def _add_tool(url: str, **fields) -> None:
    agent = Agent(phone_number=DEMO_NUMBER, name="Clinic", instructions="Be brief.")
    agent.save()
    Tool.objects.create(agent=agent, name="look_up", description="Looks up.", parameters=LOOKUP,
                        endpoint=url, **fields)  # fmt: skip
    agent.publish("tests")


def test_the_fake_takes_scripted_tool_calls_from_its_command_line():
    from django.core.management import CommandError

    from streaming.management.commands.fake_realtime import parse_tool_call

    assert parse_tool_call("2:end_call") == (2, ("end_call", {}))
    assert parse_tool_call('1:look_up:{"day": "monday"}') == (1, ("look_up", {"day": "monday"}))
    for bad in ("end_call", "x:end_call", "1:", '1:look_up:["day"]', "1:look_up:{oops"):
        with pytest.raises(CommandError):
            parse_tool_call(bad)
