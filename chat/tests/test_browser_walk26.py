"""What session 25's newcomer walk found in the web UI, checked in Chromium at 1366×768:

* An archived world's chats could be reached only by a saved link: the World switcher
  listed the live worlds alone. Archived worlds now follow the live ones, marked, and
  their chats list and open read-only.
* The review tray offered Accept, Edit, Reject and Accept all in an archived world's
  chat, which the server refuses (409): there it shows the proposals with the read-only
  note and no buttons.
* Settings kept "Not answering: … ConnectError All connection attempts failed" under a
  Base URL already changed and refused; it goes when the field changes or another error
  shows, and says it without a library's class name.
* A stop before the first word read as a failure ("The reply failed: stopped by the
  user", "Stopped. stopped by the user  Retry"): now "Stopped before Ana wrote anything."
  and Retry.
* The World switcher and the New chat form's World list cut a long name ("The Ashfall
  Isles o…"): the pane widens so the whole name shows.
* The tray's edit mode dropped whose memory it is ("Ana remembers:").

``KITH_SHOTS=/some/dir`` keeps a 1366×768 screenshot of each screen checked.
"""

from __future__ import annotations

from typing import Any

import pytest

from chat.tests import browser_support as support
from chat.tests.browser_support import LiveServer, expect_http_errors, keep_shot, open_app, until

pytestmark = [pytest.mark.browser, pytest.mark.slow]

browser = support.browser
live_server = support.live_server
page = support.page

WIDE = {"width": 1366, "height": 768}
DEAD = "http://127.0.0.1:9/v1"  # the discard port: nothing answers there
LONG = "The Ashfall Isles of the Ember Sea"
REVIEW = {"extraction_review": True, "sentiment_nudges": False}


def _archived_chat(live_server: LiveServer, *, talk: bool = False) -> tuple[dict[str, Any], dict[str, Any]]:
    """Saltmere (archived, one chat with Ana) beside Ashfall (live, no chats)."""
    live_server.author()
    salt = live_server.api("POST", "/api/worlds", json={"name": "Saltmere"})
    live_server.api("POST", "/api/worlds", json={"name": "Ashfall"})
    chat = live_server.api(
        "POST", "/api/chats", json={"bot_ids": ["ana"], "title": "Fog over Saltmere", "world_id": salt["id"]}
    )
    if talk:
        live_server.say(chat["id"], "good morning to the whole bakery crew")
    live_server.api("POST", f"/api/worlds/{salt['id']}/archive")
    return salt, chat


def _fits(select: Any) -> bool:
    """Whether the select's chosen name shows whole (its text, plus the arrow, fits)."""
    return bool(select.evaluate(
        "el => { const c = document.createElement('canvas').getContext('2d');"
        " c.font = getComputedStyle(el).font;"
        " const text = el.options[el.selectedIndex].text;"
        " return c.measureText(text).width + 30 <= el.clientWidth; }"
    ))  # fmt: skip


def test_an_archived_worlds_chats_are_chosen_in_the_switcher_and_open_read_only(
    page: Any, live_server: LiveServer
) -> None:
    salt, chat = _archived_chat(live_server)
    page.set_viewport_size(WIDE)
    open_app(page)
    select = page.locator("#world-select")
    names = select.locator("option").evaluate_all("els => els.map(e => e.textContent)")
    assert names[-1] == "Saltmere (archived)", names  # after the live ones, marked
    assert "Ashfall" in names[:-1]
    select.select_option(salt["id"])
    link = page.locator("#chat-list .chat-link", has_text="Fog over Saltmere")
    link.wait_for()
    keep_shot(page, "archived_in_switcher")
    link.click()
    page.locator("#archived-note").wait_for()
    assert "read-only" in page.locator("#chat-meta").inner_text()
    assert page.locator("#composer-input").is_disabled()
    keep_shot(page, "archived_chat_from_switcher")
    open_app(page)  # opened afresh, the page shows a live world, not the archived one
    until(lambda: page.locator("#world-select option:checked").inner_text() != "Saltmere (archived)", "a live world", timeout=15.0)
    assert chat["world_id"] == salt["id"]


@pytest.mark.parametrize("live_server", [REVIEW], indirect=True)
def test_the_review_tray_of_an_archived_chat_is_read_only(page: Any, live_server: LiveServer) -> None:
    _, chat = _archived_chat(live_server, talk=True)
    page.set_viewport_size(WIDE)
    open_app(page, f"#/chat/{chat['id']}")
    tray = page.get_by_role("region", name="Proposed changes")
    tray.get_by_role("heading", name="Proposed changes (4)").wait_for()
    tray.locator(".proposal").first.wait_for()
    assert tray.locator("button", has_text="Accept").count() == 0
    assert tray.get_by_role("button", name="Reject all").count() == 0
    assert tray.locator("button", has_text="Edit").count() == 0
    assert "archived" in tray.locator(".archived-note").inner_text()
    tray.locator(".proposal").first.focus()
    page.keyboard.press("a")  # nothing to accept with: no 409 either
    page.wait_for_timeout(300)
    assert tray.locator(".proposal").count() == 4
    assert page.locator(".toast-error").count() == 0
    keep_shot(page, "archived_tray")


@pytest.mark.parametrize("live_server", [REVIEW], indirect=True)
def test_editing_a_proposed_memory_keeps_whose_memory_it_is(page: Any, live_server: LiveServer) -> None:
    live_server.author()
    chat = live_server.chat_with("ana")
    live_server.say(chat["id"], "good morning to the whole bakery crew")
    page.set_viewport_size(WIDE)
    open_app(page, f"#/chat/{chat['id']}")
    tray = page.get_by_role("region", name="Proposed changes")
    tray.locator(".proposal[data-kind='memory_added'] button", has_text="Edit").click()
    form = tray.locator(".proposal-edit-form")
    form.wait_for()
    assert tray.locator(".proposal-owner").inner_text() == "Ana remembers:"
    keep_shot(page, "tray_edit_owner")


def test_a_stale_not_answering_goes_and_says_no_class_name(page: Any, live_server: LiveServer) -> None:
    expect_http_errors(page, 422)
    page.set_viewport_size(WIDE)
    open_app(page, "#/settings")
    page.get_by_label("Backend").select_option("openai")
    page.get_by_label("Base URL").fill(DEAD)
    page.get_by_role("button", name="Save settings").click()
    status = page.locator("#backend-status")
    until(lambda: status.inner_text().startswith("Not answering"), "the dead server's note", timeout=15.0)
    said = status.inner_text()
    assert "ConnectError" not in said and "did not answer" in said, said
    keep_shot(page, "settings_not_answering")
    assert "Error" not in page.locator(".toast").all_inner_texts().__str__()
    page.get_by_label("Base URL").fill("not a url")
    assert status.inner_text() == ""  # the note was about the address no longer there
    page.get_by_role("button", name="Save settings").click()
    page.locator("[data-field='base_url'] .field-error").wait_for()
    assert status.inner_text() == ""
    keep_shot(page, "settings_bad_url")
    # a note comes back for the next check, and goes with the next refused save
    page.get_by_label("Base URL").fill(DEAD.replace(":9/", ":7/"))
    page.get_by_role("button", name="Save settings").click()
    until(lambda: status.inner_text().startswith("Not answering"), "the second dead server's note", timeout=15.0)
    page.get_by_label("Memories recalled into a prompt").fill("0")
    page.get_by_role("button", name="Save settings").click()
    page.locator("[data-field='memory_top_k'] .field-error").wait_for()
    assert status.inner_text() == ""


def test_a_stop_before_the_first_word_reads_as_a_stop(page: Any, live_server: LiveServer) -> None:
    live_server.author()
    live_server.use_script([{"match": "", "reply": "Fresh bread today.", "delay_ms": 8000}])
    chat = live_server.chat_with("ana")
    page.set_viewport_size(WIDE)
    open_app(page, f"#/chat/{chat['id']}")
    composer = page.get_by_label("Message", exact=True)
    composer.fill("anything fresh?")
    composer.press("Enter")
    stop = page.get_by_role("button", name="Stop")
    stop.wait_for()
    page.wait_for_timeout(500)  # the turn is running, its first word 8 s away
    stop.click()
    row = page.locator(".turn-stopped")
    row.wait_for()
    assert row.locator(".reason").inner_text() == "Stopped before Ana wrote anything."
    assert row.get_by_role("button", name="Retry").count() == 1
    status = page.locator("#turn-status")
    until(lambda: status.inner_text() == "Stopped.", "the stop in the status line", timeout=15.0)  # the row says the rest
    text = page.locator("#view-chat").inner_text()
    assert "stopped by the user" not in text and "failed" not in text, text
    keep_shot(page, "stopped_before_first_word")
    page.reload()  # the chat's last turn says the same after a reload
    page.wait_for_selector("body[data-ready='1']")
    assert page.locator(".turn-stopped .reason").inner_text() == "Stopped before Ana wrote anything."


def test_a_long_world_name_shows_whole_in_the_switcher_and_the_new_chat_form(
    page: Any, live_server: LiveServer
) -> None:
    live_server.author()
    world = live_server.api("POST", "/api/worlds", json={"name": LONG})
    live_server.api("POST", "/api/worlds", json={"name": "Saltmere"})
    page.set_viewport_size(WIDE)
    open_app(page)
    page.locator("#world-select").select_option(world["id"])
    assert _fits(page.locator("#world-select")), "the switcher cuts the long name"
    page.get_by_role("button", name="New chat").click()
    chooser = page.locator("#new-chat-world")
    chooser.wait_for()
    assert chooser.locator("option:checked").inner_text() == LONG
    assert _fits(chooser), "the New chat form's World list cuts the long name"
    pane = page.locator(".chat-list-pane").bounding_box()
    assert pane["width"] <= 341  # the pane grows, the conversation keeps its room
    keep_shot(page, "long_world_name")
