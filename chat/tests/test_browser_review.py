"""The review tray in a real Chromium (§5.5): proposals wait, keyboard and buttons decide."""

from __future__ import annotations

import os
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


LONG_WORDS = ("harbour", "lantern", "copper", "winter", "orchard", "violin", "granite", "meadow")


def _long_memory(n: int) -> str:
    word = LONG_WORDS[n]
    return f"Memory {n}: " + " ".join(f"{word}{i}" for i in range(40))  # about 380 characters


@pytest.mark.parametrize("live_server", [{"extraction_review": True, "sentiment_nudges": False}], indirect=True)
def test_long_proposals_are_clipped_at_a_word_the_tray_scrolls_and_a_memory_is_edited(
    page: Any, live_server: LiveServer
) -> None:
    live_server.author()
    memories = [{"owner": "ana", "text": _long_memory(n), "importance": 5} for n in range(8)]
    live_server.use_script([{"match": "", "reply": "Noted.", "delay_ms": 5, "extraction": {"memories": memories}}])
    chat = live_server.chat_with("ana")
    page.set_viewport_size({"width": 1366, "height": 768})
    open_app(page, f"#/chat/{chat['id']}")
    composer = page.get_by_label("Message", exact=True)
    composer.fill("remember all of this")
    composer.press("Enter")
    tray = page.get_by_role("region", name="Proposed changes")
    tray.locator(".proposal").nth(5).wait_for()
    count = tray.locator(".proposal").count()
    first = tray.locator(".proposal").first
    summary = first.locator(".summary")
    full = summary.get_attribute("title")
    assert full is not None and full.startswith("Ana remembers: Memory") and len(full) > 300
    shown = summary.inner_text()
    assert shown.endswith("…") and len(shown) < 200
    kept = shown[:-1]
    assert full.startswith(kept) and full[len(kept)] == " ", f"cut mid-word: {shown!r}"
    more = first.get_by_role("button", name="More")
    more.click()
    assert summary.inner_text() == full
    assert first.get_by_role("button", name="Less").get_attribute("aria-expanded") == "true"
    # the list has a bounded height and scrolls on its own; the panel's tabs stay reachable
    sizes = tray.locator(".proposals").evaluate("el => [el.clientHeight, el.scrollHeight]")
    assert sizes[0] <= 360 and sizes[1] > sizes[0], sizes
    if os.environ.get("KITH_SHOTS"):
        page.screenshot(path=os.path.join(os.environ["KITH_SHOTS"], "tray-long.png"))

    second = tray.locator(".proposal").nth(1)
    second.get_by_role("button", name="Edit, then accept", exact=False).click()
    area = tray.get_by_label("Text of the memory ana keeps")
    assert area.input_value().startswith("Memory 1:")
    area.fill("Ana keeps the spare key under the blue flowerpot.")
    # the panel is drawn again when state changes while the person looks elsewhere (it
    # waits while they type): the edit in progress survives that
    page.get_by_label("Message", exact=True).focus()
    page.locator(".review-tray").evaluate("el => { el.dataset.old = '1'; }")
    live_server.api("POST", "/api/memories", json={"owner": "ana", "text": "A memory made by hand."})
    page.locator(".review-tray:not([data-old])").wait_for()
    assert area.input_value() == "Ana keeps the spare key under the blue flowerpot."
    if os.environ.get("KITH_SHOTS"):
        page.screenshot(path=os.path.join(os.environ["KITH_SHOTS"], "tray-edit.png"))
    tray.get_by_role("button", name="Accept edited").click()
    tray.get_by_role("heading", name=f"Proposed changes ({count - 1})").wait_for()
    texts = [m["text"] for m in live_server.api("GET", "/api/memories", params={"owner": "ana"})]
    assert "Ana keeps the spare key under the blue flowerpot." in texts
    assert not any(t.startswith("Memory 1:") for t in texts)
