"""An operator (staff, not a superuser) in a real browser: logs in, edits an agent's
instructions, and reads a recorded call's page. Headless Chromium from Debian (installed by
`make test`) driven by Playwright; `make screenshots` keeps its pictures for the README.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth.models import Permission, User

from calls.models import Call
from tests.browser_helpers import CHROMIUM, CHROMIUM_ARGS
from tests.live_stack import play_call, recording_stack

pytestmark = pytest.mark.django_db(transaction=True)

OPERATOR_PERMISSIONS = [
    "view_agent",
    "change_agent",
    "view_agentrevision",
    "view_tool",
    "add_tool",
    "change_tool",
    "delete_tool",
    "view_call",
]


@pytest.fixture
def operator() -> User:
    user = User.objects.create_user("amina", password="a long passphrase 42", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=OPERATOR_PERMISSIONS))
    return user


def test_an_operator_edits_a_prompt_and_reads_a_call(clinic, operator, tmp_path, settings, shots):
    from playwright.sync_api import expect, sync_playwright

    settings.MEDIA_ROOT = str(tmp_path / "media")  # where the servers keep the recording
    assert Path(CHROMIUM).exists(), "Chromium is missing: `make browser` installs Debian's"
    stack = recording_stack(tmp_path, DJANGO_DEBUG="1")  # DEBUG: static files from the apps
    try:
        play_call(stack, tmp_path, "BROWSER_1")
        call = Call.objects.get(call_id="BROWSER_1")
        recording_seconds = call.recording_seconds()
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1366, "height": 900})
            base = stack.base_url

            # Log in as the operator would.
            page.goto(f"{base}/admin/")
            page.fill("#id_username", "amina")
            page.fill("#id_password", "a long passphrase 42")
            page.click("input[type=submit]")
            expect(page.locator("#site-name")).to_contain_text("Phone agents")

            # The home page: the call just made, counted; the agent's state; the help.
            expect(page.locator("#today-calls")).to_have_text("1")
            expect(page.locator("#today-answered")).to_have_text("100% (1)")
            expect(page.locator("#week-calls")).to_have_text("1")
            expect(page.locator("#agents-state")).to_contain_text("Clinic")
            assert page.evaluate("document.documentElement.scrollWidth") <= 1366
            page.screenshot(path=str(shots / "home.png"))
            page.set_viewport_size({"width": 390, "height": 844})
            assert page.evaluate("document.documentElement.scrollWidth") <= 390
            page.set_viewport_size({"width": 1366, "height": 900})

            # The agents list: last week's figures at a glance.
            page.goto(f"{base}/admin/agents/agent/")
            row = page.locator("#result_list tbody tr").first
            expect(row).to_contain_text("Clinic")
            expect(row.locator("td.field-calls_week")).to_have_text("1")
            expect(row.locator("td.field-endings")).to_have_text("caller 100%")
            page.screenshot(path=str(shots / "agents.png"))

            # Edit the instructions and save.
            row.locator("th a").click()
            instructions = page.locator("#id_instructions")
            expect(instructions).to_have_value("You book clinic appointments.")
            instructions.fill("You book clinic appointments.\nAlways confirm the date twice.")
            page.click("input[name=_save]")
            # A draft: phone callers keep the published version until someone publishes it.
            expect(page.locator(".messagelist")).to_contain_text("Saved as a draft")

            # The version callers get, compared with the draft: the new words marked in the text.
            page.goto(f"{base}/admin/agents/agent/{clinic.pk}/change/")
            page.locator("#revisions-group summary").click()  # the history is folded
            page.locator("#revisions-group a", has_text="v2").click()
            expect(page.locator(".field-compared_with_now ins")).to_have_text(
                "\nAlways confirm the date twice."
            )
            expect(page.locator("#restore")).to_be_visible()
            page.screenshot(path=str(shots / "revision.png"), full_page=True)

            # The call list at a glance: every column on the screen, none scrolled to.
            page.goto(f"{base}/admin/calls/call/")
            results = page.locator("#changelist .results")
            assert results.evaluate("r => r.scrollWidth <= r.clientWidth")
            expect(page.locator("#result_list thead")).to_contain_text("How it ended")
            first_row = page.locator("#result_list tbody tr").first
            expect(first_row).to_contain_text("The caller hung up")

            # The call's page: transcript, the timeline picture, the player.
            page.locator("#result_list tbody tr th a").first.click()
            expect(page.locator("h1")).to_contain_text("Call from +254700000001")
            transcript = page.locator("#transcript")
            expect(transcript).to_contain_text("Welcome to the clinic, how can I help?")
            expect(transcript.locator(".turn.agent.interrupted")).to_have_count(1)
            expect(transcript.locator(".turn.tool")).to_contain_text("look_up_booking")
            expect(transcript.locator(".turn.caller")).to_have_count(2)
            svg = page.locator("#timeline svg.timeline")
            expect(svg).to_be_visible()
            expect(svg.locator("rect.caller")).to_have_count(2)
            expect(svg.locator("rect.agent")).to_have_count(3)
            expect(svg.locator("rect.tool")).to_have_count(1)
            audio = page.locator("#recording audio")
            expect(audio).to_be_visible()
            # The browser loads the recording and knows how long it is.
            page.wait_for_function(
                "document.querySelector('#recording audio').readyState >= 1", timeout=10000
            )
            seconds = audio.evaluate("a => a.duration")
            assert abs(seconds - recording_seconds) < 0.1
            page.screenshot(path=str(shots / "call.png"), full_page=True)
            expect(page.locator("#answered-by")).to_have_text("OpenAI Realtime, gpt-realtime")

            # A bar's details by tap, as on a phone, where nothing hovers.
            svg.locator("rect.tool").dispatch_event("click")
            expect(page.locator("#timeline-detail")).to_contain_text("look_up_booking")

            # On a phone: the agents list, the call list and the call page fit the screen.
            page.set_viewport_size({"width": 390, "height": 844})
            call_page = page.url
            for url in (call_page, f"{base}/admin/calls/call/", f"{base}/admin/agents/agent/"):
                page.goto(url)
                assert page.evaluate("document.documentElement.scrollWidth") <= 390, url
            page.goto(call_page)
            page.screenshot(path=str(shots / "call-phone.png"), full_page=True)
            page.set_viewport_size({"width": 1366, "height": 900})
            page.goto(call_page)

            # One click from the call back to the prompt.
            page.click("#edit-instructions")
            expect(page.locator("#id_instructions")).to_be_visible()
            assert page.url.endswith(f"/admin/agents/agent/{clinic.pk}/change/#id_instructions")
            browser.close()
    finally:
        stack.stop()
        stack.tmp.cleanup()
    # The ORM is checked out here: Playwright's sync API runs an event loop in this thread.
    clinic.refresh_from_db()
    assert clinic.instructions.endswith("Always confirm the date twice.")
    assert clinic.current_revision.author == operator
