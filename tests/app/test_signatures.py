from __future__ import annotations

import json
import time

import pytest

from agents.models import Agent
from calls.models import Call, CallEvent
from streaming.ground import signatures
from tests.helpers import load

SECRET = "whsec_test_0123456789"
pytestmark = pytest.mark.django_db

ENDPOINTS = [
    ("/sautikit/voice/", "voice_incoming"),
    ("/sautikit/stream-status/", "stream_started"),
    ("/sautikit/events/", "event_call_answered"),
]


def post(client, url: str, body: bytes, signature: str | None):
    headers = {"HTTP_X_SAUTIKIT_SIGNATURE": signature} if signature is not None else {}
    return client.post(url, body, content_type="application/json", **headers)


@pytest.fixture
def secret(settings):
    settings.SAUTIKIT_SIGNING_SECRET = SECRET
    return SECRET


def assert_nothing_recorded() -> None:
    assert Call.objects.count() == 0
    assert CallEvent.objects.count() == 0


@pytest.mark.parametrize(("url", "name"), ENDPOINTS)
def test_it_accepts_a_good_timestamped_signature(client, agent, secret, url, name):
    body = json.dumps(load(name)).encode()
    response = post(client, url, body, signatures.sign(secret, body))
    assert response.status_code in {200, 202}
    assert CallEvent.objects.count() == 1


@pytest.mark.parametrize(("url", "name"), ENDPOINTS)
def test_it_accepts_the_plain_body_hmac(client, agent, secret, url, name):
    body = json.dumps(load(name)).encode()
    response = post(client, url, body, signatures.sign_plain(secret, body))
    assert response.status_code in {200, 202}


@pytest.mark.parametrize(("url", "name"), ENDPOINTS)
def test_it_refuses_a_bad_signature(client, agent, secret, url, name):
    body = json.dumps(load(name)).encode()
    response = post(client, url, body, signatures.sign("not-the-secret", body))
    assert response.status_code == 403
    assert b"does not match" in response.content
    assert_nothing_recorded()


@pytest.mark.parametrize(("url", "name"), ENDPOINTS)
def test_it_refuses_a_stale_signature(client, agent, secret, url, name):
    body = json.dumps(load(name)).encode()
    response = post(client, url, body, signatures.sign(secret, body, int(time.time()) - 301))
    assert response.status_code == 403
    assert b"window" in response.content
    assert_nothing_recorded()


@pytest.mark.parametrize(("url", "name"), ENDPOINTS)
def test_it_refuses_a_missing_signature(client, agent, secret, url, name):
    response = post(client, url, json.dumps(load(name)).encode(), None)
    assert response.status_code == 403
    assert b"missing" in response.content
    assert_nothing_recorded()


def test_it_refuses_a_signature_for_another_body(client, agent, secret):
    body = json.dumps(load("voice_incoming")).encode()
    other = body.replace(b"+254700000001", b"+254700000009")
    assert post(client, "/sautikit/voice/", other, signatures.sign(secret, body)).status_code == 403


def test_it_accepts_unsigned_webhooks_when_no_secret_is_set(client, agent):
    body = json.dumps(load("voice_incoming")).encode()
    assert post(client, "/sautikit/voice/", body, None).status_code == 200


def test_it_uses_the_agent_own_secret(client, agent, monkeypatch):
    monkeypatch.setenv("SAUTIKIT_SIGNING_SECRET_CLINIC", "per-number-secret")
    agent.signing_secret_env = "SAUTIKIT_SIGNING_SECRET_CLINIC"
    agent.save()
    body = json.dumps(load("voice_incoming")).encode()
    assert post(client, "/sautikit/voice/", body, None).status_code == 403
    good = signatures.sign("per-number-secret", body)
    assert post(client, "/sautikit/voice/", body, good).status_code == 200
    # The call is known now: its status callbacks are checked with the agent's secret too.
    status = json.dumps(load("stream_started")).encode()
    assert post(client, "/sautikit/stream-status/", status, None).status_code == 403
    signed = signatures.sign("per-number-secret", status)
    assert post(client, "/sautikit/stream-status/", status, signed).status_code == 200


@pytest.fixture
def own_secret(client, agent, monkeypatch):
    """The clinic's number has its own secret; the workspace has none."""
    monkeypatch.setenv("SAUTIKIT_SIGNING_SECRET_CLINIC", "per-number-secret")
    agent.signing_secret_env = "SAUTIKIT_SIGNING_SECRET_CLINIC"
    agent.save()
    body = json.dumps(load("voice_incoming")).encode()
    signed = signatures.sign("per-number-secret", body)
    assert post(client, "/sautikit/voice/", body, signed).status_code == 200
    Agent(name="Open", phone_number="+254711000999", instructions="x").save()
    return "per-number-secret"


@pytest.mark.parametrize(
    "fields",
    [
        # No number at all: nothing in the body names an agent.
        {"sessionId": "ATVId_5f0c2b1e9a7d4c3b8e21", "callSessionState": "StreamStopped"},
        # Another agent's number (one without a secret of its own).
        {"sessionId": "ATVId_5f0c2b1e9a7d4c3b8e21", "callSessionState": "Completed",
         "isActive": "0", "destinationNumber": "+254711000999"},
    ],
)  # fmt: skip
def test_it_checks_a_known_calls_webhooks_with_its_own_agents_secret(
    client, agent, own_secret, fields
):
    body = json.dumps(fields).encode()
    refused = post(client, "/sautikit/voice/", body, None)
    assert refused.status_code == 403
    call = Call.objects.get()
    assert not call.is_over and call.events.count() == 1
    assert (
        post(client, "/sautikit/voice/", body, signatures.sign(own_secret, body)).status_code == 200
    )


def test_it_checks_a_known_calls_events_with_its_own_agents_secret(client, agent, own_secret):
    event = load("event_call_completed")
    event["data"]["to"] = "+254711000999"
    body = json.dumps(event).encode()
    assert post(client, "/sautikit/events/", body, None).status_code == 403
    assert not Call.objects.get().is_over


class TestVerify:
    body = b'{"a":1}'

    def test_it_accepts_any_of_several_v1_values(self):
        t = int(time.time())
        good = signatures.sign(SECRET, self.body, t).split(",")[1]
        signatures.verify(self.body, f"t={t},v1=00ff,{good}", [SECRET])

    def test_it_refuses_timestamps_from_the_future(self):
        future = int(time.time()) + 400
        with pytest.raises(signatures.SignatureError, match="window"):
            signatures.verify(self.body, signatures.sign(SECRET, self.body, future), [SECRET])

    def test_it_accepts_a_timestamp_inside_the_window(self):
        t = int(time.time()) - 299
        signatures.verify(self.body, signatures.sign(SECRET, self.body, t), [SECRET])

    @pytest.mark.parametrize("header", ["t=abc,v1=00", "t=1", "v1=", "garbage", "   "])
    def test_it_refuses_malformed_headers(self, header):
        with pytest.raises(signatures.SignatureError):
            signatures.verify(self.body, header, [SECRET])

    def test_it_accepts_the_plain_form_with_a_sha256_prefix(self):
        digest = signatures.sign_plain(SECRET, self.body)
        signatures.verify(self.body, f"sha256={digest}", [SECRET])

    def test_it_passes_everything_without_secrets(self):
        signatures.verify(self.body, None, ["", ""])

    def test_it_refuses_a_plain_signature_of_a_timestamped_message(self):
        t = int(time.time()) - 86400
        v1 = signatures.sign(SECRET, self.body, t).split("v1=")[1]
        with pytest.raises(signatures.SignatureError, match="timestamped"):
            signatures.verify(self.body + f".{t}".encode(), v1, [SECRET])

    def test_it_still_takes_a_plain_signature_of_a_body_ending_in_a_decimal(self):
        body = b"sessionId=x&durationInSeconds=12.5"
        signatures.verify(body, signatures.sign_plain(SECRET, body), [SECRET])

    @pytest.mark.parametrize("spelling", ["+{t}", "{t}.0", "1_{t}"])
    def test_it_reads_a_timestamp_only_as_plain_digits(self, spelling):
        """int() takes each of these, so each would be another valid spelling of one message."""
        raw = spelling.format(t=str(int(time.time())))
        v1 = signatures._hmac(SECRET, self.body + b"." + raw.encode())
        with pytest.raises(signatures.SignatureError, match="whole number"):
            signatures.verify(self.body, f"t={raw},v1={v1}", [SECRET])

    def test_it_refuses_two_timestamps(self):
        t = int(time.time())
        good = signatures.sign(SECRET, self.body, t)
        with pytest.raises(signatures.SignatureError, match="more than one"):
            signatures.verify(self.body, f"t={t - 86400},{good}", [SECRET])

    def test_it_gives_each_signed_message_its_own_fingerprint(self):
        t = int(time.time())
        once = signatures.verify(self.body, signatures.sign(SECRET, self.body, t), [SECRET])
        again = signatures.verify(self.body, signatures.sign(SECRET, self.body, t), [SECRET])
        later = signatures.verify(self.body, signatures.sign(SECRET, self.body, t + 1), [SECRET])
        plain = signatures.verify(self.body, signatures.sign_plain(SECRET, self.body), [SECRET])
        assert once == again and once.signed
        assert len({once.fingerprint, later.fingerprint, plain.fingerprint}) == 3
        assert not signatures.verify(self.body, None, [""]).signed


def test_it_answers_a_delivery_that_raced_its_copy_as_a_repeat(client, agent, secret, monkeypatch):
    """Two copies of one signed delivery at once: the one that loses the race is a repeat."""
    from calls import views

    body = json.dumps(load("stream_started")).encode()
    signature = signatures.sign(secret, body)
    assert post(client, "/sautikit/stream-status/", body, signature).status_code == 202
    real, checks = views._is_repeat, []

    def misses_the_first_time(event_id):
        checks.append(event_id)
        return len(checks) > 1 and real(event_id)

    monkeypatch.setattr(views, "_is_repeat", misses_the_first_time)
    response = post(client, "/sautikit/stream-status/", body, signature)
    assert (response.status_code, response.content) == (200, b"duplicate: already recorded\n")
    assert CallEvent.objects.count() == 1


def test_it_refuses_query_fields_that_would_need_a_signature(client, agent, monkeypatch):
    """Unsigned development use may fill fields from the query, but never fields that would
    name a number whose webhooks are signed."""
    monkeypatch.setenv("SAUTIKIT_SIGNING_SECRET_CLINIC", "per-number-secret")
    agent.signing_secret_env = "SAUTIKIT_SIGNING_SECRET_CLINIC"
    agent.save()
    body = json.dumps({"sessionId": "Q1", "callerNumber": "+254700000001"}).encode()
    response = client.post(
        f"/sautikit/voice/?destinationNumber={agent.phone_number.replace('+', '%2B')}",
        body,
        content_type="application/json",
    )
    assert response.status_code == 403
    assert b"query-string fields are not signed" in response.content
    assert_nothing_recorded()


def test_it_refuses_the_plain_form_where_only_ours_are_expected():
    """Our own requests (tools, the end-of-call webhook) are always timestamped: a receiver
    that checks them accepts no form that carries no time."""
    body = b'{"a":1}'
    with pytest.raises(signatures.SignatureError, match="no timestamp"):
        signatures.verify(body, signatures.sign_plain(SECRET, body), [SECRET], accept_plain=False)
    signatures.verify(body, signatures.sign(SECRET, body), [SECRET], accept_plain=False)


@pytest.mark.parametrize("header", ["t={t},v1=\u00e9", "sha256=\u00e9\u00e9", "\u00e9"])
@pytest.mark.parametrize(("url", "name"), ENDPOINTS)
def test_it_refuses_a_header_that_is_not_ascii(client, agent, secret, url, name, header):
    body = json.dumps(load(name)).encode()
    response = post(client, url, body, header.format(t=int(time.time())))
    assert response.status_code == 403
    assert b"not ASCII" in response.content
    assert_nothing_recorded()


def test_it_lets_a_numbers_own_secret_claim_no_call_it_does_not_have(
    client, agent, secret, monkeypatch
):
    """A number's own secret speaks for its calls: it cannot tie a call we already have (with
    no agent yet) to its agent; the workspace secret can."""
    monkeypatch.setenv("SAUTIKIT_SIGNING_SECRET_CLINIC", "per-number-secret")
    agent.signing_secret_env = "SAUTIKIT_SIGNING_SECRET_CLINIC"
    agent.save()
    status = json.dumps(load("stream_started")).encode()  # a call not seen yet: no agent
    assert (
        post(
            client, "/sautikit/stream-status/", status, signatures.sign(secret, status)
        ).status_code
        == 202
    )
    event = load("event_call_answered")
    event["data"]["call_id"] = Call.objects.get().call_id
    event["data"]["to"] = agent.phone_number
    body = json.dumps(event).encode()
    refused = post(client, "/sautikit/events/", body, signatures.sign("per-number-secret", body))
    assert refused.status_code == 403 and b"not its own" in refused.content
    assert Call.objects.get().agent is None
    assert post(client, "/sautikit/events/", body, signatures.sign(secret, body)).status_code == 200
    assert Call.objects.get().agent == agent
