"""A demo world in the real UI at 1280x800: two bots, a group chat, relationships that moved,
memories and world facts. The test checks that the chat and the state panel render it.
(The README's picture comes from the real first run: test_browser_first_run.py.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from chat.tests import browser_support as support
from chat.tests.browser_support import LiveServer, open_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]

browser = support.browser
live_server = support.live_server
page = support.page


def _edges(*changes: tuple[str, str, int, int, str]) -> list[dict[str, Any]]:
    return [
        {"src": s, "dst": d, "affinity_delta": a, "trust_delta": t, "label": label}
        for s, d, a, t, label in changes
    ]


DEMO_RULES: list[dict[str, Any]] = [
    {"match": "rye", "bot": "ana", "reply": "Morning! The rye is still warm. I saved you the crusty end, like always."},
    {"match": "rye", "bot": "bram", "reply": "Hmph. Some of us have been up since four, hammering hinges."},
    {
        "match": "rye",
        "extraction": {
            "edges": _edges(("ana", "you", 10, 6, "friend"), ("bram", "you", -10, -6, "wary"),
                            ("ana", "bram", 8, 4, "neighbour")),
            "memories": [
                {"owner": "ana", "text": "{{user}} comes by for rye every morning", "importance": 6, "about": ["you"]},
                {"owner": "bram", "text": "{{user}} is one of Ana's regulars", "importance": 3, "about": ["you", "ana"]},
            ],
            "world": [{"key": "weather", "value": "light rain"}, {"key": "time of day", "value": "early morning"}],
            "scene": {"location": "Ana's bakery", "present": ["ana", "bram", "you"]},
            "entities": [{"id": "old-town", "kind": "place", "name": "The Old Town",
                          "description": "Cobbled lanes around the bakery"}],
        },
    },
    {"match": "oven", "bot": "bram", "reply": "Fixed it at dawn. A loaf a week, for life: fair price for a door that shuts."},
    {"match": "oven", "bot": "ana", "reply": "He did, and he won't let me forget it."},
    {
        "match": "oven",
        "extraction": {
            "edges": _edges(("bram", "ana", 10, 8, "old friend"), ("bram", "you", -10, -4, "wary"),
                            ("ana", "bram", 6, 6, "neighbour")),
            "memories": [{"owner": "bram", "text": "Fixed Ana's oven door; paid in bread", "importance": 5, "about": ["ana"]}],
            "world": [{"key": "oven", "value": "repaired by Bram"}],
        },
    },
    {"match": "honey", "bot": "ana", "reply": "Honey! You're spoiling us. I'll bake it into tomorrow's buns."},
    {"match": "honey", "bot": "bram", "reply": "...Thank you. That's kind. Don't tell Ana I said so."},
    {
        "match": "honey",
        "extraction": {
            "edges": _edges(("ana", "you", 10, 8, "friend"), ("bram", "you", 10, 6, "warming up")),
            "memories": [
                {"owner": "ana", "text": "{{user}} brought honey from the market", "importance": 7, "about": ["you"]},
                {"owner": "bram", "text": "{{user}} gave me honey. Kind of them.", "importance": 8, "about": ["you"]},
            ],
        },
    },
    {"match": "", "reply": "{{char}} nods."},
]


def build_demo_world(server: LiveServer) -> str:
    server.use_script(DEMO_RULES)
    server.author(
        "Ana",
        "ana",
        persona="Ana runs the bakery on the corner: warm, quick, nosy in a kind way.",
        traits=["warm", "quick", "nosy"],
        initial_relationship_to_you="baker",
        kickoff_prose="Ana wipes flour off her hands. \"There you are, {{user}}! Door's sticking again.\"",
        talkativeness=0.8,
    )
    server.author(
        "Bram",
        "bram",
        persona="Bram is the blacksmith next door: gruff, loyal, secretly soft.",
        traits=["gruff", "loyal"],
        initial_relationship_to_you="stranger",
        talkativeness=0.4,
    )
    chat = server.chat_with("ana", "bram", title="Morning at the bakery")
    for text in (
        "Good morning, Ana! Is the rye ready? Morning, Bram.",
        "Bram, did you finally fix the oven door?",
        "I brought you both some honey from the market.",
    ):
        assert server.say(chat["id"], text)["status"] == "completed"
    server.api("PATCH", "/api/edges/ana/you", json={"affinity": 60})  # a person's edit, pinned
    return chat["id"]


def test_demo_world_renders_chat_and_state_panel(
    page: Any, live_server: LiveServer, tmp_path: Path
) -> None:
    chat_id = build_demo_world(live_server)
    open_app(page, f"#/chat/{chat_id}")
    page.locator(".msg-bot", has_text="Don't tell Ana").wait_for()
    graph = page.locator("svg.graph")
    graph.locator(".edge[data-src='bram'][data-dst='you']").click()
    page.locator("svg.chart .pt").nth(3).wait_for()
    assert graph.locator(".node").count() == 3
    assert graph.locator(".edge").count() == 4
    assert page.locator("#transcript .msg").count() >= 6
    page.mouse.move(0, 0)
    page.locator("#composer-input").fill("What's in the oven today?")
    page.locator("#transcript").evaluate("el => { el.scrollTop = el.scrollHeight; }")

    shot = tmp_path / "screenshot.png"
    page.screenshot(path=str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
