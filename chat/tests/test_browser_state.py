"""The web UI in a real Chromium: the state panel, edits, rewind, the event log, settings.

Runs against the real app in-process (see browser_support.py); every page is watched
for console errors, page errors and CSP violations.
"""

from __future__ import annotations

from typing import Any

import pytest

from chat.tests import browser_support as support
from chat.tests.browser_support import LiveServer, open_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]

browser = support.browser
live_server = support.live_server
page = support.page


def test_memory_edited_inline_persists_after_reload(page: Any, live_server: LiveServer) -> None:
    live_server.author()
    chat = live_server.chat_with("ana")
    assert live_server.say(chat["id"], "I bake rye on Sundays")["status"] == "completed"
    open_app(page, f"#/chat/{chat['id']}")
    page.get_by_role("tab", name="Memories").click()
    memory = page.locator(".memory").first
    memory.get_by_role("button", name="Edit memory text").click()
    box = memory.get_by_role("textbox", name="memory text")
    box.fill("You bake spelt, not rye, on Sundays")
    box.press("Enter")
    page.get_by_text("Saved the memory's text.").wait_for()

    page.reload()
    page.wait_for_selector("body[data-ready='1']")
    page.get_by_role("tab", name="Memories").click()
    edited = page.locator(".memory", has_text="You bake spelt, not rye, on Sundays")
    edited.wait_for()
    assert edited.get_by_role("button", name="text is pinned; unpin it").is_visible()
    texts = [m["text"] for m in live_server.api("GET", "/api/memories", params={"owner": "ana"})]
    assert "You bake spelt, not rye, on Sundays" in texts


def test_rewind_removes_the_later_messages(page: Any, live_server: LiveServer) -> None:
    live_server.author()
    chat = live_server.chat_with("ana")
    live_server.say(chat["id"], "first question")
    live_server.say(chat["id"], "second question")
    open_app(page, f"#/chat/{chat['id']}")
    second = page.locator(".msg-you", has_text="second question")
    second.hover()
    second.get_by_role("button", name="Rewind to before this message").click()
    page.get_by_role("dialog").get_by_role("button", name="Rewind").click()
    second.wait_for(state="detached")
    assert page.locator(".msg", has_text="heard you say: second question").count() == 0
    assert page.locator(".msg", has_text="heard you say: first question").count() == 1
    texts = [m["text"] for m in live_server.api("GET", f"/api/chats/{chat['id']}/messages")]
    assert not any("second question" in text for text in texts)

    page.get_by_role("link", name="Event log").click()
    page.locator(".reverted-badge").first.wait_for()


def test_edit_and_delete_messages(page: Any, live_server: LiveServer) -> None:
    live_server.author()
    chat = live_server.chat_with("ana")
    live_server.say(chat["id"], "a typo in this mesage")
    open_app(page, f"#/chat/{chat['id']}")
    mine = page.locator(".msg-you").first
    mine.hover()
    mine.get_by_role("button", name="Edit message by You").click()
    box = page.get_by_role("textbox", name="Edit message text")
    box.fill("no typo in this message")
    box.press("Enter")
    page.locator(".msg-you.edited", has_text="no typo in this message").wait_for()

    reply = page.locator(".msg-bot").first
    reply.hover()
    reply.get_by_role("button", name="Delete message by Ana").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    page.locator(".msg-bot").first.wait_for(state="detached")
    texts = [m["text"] for m in live_server.api("GET", f"/api/chats/{chat['id']}/messages")]
    assert texts == ["no typo in this message"]


def test_world_facts_add_and_delete(page: Any, live_server: LiveServer) -> None:
    live_server.author()
    chat = live_server.chat_with("ana")
    open_app(page, f"#/chat/{chat['id']}")
    page.get_by_role("tab", name="World").click()
    page.get_by_label("New fact key").fill("weather")
    page.get_by_label("New fact value").fill("fog over the harbour")
    page.get_by_label("New fact value").press("Enter")
    row = page.locator("table.facts tr[data-key='weather']")
    row.get_by_role("button", name="value is pinned; unpin it").wait_for()
    assert live_server.api("GET", "/api/world")["facts"] == {"weather": "fog over the harbour"}
    row.get_by_role("button", name="Delete world fact weather").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    row.wait_for(state="detached")
    assert live_server.api("GET", "/api/world")["facts"] == {}


def test_event_log_filters_by_kind(page: Any, live_server: LiveServer) -> None:
    live_server.author()
    chat = live_server.chat_with("ana")
    live_server.say(chat["id"], "remember this")
    open_app(page, "#/events")
    page.locator("#events-body tr").first.wait_for()
    page.get_by_label("Filter by kind").select_option("memory_added")
    page.locator("#events-range", has_text="of kind memory_added").wait_for()
    kinds = page.locator("#events-body tr td:nth-child(3) code").all_inner_texts()
    assert kinds == ["memory_added"]


def test_settings_keep_the_api_key_write_only(page: Any, live_server: LiveServer) -> None:
    open_app(page, "#/settings")
    page.get_by_label("API key").fill("sk-test-not-shown")
    page.get_by_label("Extract every N turns").fill("3")
    page.get_by_label("Extract state changes after turns").uncheck()
    page.get_by_role("button", name="Save settings").click()
    page.get_by_text("Settings saved.").wait_for()
    settings = live_server.api("GET", "/api/settings")
    assert settings["api_key"] == "***"
    assert settings["extraction_every_n_turns"] == 3
    assert settings["extraction_enabled"] is False
    assert page.get_by_label("API key").input_value() == ""
    assert "sk-test-not-shown" not in page.content()


def test_settings_set_review_replies_and_recall_and_say_when_the_server_does_not_answer(
    page: Any, live_server: LiveServer
) -> None:
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        nowhere = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    open_app(page, "#/settings")
    page.get_by_label("Review proposed changes").select_option("true")
    page.get_by_label("Nudge relationships by how your messages sound").uncheck()
    page.get_by_label("Most replies per message (group chats)").fill("3")
    page.get_by_label("Recall weight: recency").fill("0.2")
    page.get_by_role("button", name="Save settings").click()
    page.get_by_text("Settings saved.").wait_for()
    settings = live_server.api("GET", "/api/settings")
    assert (settings["extraction_review"], settings["sentiment_nudges"]) == (True, False)
    assert (settings["max_replies_per_turn"], settings["memory_weight_recency"]) == (3, 0.2)
    assert page.get_by_label("Review proposed changes").input_value() == "true"  # drawn from what was saved

    page.get_by_label("Backend").select_option("openai")
    page.get_by_label("Base URL").fill(nowhere)
    page.get_by_role("button", name="Save settings").click()
    page.locator(".toast-error", has_text=f"Settings saved, but the server at {nowhere} did not answer").wait_for()
    page.locator("#backend-status", has_text="Not answering").wait_for()
    assert live_server.api("GET", "/api/settings")["base_url"] == nowhere  # saved all the same


def test_scene_location_and_present_are_edited_in_the_world_tab(
    page: Any, live_server: LiveServer
) -> None:
    live_server.author()
    live_server.api("POST", "/api/entities", json={"name": "Old Harbor", "kind": "place"})
    chat = live_server.chat_with("ana")
    open_app(page, f"#/chat/{chat['id']}")
    page.get_by_role("tab", name="World").click()
    page.get_by_role("button", name="Edit scene location").click()
    box = page.get_by_role("textbox", name="scene location")
    box.fill("The bakery, back room")
    box.press("Enter")
    page.get_by_text("Saved the location.").wait_for()

    present = page.get_by_role("group", name="Present")
    present.get_by_role("checkbox", name="Old Harbor").check()
    page.get_by_text("Now present: Old Harbor.").wait_for()
    present.get_by_role("checkbox", name="Ana").uncheck()
    page.get_by_text("No longer present: Ana.").wait_for()
    scene = live_server.api("GET", f"/api/chats/{chat['id']}")["scene"]
    assert scene["location"] == "The bakery, back room"
    assert scene["present"] == ["you", "old-harbor"]
    edits = live_server.api("GET", "/api/events", params={"kind": "manual_edit"})
    assert [(e["payload"]["target_type"], e["payload"]["field"]) for e in edits] == [
        ("scene", "location"), ("scene", "present"), ("scene", "present"),
    ]  # fmt: skip

    page.reload()
    page.wait_for_selector("body[data-ready='1']")
    page.get_by_role("tab", name="World").click()
    present = page.get_by_role("group", name="Present")
    assert present.get_by_role("checkbox", name="Old Harbor").is_checked()
    assert not present.get_by_role("checkbox", name="Ana").is_checked()
    assert present.get_by_role("checkbox", name="You").is_checked()
    page.get_by_role("button", name="Edit scene location: The bakery, back room").wait_for()


def test_add_an_entity_in_the_entities_tab(page: Any, live_server: LiveServer) -> None:
    live_server.author()
    chat = live_server.chat_with("ana")
    open_app(page, f"#/chat/{chat['id']}")
    page.get_by_role("tab", name="Entities").click()
    page.locator("summary", has_text="Add entity").click()
    form = page.get_by_role("form", name="Add an entity")
    form.get_by_role("button", name="Add entity").click()
    form.get_by_text("An entity needs a name.").wait_for()
    assert {e["id"] for e in live_server.api("GET", "/api/entities")} == {"you", "ana"}

    form.get_by_label("Name").fill("Old Harbor")
    form.get_by_label("Kind").select_option("place")
    form.get_by_label("Description").fill("Fog and rope.")
    form.get_by_label("Aliases (comma separated)").fill("the harbor, docks")
    form.get_by_label("Facts (one key: value per line)").fill("smell: tar")
    form.get_by_role("button", name="Add entity").click()
    page.get_by_text("Added Old Harbor (old-harbor).").wait_for()
    card = page.locator(".entity[data-id='old-harbor']")
    card.wait_for()
    assert card.locator(".kind").inner_text() == "place"
    assert form.get_by_label("Name").input_value() == ""
    harbor = live_server.api("GET", "/api/entities/old-harbor")
    assert (harbor["name"], harbor["kind"], harbor["description"]) == ("Old Harbor", "place", "Fog and rope.")
    assert harbor["aliases"] == ["the harbor", "docks"] and harbor["facts"] == {"smell": "tar"}


def test_snapshots_are_taken_listed_and_deleted_on_the_settings_page(
    page: Any, live_server: LiveServer
) -> None:
    live_server.author()
    open_app(page, "#/settings")
    snapshots = page.get_by_role("region", name="Snapshots")
    snapshots.get_by_text("No snapshots yet.").wait_for()
    snapshots.get_by_role("button", name="Take snapshot").click()
    row = snapshots.locator("tr[data-kind='manual']")
    row.wait_for()
    [taken] = live_server.api("GET", "/api/snapshots")
    end = live_server.api("GET", "/api/health")["last_event_id"]
    assert taken["kind"] == "manual" and taken["last_event_id"] == end
    assert row.locator("code").inner_text() == taken["name"]
    assert row.locator("td").nth(2).inner_text() == str(end)
    assert row.locator("td").nth(3).inner_text().endswith("B")

    row.get_by_role("button", name=f"Delete snapshot {taken['name']}").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    snapshots.get_by_text("No snapshots yet.").wait_for()
    assert live_server.api("GET", "/api/snapshots") == []
