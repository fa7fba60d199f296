"""The real first run in the real UI: `kith init` (Saltmere: Mara, Tobias, Isolde, the
chat "Fog over Saltmere"), then three turns in the browser with scripted replies that
move relationships and add memories. The test checks what a new user sees; with
KITH_SCREENSHOT=1 it also writes the README's picture (docs/screenshot.png) and the
close-ups docs/chat.png and docs/graph.png.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from chat.tests import browser_support as support
from chat.tests.browser_support import LiveServer, open_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]

browser = support.browser
page = support.page

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def _edges(*changes: tuple[str, str, int, int, str]) -> list[dict[str, Any]]:
    return [{"src": s, "dst": d, "affinity_delta": a, "trust_delta": t, "label": label}
            for s, d, a, t, label in changes]  # fmt: skip


SALTMERE_RULES: list[dict[str, Any]] = [
    {"match": "fog", "bot": "mara", "reply": "*squints into the grey* Nobody sails in this. Not past the Teeth.", "delay_ms": 5},
    {"match": "fog", "bot": "tobias", "reply": "*sets down two mugs* Then you'll both stay for chowder. House rule.", "delay_ms": 5},
    {"match": "fog", "extraction": {
        "edges": _edges(("tobias", "you", 9, 5, "innkeeper friend"), ("mara", "you", -6, 2, "wary respect")),
        "memories": [{"owner": "tobias", "text": "{{user}} came in out of the fog before dawn", "importance": 5, "about": ["you"]}],
        "world": [{"key": "tide", "value": "turning at six"}],
        "scene": {"location": "the Lantern inn", "present": ["mara", "tobias", "you"]}}},
    {"match": "compass", "bot": "mara", "reply": "*turns the brass compass over* My father's. It points true, even here.", "delay_ms": 5},
    {"match": "compass", "bot": "tobias", "reply": "She's never let me hold it. Thirty years.", "delay_ms": 5},
    {"match": "compass", "extraction": {
        "edges": _edges(("mara", "you", 10, 8, "wary respect"), ("tobias", "mara", 8, 6, "old friend")),
        "memories": [{"owner": "mara", "text": "{{user}} asked about my father's compass", "importance": 7, "about": ["you"]}]}},
    {"match": "isolde", "bot": "tobias", "reply": "*lowers his voice* The mapmaker from the capital. Charting the Teeth, she says.", "delay_ms": 5},
    {"match": "isolde", "bot": "mara", "reply": "She asked me to take her out past the Teeth. I said no. Twice.", "delay_ms": 5},
    {"match": "isolde", "extraction": {
        "edges": _edges(("tobias", "you", 8, 6, "innkeeper friend"), ("mara", "tobias", 6, 4, "drinking companion"),
                        ("mara", "isolde", -8, -6, "uneasy"))}},
    {"match": "", "reply": "{{char}} nods slowly."},
]
TURNS = ("Thick fog this morning, is anyone sailing?",
         "Mara, is that your father's compass?",
         "Who is Isolde?")


@pytest.fixture
def live_server(tmp_path: Path) -> Any:
    """`kith init` in a fresh data directory (another process, as a new user runs it),
    then the app served on it."""
    support.require_chromium()
    data_dir = tmp_path / "data"
    assert "Fog over Saltmere" in support.kith_init(data_dir)
    yield from support.serve(tmp_path, data_dir, SALTMERE_RULES, {})


def test_the_first_run_shows_saltmere_with_its_graph_and_chat(page: Any, live_server: LiveServer) -> None:
    chat = live_server.api("GET", "/api/chats")[0]
    assert chat["title"] == "Fog over Saltmere"
    open_app(page, f"#/chat/{chat['id']}")
    composer = page.get_by_label("Message", exact=True)
    for text in TURNS:
        composer.fill(text)
        composer.press("Enter")
        page.locator(".msg-you", has_text=text).wait_for()
        live_server.wait_turn(live_server.api("GET", f"/api/chats/{chat['id']}")["last_turn"]["id"])
    page.locator(".msg-bot:not(.streaming)", has_text="I said no. Twice.").wait_for()
    page.locator(".msg .msg-text em", has_text="turns the brass compass over").wait_for()
    graph = page.locator("svg.graph")
    graph.locator(".edge[data-src='tobias'][data-dst='you']").click()
    page.locator("svg.chart .pt").nth(2).wait_for()
    names = set(graph.locator(".node-name").all_text_contents())
    assert {"Mara Quinn", "Tobias Wren", "You"} <= names
    assert graph.locator(".edge").count() >= 4
    page.mouse.move(0, 0)
    composer.fill("")
    page.locator("#transcript").evaluate("el => { el.scrollTop = el.scrollHeight; }")
    page.wait_for_timeout(300)

    panel = page.locator("#state-panel")
    panel.evaluate("el => { el.scrollTop = 0; }")
    shots = {
        "screenshot.png": page.screenshot(),
        "chat.png": page.locator(".chat-pane").screenshot(),
        "graph.png": panel.screenshot(),
    }
    page.emulate_media(color_scheme="dark")
    page.wait_for_timeout(200)
    shots["graph-dark.png"] = panel.screenshot()
    for name, data in shots.items():
        assert data[:8] == b"\x89PNG\r\n\x1a\n", name
    if os.environ.get("KITH_SCREENSHOT") == "1":
        for name, data in shots.items():
            (DOCS / name).write_bytes(data)


def test_the_demo_relationships_read_as_set_up_not_yours(page: Any, live_server: LiveServer) -> None:
    """A newcomer read "you" beside Mara's "new deckhand" label, set by the demo; the
    history now says "set-up" (with why, in its tooltip), and the Event log says Kith."""
    chat = live_server.api("GET", "/api/chats")[0]
    open_app(page, f"#/chat/{chat['id']}")
    page.locator("svg.graph .edge[data-src='mara'][data-dst='you']").click()
    page.get_by_role("button", name="History of Mara Quinn → You").click()
    who = page.locator("dialog.modal table.history td .who")
    who.first.wait_for()
    assert set(who.all_text_contents()) == {"set-up"}
    assert "not by you" in (who.first.get_attribute("title") or "")
    page.keyboard.press("Escape")
    open_app(page, "#/events")
    row = page.locator("#events-body tr.ev-bot_authored").first
    row.wait_for()
    assert row.locator("td").nth(3).inner_text() == "Kith"
