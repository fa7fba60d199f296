"""What the page says, in the person's words (newcomer walk, session 25), in Chromium.

* The Supersede dialog said a superseded memory is "recalled less"; it is not recalled
  at all (§5.3, §8.3).
* A new persona name showed in the open transcript only after a reload.
* Errors named the API: "(DELETE /api/world/weather)", "memory.importance: must be 10
  or less", "Saved superseded_by of the memory.". Now they say it in words, beside the
  field they are about.
"""

from __future__ import annotations

from typing import Any

import pytest

from chat.tests import browser_support as support
from chat.tests.browser_support import LiveServer, expect_http_errors, open_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]

browser = support.browser
live_server = support.live_server
page = support.page


def _chat(live: LiveServer) -> dict[str, Any]:
    live.author()
    live.api("PUT", "/api/persona", json={"name": "Wren"})
    chat = live.chat_with("ana")
    live.say(chat["id"], "I live in Porto")
    live.say(chat["id"], "I moved to Lisbon")
    return chat


def test_the_supersede_dialog_says_the_old_memory_is_not_recalled(page: Any, live_server: LiveServer) -> None:
    chat = _chat(live_server)
    open_app(page, f"#/chat/{chat['id']}")
    page.get_by_role("tab", name="Memories").click()
    page.locator(".memory").first.get_by_role("button", name="Mark superseded by…").click()
    picker = page.get_by_role("dialog", name="Superseded by…")
    said = picker.locator(".supersede-picker > p").first.inner_text()
    assert "no longer recalled" in said and "recalled less" not in said, said


def test_a_new_persona_name_shows_in_the_open_transcript(page: Any, live_server: LiveServer) -> None:
    chat = _chat(live_server)
    open_app(page, f"#/chat/{chat['id']}")
    mine = page.locator("#transcript li.msg-you")
    mine.first.wait_for()
    assert set(mine.locator(".msg-head .author").all_inner_texts()) == {"Wren"}
    page.get_by_role("button", name="You: Wren").click()
    dialog = page.get_by_role("dialog", name="Who are you?")
    dialog.get_by_label("Your name").fill("Ada Brook")
    dialog.get_by_role("button", name="Save").click()
    dialog.wait_for(state="detached")
    page.locator("#transcript li.msg-you .author", has_text="Ada Brook").first.wait_for()
    assert set(mine.locator(".msg-head .author").all_inner_texts()) == {"Ada Brook"}
    assert mine.first.locator(".msg-avatar").inner_text() == "AB"
    assert mine.first.get_by_role("button", name="Edit message by Ada Brook").count() == 1


def test_errors_name_no_api_and_stand_beside_their_field(page: Any, live_server: LiveServer) -> None:
    expect_http_errors(page, 422)
    chat = _chat(live_server)
    live_server.api("PUT", "/api/world/weather", json={"value": "fog"})
    open_app(page, f"#/chat/{chat['id']}")

    page.get_by_role("tab", name="World").click()
    page.get_by_role("button", name="Edit world fact weather").click()
    page.get_by_role("textbox", name="world fact weather").fill("")
    page.get_by_role("textbox", name="world fact weather").press("Enter")
    beside = page.locator("tr[data-key='weather'] .field-error")
    beside.wait_for()
    said = beside.inner_text()
    assert said.startswith("World fact 'weather' needs a value; to remove the fact, delete it"), said
    assert "/api/" not in said and "DELETE" not in said, said
    page.get_by_role("textbox", name="world fact weather").press("Escape")

    page.get_by_role("tab", name="Memories").click()
    memory = page.locator(".memory").first
    memory.get_by_role("button", name="Edit memory text").click()
    box = memory.get_by_role("textbox", name="memory text")
    box.fill("   ")
    box.press("Enter")  # refused by the server: "memory.text: must not be blank"
    beside = memory.locator(".field-error")
    beside.wait_for()
    assert beside.inner_text() == "Memory text must not be blank"
    assert box.get_attribute("aria-describedby") == beside.get_attribute("id")
    assert page.locator(".toast-error").count() == 0  # said once, where the field is
    page.screenshot(path=str(live_server.data_dir.parent / "plain_words.png"))


def test_the_servers_routes_and_commands_are_left_out_of_what_the_page_says(
    page: Any, live_server: LiveServer
) -> None:
    """The archived world's refusal names the route and the command for API and terminal
    users; the page keeps only its own words."""
    live_server.author()
    chat = live_server.chat_with("ana")
    world = live_server.api("GET", f"/api/chats/{chat['id']}")["world_id"]
    live_server.api("POST", f"/api/worlds/{world}/archive")
    refused = live_server.client.post(f"/api/chats/{chat['id']}/messages", json={"text": "hello"},
                                      headers={"X-Kith-Request": "1"})  # fmt: skip
    assert refused.status_code == 409 and "/api/" in refused.json()["error"]["message"]
    open_app(page, "#/bots")
    said = page.evaluate(
        "async (m) => (await import('/js/api.js')).uiWords(m)", refused.json()["error"]["message"]
    )
    assert said.endswith("restore the world to change it (Worlds panel)"), said
    assert "/api/" not in said and "kith worlds" not in said
    from chat.cards.sniff import CARD_IMPORT_HINT, CHAT_IMPORT_HINT

    for hint in (CHAT_IMPORT_HINT, CARD_IMPORT_HINT):  # "(or `kith ...`)": the command goes too
        said = page.evaluate("async (m) => (await import('/js/api.js')).uiWords(m)", f"this is a chat: {hint}")
        assert "kith" not in said and said.endswith(("in the Chats list", "in Bots")), said
