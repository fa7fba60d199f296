"""What a newcomer's walk (session 25) saw wrongly on the page: an archived world's chat
offered a composer and Edit/Delete/Rewind (the server refuses them all), the Delete
dialog called a proposal still waiting in the review tray a world change, and the event
log said a removed world fact was "set to null". Real app, real Chromium."""

from __future__ import annotations

from typing import Any

import pytest

from chat.tests import browser_support as support
from chat.tests.browser_support import LiveServer, open_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]

browser = support.browser
live_server = support.live_server
page = support.page


def test_an_archived_worlds_chat_reads_as_archived_until_restored(page: Any, live_server: LiveServer) -> None:
    live_server.api("POST", "/api/worlds", json={"name": "Saltmere", "id": "saltmere"})
    live_server.author(world_id="saltmere")
    chat = live_server.api("POST", "/api/chats", json={"bot_ids": ["ana"], "title": "Quay", "world_id": "saltmere"})
    live_server.say(chat["id"], "welcome to the bakery")
    live_server.api("POST", "/api/worlds/saltmere/archive")
    open_app(page, f"#/chat/{chat['id']}")
    note = page.locator("#archived-note")
    note.wait_for()
    assert "Saltmere is archived" in note.inner_text() and "Restore the world" in note.inner_text()
    assert page.locator("#composer-input").is_disabled() and page.locator("#send-btn").is_disabled()
    assert "archived" in page.locator("#composer-input").get_attribute("placeholder")
    reply = page.locator(".msg-bot").first
    reply.hover()
    assert reply.locator(".msg-tools button").count() > 0, "the tools are there, only not shown"
    assert page.get_by_role("button", name="Delete message by Ana").count() == 0, "no message tools"
    assert "read-only" in page.locator("#chat-meta").inner_text()

    page.get_by_role("button", name="Worlds…").click()
    dialog = page.get_by_role("dialog", name="Worlds")
    dialog.get_by_role("button", name="Restore Saltmere").click()
    dialog.get_by_role("button", name="Archive Saltmere").wait_for()
    dialog.get_by_role("button", name="Close dialog").click()
    note.wait_for(state="detached")
    page.locator("#composer-input:not([disabled])").wait_for()
    assert page.locator("#composer-input").get_attribute("placeholder").startswith("Write a message")
    page.locator(".msg-bot").first.hover()
    page.get_by_role("button", name="Delete message by Ana").wait_for()


@pytest.mark.parametrize("live_server", [{"extraction_review": True, "sentiment_nudges": False}], indirect=True)
def test_a_proposal_waiting_for_review_is_no_change_to_the_world(page: Any, live_server: LiveServer) -> None:
    live_server.author()
    chat = live_server.chat_with("ana")
    turn = live_server.say(chat["id"], "welcome to the bakery")
    kinds = {e["kind"] for e in live_server.api("GET", "/api/events", params={"turn_id": turn["id"], "limit": 1000})}
    assert "proposal_queued" in kinds and not kinds & {"memory_added", "edge_changed", "world_fact_set"}
    open_app(page, f"#/chat/{chat['id']}")
    reply = page.locator(".msg-bot").first
    reply.hover()
    reply.get_by_role("button", name="Delete message by Ana").click()
    dialog = page.get_by_role("dialog", name="Delete message")
    dialog.get_by_text("Delete this message by Ana?").wait_for()
    assert "changed the world" not in dialog.inner_text(), dialog.inner_text()


def test_the_event_log_says_a_world_fact_was_removed(page: Any, live_server: LiveServer) -> None:
    live_server.api("PUT", "/api/world/mara_quinn_is_the_pilot", json={"value": "yes"})
    live_server.api("DELETE", "/api/world/mara_quinn_is_the_pilot")
    open_app(page, "#/events")
    page.get_by_label("Filter by kind").select_option("manual_edit")
    page.locator("#events-body .ev-line", has_text="you removed world fact mara_quinn_is_the_pilot (was “yes”)").wait_for()
    assert "null" not in page.locator("#events-body").inner_text()
