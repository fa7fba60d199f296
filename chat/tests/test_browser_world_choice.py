"""Where you are, and where a new bot goes, with several worlds (§3.5, §11.1; newcomer
walk, session 25), in Chromium.

After two card imports (each into a new world by default) the "New bot" form had no
world field and the bot silently joined the last import's world; a reload landed in that
empty world with "No chats yet", so the other world's chats seemed gone. Now the form
says which world the bot joins and lets the person choose; the page reopens in the world
the person last chose, not the last import's; an empty chat list names its world; the
Bots page says whose bots it lists; and the world list is wide enough to read.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chat.tests import browser_support as support
from chat.tests.browser_support import LiveServer, open_app, until

pytestmark = [pytest.mark.browser, pytest.mark.slow]

browser = support.browser
live_server = support.live_server
page = support.page


def _card(tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name.split()[0].lower()}.json"
    data = {"name": name, "description": f"{name} keeps the lamps.", "personality": "wry",
            "scenario": "", "first_mes": "", "mes_example": ""}  # fmt: skip
    path.write_text(json.dumps({"spec": "chara_card_v2", "spec_version": "2.0", "data": data}))
    return path


def _saltmere(live: LiveServer) -> dict[str, Any]:
    live.api("POST", "/api/worlds", json={"name": "Saltmere", "id": "saltmere"})
    live.api("POST", "/api/bots", json={"id": "mara", "name": "Mara", "world_id": "saltmere"})
    chat = live.api("POST", "/api/chats", json={"bot_ids": ["mara"], "title": "Fog over Saltmere",
                                                "world_id": "saltmere"})  # fmt: skip
    live.api("PUT", "/api/persona", json={"name": "Ada"})  # no first-run banner
    return chat


def _import(page: Any, card: Path, name: str) -> str:
    page.locator("#card-file").set_input_files(str(card))
    toast = page.locator(".toast", has_text=f"Imported {name}")
    toast.wait_for()
    return toast.inner_text()


def _reload_to_chat(page: Any) -> Any:
    page.reload()
    page.wait_for_selector("body[data-ready='1']")
    page.get_by_role("link", name="Chat").click()
    return page.get_by_role("combobox", name="World")


def test_a_new_bot_joins_the_world_chosen_and_a_reload_keeps_the_persons_world(
    page: Any, live_server: LiveServer, tmp_path: Path
) -> None:
    _saltmere(live_server)
    open_app(page, "#/bots")  # the newcomer never touches the world list
    said = _import(page, _card(tmp_path, "Wren Hollow"), "Wren Hollow")
    assert said == "Imported Wren Hollow into a new world, Wren Hollow, shown now.", said
    _import(page, _card(tmp_path, "Pell Ashdown"), "Pell Ashdown")
    until(lambda: page.locator("#bots-world").inner_text() == "World: Pell Ashdown", "the Bots page to say its world")
    worlds = {w["name"]: w["id"] for w in live_server.api("GET", "/api/worlds")}
    assert next(w for w in live_server.api("GET", "/api/worlds") if w["default"])["name"] == "Pell Ashdown"

    select = _reload_to_chat(page)  # not the newest world the server would pick: the one opened in
    until(lambda: select.input_value() == "saltmere", "Saltmere after a reload")
    page.locator(".chat-link", has_text="Fog over Saltmere").wait_for()

    page.get_by_role("link", name="Bots").click()
    page.get_by_role("link", name="New bot").click()
    choice = page.get_by_role("combobox", name="World")
    choice.wait_for()
    assert choice.locator("option").all_inner_texts() == ["Saltmere", "Wren Hollow", "Pell Ashdown"]
    assert choice.input_value() == "saltmere"  # the world shown, and said so
    assert "joins" in page.locator("#bot-world-hint").inner_text()
    choice.select_option(label="Pell Ashdown")
    page.get_by_label("Name", exact=True).fill("Sable Reyes")
    page.get_by_role("button", name="Create bot").click()
    page.locator(".toast", has_text="Created Sable Reyes in Pell Ashdown.").wait_for()
    in_pell = {b["name"] for b in live_server.api("GET", f"/api/bots?world={worlds['Pell Ashdown']}")}
    assert in_pell == {"Pell Ashdown", "Sable Reyes"}
    assert "Sable Reyes" not in {b["name"] for b in live_server.api("GET", "/api/bots?world=saltmere")}
    until(lambda: page.locator("#bots-world").inner_text() == "World: Pell Ashdown", "the Bots page in Pell Ashdown")

    _import(page, _card(tmp_path, "Quill Marsh"), "Quill Marsh")  # shown, not chosen
    select = _reload_to_chat(page)
    until(lambda: select.input_value() == worlds["Pell Ashdown"], "the world last chosen after a reload")


def test_an_empty_world_says_so_and_the_world_list_reads_whole(
    page: Any, live_server: LiveServer, tmp_path: Path
) -> None:
    _saltmere(live_server)
    live_server.api("POST", "/api/worlds", json={"name": "Pell Ashdown", "id": "pell"})
    page.set_viewport_size({"width": 1366, "height": 768})
    open_app(page, "#/chat")
    select = page.get_by_role("combobox", name="World")
    select.select_option("pell")
    empty = page.locator("#chat-list .empty")
    until(lambda: "Pell Ashdown" in empty.inner_text(), "the empty list to name its world")
    assert empty.inner_text() == "No chats in Pell Ashdown yet. Start one with “New chat”, or pick another world above."
    # the name fits the list: the select is wider than its text, its padding and its arrow
    fits = select.evaluate(
        "el => { const s = document.createElement('span'); s.style.font = getComputedStyle(el).font;"
        " s.style.position = 'absolute'; s.style.whiteSpace = 'nowrap';"
        " s.textContent = el.selectedOptions[0].text; document.body.append(s);"
        " const w = s.getBoundingClientRect().width; s.remove(); const c = getComputedStyle(el);"
        " return el.clientWidth - w - parseFloat(c.paddingLeft) - parseFloat(c.paddingRight); }"
    )
    assert fits >= 24, fits  # room for the text and the arrow beside it ("Pell Ashdowr" had 15 px)
    page.screenshot(path=str(tmp_path / "empty_world.png"))
