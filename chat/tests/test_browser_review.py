"""The review tray in a real Chromium (§5.5): proposals wait, keyboard and buttons decide."""

from __future__ import annotations

from typing import Any

import pytest

from chat.tests import browser_support as support
from chat.tests.browser_support import LiveServer, open_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]

browser = support.browser
live_server = support.live_server
page = support.page


@pytest.mark.parametrize("live_server", [{"extraction_review": True, "sentiment_nudges": False}], indirect=True)
def test_review_tray_accept_reject_by_keyboard_then_accept_all(page: Any, live_server: LiveServer) -> None:
    live_server.author()
    chat = live_server.chat_with("ana")
    open_app(page, f"#/chat/{chat['id']}")
    composer = page.get_by_label("Message", exact=True)
    composer.fill("good morning to the whole bakery crew")
    composer.press("Enter")
    tray = page.get_by_role("region", name="Proposed changes")
    tray.get_by_role("heading", name="Proposed changes (4)").wait_for()
    assert page.locator(".model-banner").count() == 0  # the scripted backend is no bundled model
    kinds = tray.locator(".proposal").evaluate_all("els => els.map(e => e.dataset.kind)")
    assert kinds == ["edge_changed", "memory_added", "world_fact_set", "scene_changed"]
    # nothing applied yet: Ana's arrow to you still carries no affinity
    graph = page.locator("svg.graph")
    graph.locator(".edge[data-src='ana'][data-dst='you'][aria-label*='affinity 0,']").wait_for()

    tray.locator(".proposal").first.focus()
    page.keyboard.press("a")  # accept the edge change
    tray.get_by_role("heading", name="Proposed changes (3)").wait_for()
    graph.locator(".edge[data-src='ana'][data-dst='you'][aria-label*='affinity 8,']").wait_for()
    focused = page.evaluate("() => document.activeElement.dataset.kind")
    assert focused == "memory_added"  # the keyboard stays in the tray, on the next proposal
    page.keyboard.press("ArrowDown")
    page.keyboard.press("r")  # reject the world fact
    tray.get_by_role("heading", name="Proposed changes (2)").wait_for()
    tray.get_by_role("button", name="Accept all").click()
    tray.wait_for(state="detached")

    reviewed = live_server.api("GET", "/api/events", params={"kind": "proposal_reviewed", "chat_id": chat["id"]})
    assert sorted(e["payload"]["decision"] for e in reviewed) == ["accepted", "accepted", "accepted", "rejected"]
    facts = live_server.api("GET", "/api/world")
    assert "light rain" not in str(facts)
