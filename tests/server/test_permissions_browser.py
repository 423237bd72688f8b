"""In Chromium, as an editor without “Can publish” sees it: the number and “active” of an agent
are shown but cannot be changed, and a new agent they save is shown as not published (it takes
no calls). Screenshots go to the test's own temporary folder, never docs/screenshots."""

from __future__ import annotations

import pytest

from agents.models import Agent
from tests.browser_helpers import CHROMIUM, CHROMIUM_ARGS
from tests.helpers import DEMO_NUMBER, EDITOR_PERMISSIONS, PASSWORD, staff

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_shows_an_editor_that_the_number_is_read_only_and_a_new_agent_is_not_published(
    agent, live_server, tmp_path
):
    """In Chromium, as the editor would see it."""
    from playwright.sync_api import expect, sync_playwright

    staff("editor", *EDITOR_PERMISSIONS)
    base = live_server.url
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        page.goto(f"{base}/admin/")
        page.fill("#id_username", "editor")
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        expect(page.locator("#site-name")).to_contain_text("Phone agents")

        page.goto(f"{base}/admin/agents/agent/{agent.pk}/change/")
        number = page.locator("#id_phone_number")
        expect(number).to_be_disabled()
        expect(number).to_have_value(DEMO_NUMBER)
        expect(page.locator("#id_is_active")).to_be_disabled()
        expect(page.locator(".field-phone_number .help")).to_contain_text("Can publish")
        page.screenshot(path=str(tmp_path / "agent-read-only.png"), full_page=True)
        # A scripted change to the disabled field is not saved either.
        number.evaluate("input => { input.disabled = false; input.value = '+254799000999'; }")
        page.click("input[name=_save]")
        expect(page.locator(".messagelist")).to_contain_text("Saved. Nothing waits")

        page.goto(f"{base}/admin/agents/agent/add/")
        page.fill("#id_name", "Night line")
        page.fill("#id_phone_number", "0722 000 000")
        page.fill("#id_instructions", "Say the clinic is closed.")
        page.click("input[name=_continue]")
        expect(page.locator(".messagelist")).to_contain_text("Saved, not published")
        expect(page.locator(".field-publishing")).to_contain_text("Not published")
        expect(page.locator("#publish")).to_have_count(0)
        page.goto(f"{base}/admin/agents/agent/")
        row = page.locator("#result_list tbody tr", has_text="Night line")
        expect(row.locator("td.field-version")).to_have_text("not published: takes no calls")
        page.screenshot(path=str(tmp_path / "agents-not-published.png"), full_page=True)
        browser.close()
    # The ORM is checked out here: Playwright's sync API runs an event loop in this thread.
    agent.refresh_from_db()
    assert agent.phone_number == DEMO_NUMBER
    assert Agent.objects.get(name="Night line").published_revision is None
