"""Signed webhooks through a real daphne process (`make run`'s shape, with
SAUTIKIT_SIGNING_SECRET set): a captured signature is good for one delivery, inside its window,
for its own bytes, and only signed bytes decide anything (not the query string, not the
delivery-id headers)."""

from __future__ import annotations

import http.client
import time
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest

from agents.models import Agent
from calls.models import Call, CallEvent
from streaming.devtools.servers import Servers
from streaming.ground import signatures
from tests.live_stack import start_stack

SECRET = "whsec_replay_tests_0123456789"
NUMBER = "+254711000400"
DAY = 24 * 3600


@pytest.fixture
def server(transactional_db) -> Iterator[Servers]:
    Agent(name="Desk", phone_number=NUMBER, instructions="Help.").save()
    stack = start_stack(env={"SAUTIKIT_SIGNING_SECRET": SECRET}, fake_args=[])
    yield stack
    stack.stop()
    stack.tmp.cleanup()


def post(
    server: Servers, path: str, body: bytes, signature: str, query: str = "", **headers: str
) -> tuple[int, str]:
    """Exactly these bytes, this query and these headers, as an attacker would send them."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request("POST", path + (f"?{query}" if query else ""), body=body, headers={
            "Content-Type": "application/x-www-form-urlencoded",
            signatures.HEADER: signature, **headers,
        })  # fmt: skip
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def first_callback(call_id: str) -> bytes:
    return urlencode({"sessionId": call_id, "callerNumber": "+254700000001",
                      "destinationNumber": NUMBER, "isActive": "1",
                      "clientRequestId": f"req-{call_id}"}).encode()  # fmt: skip


def test_it_refuses_an_old_signature_in_either_form(server):
    body = first_callback("OLD_1")
    t = int(time.time()) - DAY
    timestamped = signatures.sign(SECRET, body, t)
    status, reason = post(server, "/sautikit/voice/", body, timestamped)
    assert status == 403 and "window" in reason, reason
    # The same v1 is a plain HMAC of "body.t": sent that way it must not pass either.
    v1 = timestamped.split("v1=")[1]
    status, reason = post(server, "/sautikit/voice/", body + f".{t}".encode(), v1)
    assert status == 403, reason
    assert "timestamped" in reason
    assert not Call.objects.exists()


def test_it_answers_a_replayed_signature_as_a_repeat(server):
    forms = {"REPLAY_T": signatures.sign, "REPLAY_PLAIN": signatures.sign_plain}
    for call_id, sign in forms.items():
        body = first_callback(call_id)
        signature = sign(SECRET, body)
        status, answer = post(server, "/sautikit/voice/", body, signature)
        assert status == 200 and "<Stream" in answer, answer
        # Replayed as captured, and with a new delivery id in the (unsigned) header.
        for headers in ({}, {"X-Sautikit-Event-Id": f"evt-new-{call_id}"}):
            status, answer = post(server, "/sautikit/voice/", body, signature, **headers)
            assert status == 200 and "<Response />" in answer, answer
        assert CallEvent.objects.filter(call__call_id=call_id).count() == 1


def test_it_lets_a_genuine_retry_through(server):
    """Sautikit signs each attempt anew: a retry is answered 2xx, as before."""
    body = first_callback("RETRY_1")
    earlier = signatures.sign(SECRET, body, int(time.time()) - 5)
    assert post(server, "/sautikit/voice/", body, earlier)[0] == 200
    status, answer = post(server, "/sautikit/voice/", body, signatures.sign(SECRET, body))
    assert status == 200 and "<Stream" not in answer  # one call forks one stream
    status_body = urlencode({"sessionId": "RETRY_1", "callSessionState": "StreamStarted",
                             "streamSid": "MZ1"}).encode()  # fmt: skip
    for _ in range(2):
        signed = signatures.sign(SECRET, status_body)
        assert post(server, "/sautikit/stream-status/", status_body, signed)[0] == 200


def test_it_takes_nothing_from_the_query_string_of_a_signed_request(server):
    body = first_callback("QUERY_1")
    assert post(server, "/sautikit/voice/", body, signatures.sign(SECRET, body))[0] == 200
    forged = "isActive=0&hangupCause=FORGED&durationInSeconds=1&callSessionState=Completed"
    status, _ = post(server, "/sautikit/voice/", body, signatures.sign(SECRET, body), forged)
    assert status == 200
    call = Call.objects.get(call_id="QUERY_1")
    assert (call.hangup_cause, call.duration_seconds, call.is_over) == ("", None, False)

    error = urlencode({"sessionId": "QUERY_1", "callSessionState": "StreamError"}).encode()
    status, _ = post(server, "/sautikit/stream-status/", error, signatures.sign(SECRET, error),
                     "errorMessage=FORGED")  # fmt: skip
    assert status == 200
    assert "FORGED" not in Call.objects.get(call_id="QUERY_1").stream_error


def test_it_never_drops_a_genuine_delivery_for_a_header_it_did_not_sign(server):
    body = first_callback("HEADER_1")
    signed = signatures.sign(SECRET, body)
    assert (
        post(server, "/sautikit/voice/", body, signed, **{"X-Sautikit-Event-Id": "evt-1"})[0] == 200
    )
    ended = urlencode({"sessionId": "HEADER_1", "callSessionState": "Completed",
                       "isActive": "0", "hangupCause": "NORMAL_CLEARING"}).encode()  # fmt: skip
    # Someone else's header naming the first delivery must not make this one a "repeat".
    status, _ = post(server, "/sautikit/voice/", ended, signatures.sign(SECRET, ended),
                     **{"X-Sautikit-Event-Id": "evt-1"})  # fmt: skip
    assert status == 200
    assert Call.objects.get(call_id="HEADER_1").hangup_cause == "NORMAL_CLEARING"
