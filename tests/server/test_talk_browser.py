"""“Talk to this agent” in real Chromium: a known WAV is the microphone, the stand-in checks what
it heard (pitch and length), and the page measures what it played back.

Chromium loops the WAV (`--use-file-for-fake-audio-capture`): silence while the agent greets,
a 660 Hz burst, silence while it answers. The agent (the Realtime stand-in, or GPT-Live's when
the draft tried is on that engine) greets with 1.5 s of 440 Hz, and answers each burst the same.
"""

from __future__ import annotations

import json
import wave
from pathlib import Path

import numpy as np
import pytest
from django.contrib.auth.models import Permission, User

from agents.models import Agent, NoteField
from calls.models import Call, Direction, Status
from streaming.devtools.servers import LIVE, REALTIME
from streaming.devtools.signals import loud_runs
from tests.browser_helpers import CHROMIUM, CHROMIUM_ARGS
from tests.live_stack import start_stack

pytestmark = pytest.mark.django_db(transaction=True)

RATE = 16000
BURST_S, BURST_HZ = 1.0, 660.0
QUIET_S = 2.5  # before the burst (the greeting) and after it (the answer)
REPLY_S, REPLY_HZ = 1.5, 440.0  # the stand-in's voice (its defaults)
# What each engine's stand-in hears: Realtime at 24 kHz, after the bridge's resampler; GPT-Live
# the 16 kHz call as it is.
HEARD_RATES = {REALTIME: 24000, LIVE: 16000}


def microphone_wav(path: Path, before_s: float = QUIET_S) -> Path:
    t = np.arange(int(RATE * BURST_S)) / RATE
    burst = 0.5 * np.sin(2 * np.pi * BURST_HZ * t)
    ramp = np.linspace(0, 1, RATE // 200)  # 5 ms: no clicks
    burst[: ramp.size] *= ramp
    burst[-ramp.size :] *= ramp[::-1]
    quiet = np.zeros(int(RATE * QUIET_S))
    signal = np.concatenate([np.zeros(int(RATE * before_s)), burst, quiet])
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes((signal * 32767).astype("<i2").tobytes())
    return path


def pitch(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(samples.size), n=8 * samples.size))
    return float(np.argmax(spectrum) * rate / (8 * samples.size))


@pytest.fixture
def tester() -> User:
    user = User.objects.create_user("amina", password="a long passphrase 42", is_staff=True)
    allowed = ["view_agent", "change_agent", "view_agentrevision", "talk_to_agent", "view_call"]
    user.user_permissions.set(Permission.objects.filter(codename__in=allowed))
    return user


def browser_with_microphone(p, wav: Path):
    return p.chromium.launch(
        executable_path=CHROMIUM,
        args=[*CHROMIUM_ARGS, "--use-fake-ui-for-media-stream",
              "--use-fake-device-for-media-stream", f"--use-file-for-fake-audio-capture={wav}"],
    )  # fmt: skip


def log_in(page, base: str) -> None:
    page.goto(f"{base}/admin/")
    page.fill("#id_username", "amina")
    page.fill("#id_password", "a long passphrase 42")
    page.click("input[type=submit]")


@pytest.mark.parametrize("engine", [REALTIME, LIVE])
def test_an_operator_talks_to_an_agent_from_the_browser(agent, tester, tmp_path, engine, shots):
    """On GPT-Live: the way docs/engines.md moves an agent, its draft tried before publishing."""
    from playwright.sync_api import expect, sync_playwright

    agent.greeting = "Karibu! This is the draft."
    if engine == LIVE:
        agent.engine, agent.model = LIVE, "gpt-live-1.1"
    agent.save(author="tests")  # a draft: phone callers still get v1
    NoteField.objects.create(agent=agent, name="caller's name", kind="text")
    NoteField.objects.create(agent=agent, name="reason", kind="choice",
                             choices="appointment\nquestion\nsomething else")  # fmt: skip
    heard_dir = tmp_path / "heard"
    heard_dir.mkdir()
    wav = microphone_wav(tmp_path / "caller.wav")
    # The servers write each call's summary (AFTER_CALL_POLL_S), with the stand-in's text API.
    stack = start_stack({"DJANGO_DEBUG": "1", "AFTER_CALL_POLL_S": "0.2"},
                        ["--keep-audio", str(heard_dir)])  # fmt: skip
    try:
        with sync_playwright() as p:
            browser = browser_with_microphone(p, wav)
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            base = stack.base_url
            log_in(page, base)

            page.goto(f"{base}/admin/agents/agent/{agent.pk}/change/")
            page.click("#talk-link")
            expect(page.locator("h1")).to_contain_text("Talk to Clinic")
            page.check("input[name=version][value=draft]")
            page.click("#talk-start")
            expect(page.locator("#talk-state")).to_contain_text("Connected to v4", timeout=10000)
            lines = page.locator("#talk-lines li")
            # The greeting, the caller's first burst, the answer to it.
            expect(page.locator("#talk-lines li.agent")).to_have_count(2, timeout=20000)
            expect(page.locator("#talk-lines li.caller").first).to_contain_text("You:")
            expect(lines.first).to_contain_text("Agent: Karibu! This is the draft.")
            page.wait_for_timeout(300)  # the answer's last frames out of the jitter buffer
            played = page.evaluate("window.talk.report()")
            stats = page.evaluate("window.talk.stats")
            if engine == REALTIME:
                page.screenshot(path=str(shots / "talk.png"), full_page=True)

            page.click("#talk-hangup")
            page.wait_for_url("**/admin/calls/call/*/change/", timeout=15000)
            expect(page.locator("h1")).to_contain_text("Test call from the browser by amina")
            # How it ended, in words; what the bridge wrote ("caller hung up") folded under it.
            ended = page.locator("#how-it-ended")
            expect(ended).to_contain_text("The caller hung up.")
            expect(ended.locator("details.technical code")).to_be_hidden()
            # What the call was about, written just after it (reload until it is).
            for _ in range(50):
                if "The caller spoke" in page.locator("#call-summary-text").inner_text():
                    break
                page.wait_for_timeout(200)
                page.reload()
            expect(page.locator("#call-summary-text")).to_contain_text("The caller spoke")
            expect(page.locator("#call-notes")).to_contain_text("appointment")
            if engine == REALTIME:
                page.screenshot(path=str(shots / "call-summary.png"), full_page=True)
            browser.close()
    finally:
        stack.stop()
        sessions = Path(stack.stats_path).read_text().splitlines()
        stack.tmp.cleanup()

    # What the page played: the greeting and the answer, each 1.5 s of 440 Hz, at the call's rate.
    assert played["rate"] == agent.sample_rate == RATE
    assert stats["framesSent"] > 0 and stats["framesReceived"] > 0
    assert stats["loudest"] > 0.7  # the meter saw the burst (-6 dBFS)
    assert stats["kills"] == played["flushes"] == 0  # nobody spoke over the agent
    out = np.array(played["played"], dtype=np.float64)
    runs = loud_runs(out, RATE, floor=0.02, shortest_s=0.1)
    assert len(runs) >= 2, runs
    for start, end in runs[:2]:
        assert abs((end - start) / RATE - REPLY_S) < 0.08, runs
        assert abs(pitch(out[start:end], RATE) - REPLY_HZ) < 3

    # What the stand-in heard: the bursts at their pitch and length, through the browser's
    # microphone path, the socket, the bridge (and its resampler, on Realtime).
    [session] = [json.loads(line) for line in sessions]
    heard_rate = HEARD_RATES[engine]
    with wave.open(session["audio_file"]) as w:
        heard = np.frombuffer(w.readframes(w.getnframes()), "<i2") / 32768
        assert w.getframerate() == heard_rate
    bursts = loud_runs(heard, heard_rate, floor=0.02, shortest_s=0.1)
    assert bursts, "the stand-in heard nothing"
    start, end = bursts[0]
    assert abs((end - start) / heard_rate - BURST_S) < 0.1, bursts
    assert abs(pitch(heard[start:end], heard_rate) - BURST_HZ) < 3

    call = Call.objects.get(direction=Direction.BROWSER)
    assert call.status == Status.COMPLETED
    assert call.agent_revision.number == 4  # the draft (greeting and notes), as chosen
    assert call.agent_revision.snapshot["engine"] == engine
    assert Agent.objects.get().published_revision.number == 1
    assert call.ended_by == "caller"
    assert call.metadata["browser"]["user"] == "amina"
    assert call.cost.sautikit_kes == 0
    assert call.turns.filter(role="agent").count() >= 2
    assert call.analysis == "done" and call.notes["reason"] == "appointment"


@pytest.mark.parametrize("engine", [REALTIME, LIVE])
def test_speaking_over_the_agent_stops_it_in_the_page(agent, tester, tmp_path, engine):
    """The caller's burst starts 0.4 s into the greeting: the stand-in hears speech. On Realtime
    the bridge sends killAudio and the page drops what it had queued; on GPT-Live the model's
    track goes quiet by itself, and the page never had more than the playout's lead."""
    from playwright.sync_api import expect, sync_playwright

    if engine == LIVE:
        agent.engine, agent.model = LIVE, "gpt-live-1.1"
        agent.save(author="tests")
        agent.publish(author="tests")
    wav = microphone_wav(tmp_path / "caller.wav", before_s=0.4)
    stack = start_stack({"DJANGO_DEBUG": "1"}, [])
    try:
        with sync_playwright() as p:
            browser = browser_with_microphone(p, wav)
            page = browser.new_page()
            log_in(page, stack.base_url)
            page.goto(f"{stack.base_url}/talk/agent/{agent.pk}/")
            page.click("#talk-start")
            expect(page.locator("#talk-lines li.caller")).to_have_count(1, timeout=20000)
            page.wait_for_timeout(300)
            played = page.evaluate("window.talk.report()")
            stats = page.evaluate("window.talk.stats")
            page.click("#talk-hangup")
            page.wait_for_url("**/admin/calls/call/*/change/", timeout=15000)
            browser.close()
    finally:
        stack.stop()
        stack.tmp.cleanup()
    if engine == REALTIME:
        assert stats["kills"] >= 1 and played["flushes"] >= 1
    else:
        assert stats["kills"] == played["flushes"] == 0
    out = np.array(played["played"], dtype=np.float64)
    [greeting, *_] = loud_runs(out, RATE, floor=0.02, shortest_s=0.05)
    # Cut short: the burst began 0.4 s in, the stand-in's VAD needs 60 ms, then the round trip.
    assert (greeting[1] - greeting[0]) / RATE < 1.0, greeting
    assert Call.objects.get().turns.filter(role="agent", interrupted=True).exists()


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        ([], "No microphone was found. Plug in a headset or a microphone"),
        (["--use-fake-device-for-media-stream"],
         "The browser was not allowed to use the microphone. Click the icon at the left of the "
         "address bar, allow the microphone for this site"),
    ],
    ids=["none-connected", "not-allowed"],
)  # fmt: skip
def test_without_a_microphone_the_page_says_what_to_do(agent, tester, flags, said):
    from playwright.sync_api import expect, sync_playwright

    stack = start_stack({"DJANGO_DEBUG": "1"}, [])
    try:
        with sync_playwright() as p:
            # No device at all; or a device, but no one to say yes to the browser's question.
            browser = p.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *flags])
            page = browser.new_page()
            log_in(page, stack.base_url)
            page.goto(f"{stack.base_url}/talk/agent/{agent.pk}/")
            page.click("#talk-start")
            expect(page.locator("#talk-state")).to_contain_text(said)
            expect(page.locator("#talk-state")).to_contain_text("then press Start talking again")
            expect(page.locator("#talk-start")).to_be_enabled()
            browser.close()
    finally:
        stack.stop()
        stack.tmp.cleanup()
    assert not Call.objects.exists()  # no call was started without a microphone
