"""An agent's page in Chromium, as a clinic manager uses it: at 1366x900 the common edit
(instructions, greeting, voice, notes) is on the first screen; "Hear this voice" plays the
stand-in's voice; publishing asks first and says what changes; a new agent starts from a
template; a folded group with a mistake opens by itself; and at 390 px nothing is wider than
the phone."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Permission, User

from agents.models import Agent
from tests.browser_helpers import CHROMIUM, CHROMIUM_ARGS
from tests.helpers import PASSWORD
from tests.live_stack import start_stack

pytestmark = pytest.mark.django_db(transaction=True)

DESK, PHONE = {"width": 1366, "height": 900}, {"width": 390, "height": 844}
VOICE_MS = 1500  # the Realtime stand-in's voice: its default answer's length


@pytest.fixture
def manager() -> User:
    """Edits and publishes agents and reads calls: no superuser."""
    user = User.objects.create_user("wanjiru", password=PASSWORD, is_staff=True)
    allowed = [
        "view_agent",
        "add_agent",
        "change_agent",
        "publish_agent",
        "view_agentrevision",
        "view_notefield",
        "add_notefield",
        "change_notefield",
        "delete_notefield",
        "view_tool",
        "view_call",
    ]
    user.user_permissions.set(Permission.objects.filter(codename__in=allowed))
    return user


def log_in(page, base: str) -> None:
    page.goto(f"{base}/admin/")
    page.fill("#id_username", "wanjiru")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")


def on_first_screen(page, selector: str) -> bool:
    box = page.locator(selector).bounding_box()
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= DESK["height"]


def page_width(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth")


def test_a_manager_edits_hears_and_publishes_an_agent(agent, manager, shots):
    from playwright.sync_api import expect, sync_playwright

    first_version = agent.revisions.get(number=1).pk  # (no ORM once Playwright's loop runs)
    stack = start_stack(env={"DJANGO_DEBUG": "1"}, fake_args=[])
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport=DESK)
            base = stack.base_url
            log_in(page, base)
            page.goto(f"{base}/admin/agents/agent/{agent.pk}/change/")

            # The common edit, all on the first screen, and no wider than it.
            for selector in (
                "#id_instructions",
                "#id_greeting",
                "#id_voice",
                "#hear-voice",
                "#notes-heading",
            ):
                assert on_first_screen(page, selector), selector
            assert page_width(page) <= DESK["width"]
            expect(page.locator("#id_max_call_minutes")).to_be_hidden()  # folded
            page.screenshot(path=str(shots / "agent.png"))

            # The voice, heard: the stand-in's answer, as long as it is.
            page.select_option("#id_voice", "cedar")
            page.click("#hear-voice")
            page.wait_for_function(
                "document.getElementById('hear-voice-audio').readyState >= 1", timeout=15000
            )
            seconds = page.eval_on_selector("#hear-voice-audio", "a => a.duration")
            assert abs(seconds * 1000 - VOICE_MS) < 25

            # A mistake in a folded group: after Save, that group is open at the mistake.
            page.locator("summary", has_text="Limits").click()
            page.fill("#id_max_call_minutes", "-1")
            page.locator("summary", has_text="Limits").click()  # folded again
            page.click("input[name=_continue]")
            expect(page.locator(".errornote")).to_be_visible()
            expect(page.locator("#id_max_call_minutes")).to_be_visible()
            page.fill("#id_max_call_minutes", "15")

            # Save: a draft, said so; nothing suggests callers have it.
            page.fill("#id_instructions", "You book appointments.\nAlways confirm the date.")
            page.click("input[name=_continue]")
            messages = page.locator(".messagelist")
            expect(messages).to_contain_text("Saved as a draft: phone callers still get v1.")
            expect(messages).not_to_contain_text("successfully")
            expect(page.locator(".field-publishing")).to_contain_text("Draft not published yet")

            # Publish asks first, and says what changes for callers.
            page.click("#publish")
            expect(page.locator("#what-changes")).to_contain_text("callers get v2 instead of v1")
            expect(page.locator("#changes ins")).to_have_text("\nAlways confirm the date.")
            expect(page.locator("#changes")).to_contain_text("Marin → Cedar")
            page.screenshot(path=str(shots / "publish.png"), full_page=True)
            page.click("#confirm-publish")
            expect(page.locator(".messagelist")).to_contain_text("Published v2")

            # "Restore and publish" on a version asks too: saying no publishes nothing.
            page.goto(f"{base}/admin/agents/agentrevision/{first_version}/change/")
            questions: list[str] = []
            page.once("dialog", lambda d: (questions.append(d.message), d.dismiss()))
            page.click("#restore-and-publish")
            page.wait_for_timeout(300)
            assert "callers get what this version had instead of v2" in questions[0]
            expect(page.locator(".messagelist")).to_have_count(0)
            page.goto(f"{base}/admin/agents/agent/{agent.pk}/change/")

            # At 390 px: the instructions readable, nothing wider than the phone.
            page.set_viewport_size(PHONE)
            page.reload()
            assert page_width(page) <= PHONE["width"]
            box = page.locator("#id_instructions").bounding_box()
            assert box is not None and box["x"] + box["width"] <= PHONE["width"]
            page.screenshot(path=str(shots / "agent-phone.png"))
            browser.close()
    finally:
        stack.stop()
        stack.tmp.cleanup()
    agent.refresh_from_db()
    assert agent.published_revision.number == 2 and agent.voice == "cedar"
    assert agent.current_revision.number == 2  # the question was answered no


def test_a_new_agent_starts_from_a_template(manager):
    from playwright.sync_api import expect, sync_playwright

    stack = start_stack(env={"DJANGO_DEBUG": "1"}, fake_args=[])
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport=DESK)
            log_in(page, stack.base_url)
            page.goto(f"{stack.base_url}/admin/agents/agent/add/")
            page.click("#starters a:text('Clinic receptionist')")
            expect(page.locator("#id_instructions")).to_have_value(
                re.compile(r"^You are the receptionist of \[clinic name\]")
            )
            notes = page.locator("#notes-group input[name$='-name']:not([name*='__prefix__'])")
            expect(notes).to_have_count(4)
            page.fill("#id_name", "Mwangaza clinic")
            page.fill("#id_phone_number", "0722 000 123")
            page.click("input[name=_continue]")
            expect(page.locator(".messagelist")).to_contain_text("Saved and published as v1")
            browser.close()
    finally:
        stack.stop()
        stack.tmp.cleanup()
    made = Agent.objects.get(name="Mwangaza clinic")
    assert made.phone_number == "+254722000123"
    assert made.notes.count() == 4
