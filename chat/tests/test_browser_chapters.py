"""Chapters in a real Chromium (§5.7, §11.1): a long chat's chapter shows in the
transcript above the first message of its stretch, opens to its summary, is edited
there (a pinned manual edit, §6), and a turn that ends writes a new one into the page."""

from __future__ import annotations

from typing import Any

import pytest

from chat.tests import browser_support as support
from chat.tests.browser_support import LiveServer, open_app
from chat.tests.test_browser_a11y import axe_violations

pytestmark = [pytest.mark.browser, pytest.mark.slow]

browser = support.browser
live_server = support.live_server
page = support.page

SMALL_CONTEXT = {"context_length": 700}
"""The scripted model's context: a chat of a dozen turns no longer fits its prompt."""


@pytest.mark.parametrize("live_server", [SMALL_CONTEXT], indirect=True)
def test_a_chapter_shows_above_its_stretch_and_is_edited_in_place(
    page: Any, live_server: LiveServer
) -> None:
    live_server.use_script([{"match": "", "reply": "{{char}} heard you say: {{message}}"}])
    live_server.author()
    chat = live_server.chat_with("ana")
    chapters: list[dict[str, Any]] = []
    for n in range(20):  # until the chat no longer fits the prompt and gets its first chapter
        turn = live_server.say(chat["id"], f"The tide came in over the old harbour wall ({n}).")
        assert turn["status"] == "completed", turn
        chapters = live_server.api("GET", f"/api/chats/{chat['id']}/chapters")
        if chapters:
            break
    assert len(chapters) == 1, chapters
    chapter = chapters[0]

    open_app(page, f"#/chat/{chat['id']}")
    block = page.locator(f"li.chapter[data-chapter='{chapter['id']}']")
    block.wait_for()
    # It stands just above the first message of its stretch.
    after = block.evaluate("li => li.nextElementSibling && li.nextElementSibling.dataset.id")
    assert after == chapter["first_message_id"]
    summary = block.locator("summary")
    assert summary.inner_text().startswith(f"Chapter 1 · {chapter['message_count']} messages")
    assert not block.locator(".chapter-text").is_visible()  # collapsed until opened
    summary.click()
    block.get_by_text(chapter["text"]).wait_for()
    assert axe_violations(page) == []  # labels, names and contrast of the open chapter too

    block.get_by_role("button", name="Edit chapter 1").click()
    box = block.get_by_role("textbox", name="Edit chapter text")
    box.fill("Ana and you watched the tide climb the harbour wall, a dozen times over.")
    block.get_by_role("button", name="Save").click()
    page.get_by_text("Chapter saved; the model will not rewrite it.").wait_for()
    edited = page.locator(f"li.chapter[data-chapter='{chapter['id']}']")
    edited.get_by_text("a dozen times over.").wait_for()
    assert edited.locator(".badge", has_text="edited").count() == 1
    stored = live_server.api("GET", f"/api/chapters/{chapter['id']}")
    assert stored["pinned"] is True and stored["text"].endswith("a dozen times over.")
    memory = live_server.api("GET", f"/api/memories/{chapter['id']}:ana")
    assert memory["kind"] == "chapter" and memory["text"] == stored["text"]

    # More turns from the page: the next chapter appears without reloading it.
    for n in range(20):
        page.locator("#composer-input").fill(f"The gulls are back on the roof ({n}).")
        page.locator("#composer-input").press("Enter")
        page.locator(".msg-bot:not(.streaming)").get_by_text(f"roof ({n})").wait_for()
        last = live_server.api("GET", f"/api/chats/{chat['id']}")["last_turn"]
        live_server.wait_turn(last["id"])
        if len(live_server.api("GET", f"/api/chats/{chat['id']}/chapters")) > 1:
            break
    page.locator("li.chapter").nth(1).wait_for()
    assert page.locator("li.chapter").count() == 2
