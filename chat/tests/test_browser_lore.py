"""The lore editor, card re-import and chat files in a real Chromium (§11.1, §3.4, §11.5).

Every page is watched for console errors, page errors and CSP violations (browser_support).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chat.tests import browser_support as support
from chat.tests.browser_support import LiveServer, open_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]

browser = support.browser
live_server = support.live_server
page = support.page

BOOK_CARD = {
    "spec": "chara_card_v2",
    "spec_version": "2.0",
    "data": {
        "name": "Old Pell",
        "description": "Keeper of the harbour light.",
        "personality": "gruff",
        "scenario": "",
        "first_mes": "Pell nods.",
        "mes_example": "",
        "creator_notes": "Best with a slow start.",
        "character_book": {
            "extensions": {},
            "entries": [
                {"keys": ["lighthouse"], "content": "The lighthouse has been dark ten years.",
                 "name": "Lighthouse", "enabled": True, "insertion_order": 10, "extensions": {"depth": 4}},
                {"keys": ["kraken"], "content": "Sailors whisper of a kraken.", "name": "Kraken",
                 "enabled": True, "insertion_order": 20, "extensions": {}},
            ],
        },
    },
}


def test_lore_editor_lists_searches_adds_edits_toggles_and_deletes(
    page: Any, live_server: LiveServer, tmp_path: Path
) -> None:
    path = tmp_path / "pell.json"
    path.write_text(json.dumps(BOOK_CARD), encoding="utf-8")
    open_app(page, "#/bots")
    page.locator("#card-file").set_input_files(str(path))
    page.get_by_role("heading", name="Old Pell").wait_for()
    bot_id = live_server.api("GET", "/api/bots")[0]["id"]
    events_before = len(live_server.api("GET", "/api/events?limit=1000"))

    panel = page.get_by_role("region", name="Lore")
    panel.get_by_role("heading", name="Lore (2 entries)").wait_for()
    page.get_by_role("region", name="Creator's notes").get_by_text("Best with a slow start.").wait_for()

    panel.get_by_label("Search lore").fill("kraken")
    assert panel.locator(".lore-row").count() == 1
    panel.get_by_label("Search lore").fill("")

    panel.get_by_role("button", name="Add entry").click()
    form = panel.get_by_role("form", name="New lore entry")
    form.get_by_label("Entry name").fill("Market")
    form.get_by_label("Keys (comma separated; /regex/flags allowed)").fill("market, stalls")
    form.get_by_label("Content").fill("The market opens at dawn.")
    form.get_by_role("button", name="Save entry").click()
    page.get_by_text("Added Market.").wait_for()
    panel.get_by_role("heading", name="Lore (3 entries)").wait_for()

    panel.get_by_role("button", name="Edit Lighthouse").click()
    edit = panel.get_by_role("form", name="Edit Lighthouse")
    edit.get_by_label("Content").fill("The lighthouse was lit again last spring.")
    edit.get_by_role("button", name="Save entry").click()
    page.get_by_text("Saved Lighthouse.").wait_for()

    panel.get_by_label("Enabled: Kraken").uncheck()
    page.get_by_text("Kraken disabled.").wait_for()

    panel.get_by_role("button", name="Delete Market").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    page.get_by_text("Deleted Market.").wait_for()
    panel.get_by_role("heading", name="Lore (2 entries)").wait_for()

    world = live_server.api("GET", "/api/worlds")[0]["id"]  # the card's own world (§3.5)
    assert page.locator("#world-select").input_value() == world
    lore = live_server.api("GET", f"/api/lore?world={world}&bot={bot_id}")["entries"]
    assert [e["name"] for e in lore] == ["Lighthouse", "Kraken"]
    assert lore[0]["content"] == "The lighthouse was lit again last spring."
    assert lore[0]["extensions"]["depth"] == 4  # fields the editor does not show are kept
    assert lore[1]["enabled"] is False
    events = live_server.api("GET", "/api/events?limit=1000")[events_before:]
    assert [e["kind"] for e in events] == ["lore_set"] * 4  # add, edit, toggle, delete
    assert {e["payload"]["world_id"] for e in events} == {world}  # this world's lore only
    card_book = live_server.api("GET", f"/api/bots/{bot_id}")["lore"]  # the card's own book is kept
    assert [e["content"] for e in card_book][0] == "The lighthouse has been dark ten years."


def test_the_lore_editor_follows_the_world_switcher(page: Any, live_server: LiveServer, tmp_path: Path) -> None:
    """Pell's book in his world; the same bot in another world has that world's copy, edited
    there without touching his own; the bots page with no bot picked edits the world's own."""
    path = tmp_path / "pell.json"
    path.write_text(json.dumps(BOOK_CARD), encoding="utf-8")
    live_server.api("POST", "/api/worlds", json={"name": "Harbour", "id": "harbour"})
    live_server.api("PUT", "/api/persona", json={"name": "Wren"})  # no first-run banner
    open_app(page, "#/bots")
    page.locator("#card-file").set_input_files(str(path))
    page.get_by_role("heading", name="Old Pell").wait_for()
    bot_id = live_server.api("GET", "/api/bots")[0]["id"]
    home = next(w["id"] for w in live_server.api("GET", "/api/worlds") if w["id"] != "harbour")
    panel = page.get_by_role("region", name="Lore")
    panel.get_by_role("heading", name="Lore (2 entries)").wait_for()

    page.get_by_role("link", name="Chat", exact=True).click()  # the switcher is on the chat view
    page.get_by_role("combobox", name="World").select_option("harbour")
    page.get_by_role("link", name="Bots", exact=True).click()
    page.get_by_role("checkbox", name="all worlds").check()
    page.locator(".bot-link", has_text="Old Pell").click()
    panel.get_by_text("Old Pell takes no part in Harbour").wait_for()
    live_server.api("POST", "/api/chats", json={"bot_ids": [bot_id], "world_id": "harbour"})
    page.reload()
    panel.get_by_role("heading", name="Lore (2 entries)").wait_for()  # a copy of his card's book
    panel.get_by_role("button", name="Delete Kraken").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    panel.get_by_role("heading", name="Lore (1 entry)").wait_for()
    assert [e["name"] for e in live_server.api("GET", f"/api/lore?world=harbour&bot={bot_id}")["entries"]] == ["Lighthouse"]
    assert len(live_server.api("GET", f"/api/lore?world={home}&bot={bot_id}")["entries"]) == 2

    page.goto("/#/bots")
    world_panel = page.get_by_role("region", name="World lore")
    world_panel.get_by_role("heading", name="World lore (0 entries)").wait_for()
    world_panel.get_by_role("button", name="Add entry").click()
    form = world_panel.get_by_role("form", name="New lore entry")
    form.get_by_label("Entry name").fill("Harbour bell")
    form.get_by_label("Content").fill("The harbour bell rings at every tide.")
    form.get_by_role("checkbox", name="always on (constant)").check()
    form.get_by_role("button", name="Save entry").click()
    world_panel.get_by_role("heading", name="World lore (1 entry)").wait_for()
    assert [e["name"] for e in live_server.api("GET", "/api/lore?world=harbour")["entries"]] == ["Harbour bell"]
    assert live_server.api("GET", f"/api/lore?world={home}")["entries"] == []


def test_reimporting_a_card_asks_update_or_copy(page: Any, live_server: LiveServer, tmp_path: Path) -> None:
    path = tmp_path / "pell.json"
    path.write_text(json.dumps(BOOK_CARD), encoding="utf-8")
    open_app(page, "#/bots")
    page.locator("#card-file").set_input_files(str(path))
    page.get_by_role("heading", name="Old Pell").wait_for()
    page.locator("#card-file").set_input_files(str(path))
    dialog = page.get_by_role("dialog")
    dialog.get_by_text("This card matches the bot 'Old Pell'").wait_for()
    dialog.get_by_role("button", name="Import as a new bot").click()
    page.get_by_text("Imported Old Pell into a new world").nth(1).wait_for()  # each its own
    assert [b["name"] for b in live_server.api("GET", "/api/bots")] == ["Old Pell", "Old Pell"]


def test_import_a_sillytavern_chat_and_export_it(page: Any, live_server: LiveServer, tmp_path: Path) -> None:
    live_server.author("Ana", "ana")
    lines = [{"user_name": "Sam", "character_name": "Ana", "create_date": "2024-9-28@01h02m36s", "chat_metadata": {}}]
    for i in range(300):
        if i % 2:
            lines.append({"name": "Ana", "is_user": False, "send_date": "2024-09-28T13:05:00.000Z",
                          "mes": f"Reply {i}", "swipe_id": 0, "swipes": [f"Reply {i}", f"Other {i}"]})
        else:
            lines.append({"name": "Sam", "is_user": True, "send_date": "September 28, 2024 1:03pm", "mes": f"Line {i}"})
    path = tmp_path / "ana.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")
    open_app(page, "#/chat")
    page.locator("#chat-file").set_input_files(str(path))
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("button", name="Import").click()
    page.get_by_text("Imported 300 messages").wait_for()
    page.get_by_text("Reply 299", exact=True).wait_for()
    # a long chat opens at its end: the newest 100, then older ones a page at a time
    assert page.locator("#transcript .msg").count() == 100
    page.get_by_role("button", name="Load older messages").click()
    page.get_by_text("Line 100", exact=True).wait_for()
    assert page.locator("#transcript .msg").count() == 300  # the other 200 came as one older page
    chats = live_server.api("GET", "/api/chats")
    assert len(chats) == 1 and chats[0]["bot_ids"] == ["ana"]
    link = page.get_by_role("link", name="Export this chat as SillyTavern")
    assert link.get_attribute("href") == f"/api/chats/{chats[0]['id']}/export?format=st"
    with page.expect_download() as info:
        link.click()
    exported = Path(info.value.path()).read_text(encoding="utf-8").splitlines()
    assert len(exported) == 301 and json.loads(exported[-1])["swipes"] == ["Reply 299", "Other 299"]
