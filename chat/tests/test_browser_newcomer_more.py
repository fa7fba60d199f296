"""What a newcomer met in the page (newcomer report, session 24), checked in Chromium:

* Composer: a message too long for the model's context was taken and its turn failed.
  Now the post is refused (a 422 naming the sizes), the page says so, and the typed
  text stays in the box.

* Settings: emptying a number field sent ``Number("") = 0``; "Recall weight: recency"
  was saved as 0 without a word. Now an empty field is refused in the form, naming it,
  and nothing is sent.
* Event log: each visit fetched every world's chat list to name the chats. Now a chat
  outside the open world is asked for once, when a page of events names it.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from chat.tests import browser_support as support
from chat.tests.browser_support import LiveServer, expect_http_errors, open_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]

browser = support.browser
live_server = support.live_server
page = support.page


def test_an_emptied_number_field_is_refused_by_name_and_not_saved(page: Any, live_server: LiveServer) -> None:
    before = live_server.api("GET", "/api/settings")
    puts: list[str] = []
    page.on("request", lambda r: puts.append(r.url) if r.method == "PUT" else None)
    open_app(page, "#/settings")
    field = page.get_by_label("Recall weight: recency")
    field.fill("")
    page.get_by_role("button", name="Save settings").click()
    inline = page.locator(".settings-form .form-error")
    inline.wait_for()
    assert inline.inner_text().startswith("“Recall weight: recency” is empty: type a number from 0 to 100"), inline.inner_text()
    assert field.get_attribute("aria-invalid") == "true"
    beside = page.locator("[data-field='memory_weight_recency'] .field-error")  # the form's top is off screen
    assert beside.inner_text() == inline.inner_text()
    assert page.locator(".toast", has_text="Settings saved.").count() == 0
    page.wait_for_timeout(200)
    assert puts == []
    assert live_server.api("GET", "/api/settings")["memory_weight_recency"] == before["memory_weight_recency"]
    page.get_by_label("Extract every N turns").fill("")
    field.fill("2")
    page.get_by_role("button", name="Save settings").click()
    assert "“Extract every N turns” is empty" in inline.inner_text()
    page.get_by_label("Extract every N turns").fill("3")
    page.get_by_role("button", name="Save settings").click()
    page.locator(".toast", has_text="Settings saved.").wait_for()
    saved = live_server.api("GET", "/api/settings")
    assert (saved["memory_weight_recency"], saved["extraction_every_n_turns"]) == (2, 3)


def test_the_event_log_asks_for_each_other_worlds_chat_once(page: Any, live_server: LiveServer) -> None:
    titles = {}
    for name in ("North", "South", "East"):
        world = live_server.api("POST", "/api/worlds", json={"name": name})
        bot = live_server.api("POST", "/api/bots", json={"name": f"{name} keeper", "world_id": world["id"]})
        chat = live_server.api("POST", "/api/chats", json={"bot_ids": [bot["id"]], "title": f"{name} chat",
                                                           "world_id": world["id"]})
        titles[chat["id"]] = chat["title"]
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url.removeprefix(live_server.url)))
    open_app(page, "#/events")
    page.locator("#events-body tr.ev-chat_created").first.wait_for()
    for _ in range(3):  # away and back: the names are kept
        page.get_by_role("link", name="Bots").click()
        page.locator("#view-bots").wait_for()
        page.get_by_role("link", name="Event log").click()
        page.locator("#events-body tr.ev-chat_created").first.wait_for()
    shown = set(page.locator("#events-body tr.ev-chat_created td:nth-child(5)").all_text_contents())
    assert set(titles.values()) <= shown, shown
    each_chat = [url for url in asked if url.split("?")[0].startswith("/api/chats/")]
    assert len(each_chat) == len(set(each_chat)) <= len(titles), each_chat
    lists = {url for url in asked if url.startswith("/api/chats?")}
    assert len(lists) <= 1, lists  # the open world's chat list only (the chat list's own), never every world's


@pytest.mark.parametrize("live_server", [{"context_length": 1024}], indirect=True)
def test_an_over_long_message_is_refused_and_stays_in_the_composer(page: Any, live_server: LiveServer) -> None:
    expect_http_errors(page, 422)
    live_server.author()
    chat = live_server.chat_with("ana")
    open_app(page, f"#/chat/{chat['id']}")
    text = " ".join(["bread"] * 1500)
    composer = page.get_by_label("Message", exact=True)
    composer.fill(text)
    composer.press("Enter")
    toast = page.locator(".toast", has_text="Not sent: text is too long for the model to answer")
    toast.wait_for()
    assert "context of 1,024 tokens" in toast.inner_text()
    assert composer.input_value() == text
    assert page.locator(".msg-you").count() == 0
    assert live_server.api("GET", f"/api/chats/{chat['id']}/messages") == []


def test_a_paste_over_the_message_limit_is_refused_whole_not_cut(page: Any, live_server: LiveServer) -> None:
    """The composer has no maxlength: a browser would cut a longer paste without a word and
    send the rest. The server refuses it by its limit, and the whole paste stays."""
    expect_http_errors(page, 422)
    live_server.author()
    chat = live_server.chat_with("ana")
    open_app(page, f"#/chat/{chat['id']}")
    text = "a" * 25_000
    composer = page.get_by_label("Message", exact=True)
    composer.focus()
    page.keyboard.insert_text(text)  # as a paste: a maxlength would cut it
    composer.press("Enter")
    page.locator(".toast", has_text="Not sent: text: can be at most 20000 characters").wait_for()
    assert composer.input_value() == text
    assert live_server.api("GET", f"/api/chats/{chat['id']}/messages") == []


def test_the_event_log_names_a_tone_nudge_as_the_relationship_history_does(
    page: Any, live_server: LiveServer
) -> None:
    """The nudge from the tone of your words read "Kith" in the event log and "tone" in
    the relationship history; both say "tone" now, and Kith's own set-up stays "Kith"."""
    live_server.author()
    chat = live_server.chat_with("ana")
    assert live_server.say(chat["id"], "You're a liar and I don't trust you.")["status"] == "completed"
    open_app(page, "#/events")
    nudge = page.locator("#events-body tr.ev-edge_changed", has_text="sentiment").first
    nudge.wait_for()
    assert nudge.locator("td:nth-child(4)").inner_text() == "tone"
    created = page.locator("#events-body tr.ev-chat_created").first
    assert created.locator("td:nth-child(4)").inner_text() == "you"


def test_the_event_log_says_a_greetings_alternatives_were_set_up_not_chosen(
    page: Any, live_server: LiveServer
) -> None:
    """A chat opened by a bot with alternate greetings logs which one is shown; the log
    said "another alternative of a reply now stands", though nobody chose anything."""
    live_server.author(kickoff_prose="Welcome in!", alternate_greetings=["Back again?"])
    live_server.chat_with("ana")
    open_app(page, "#/events")
    chosen = page.locator("#events-body tr.ev-alternative_chosen").first
    chosen.wait_for()
    assert chosen.locator(".ev-line").inner_text() == "the first greeting is shown; the others are its alternatives"
    assert chosen.locator("td:nth-child(4)").inner_text() == "Kith"


def test_a_chat_imported_into_its_bots_world_says_which_world(
    page: Any, live_server: LiveServer, tmp_path: Any
) -> None:
    """An imported chat goes into the world of its bot; the page used to switch there
    without a word. The dialog says where chats go and the toast names the world."""
    north = live_server.api("POST", "/api/worlds", json={"name": "North"})
    south = live_server.api("POST", "/api/worlds", json={"name": "South"})
    live_server.api("POST", "/api/bots", json={"id": "keeper", "name": "Keeper", "world_id": north["id"]})
    lines = [
        {"user_name": "You", "character_name": "Keeper", "create_date": "2024-9-28@01h02m36s"},
        {"name": "Keeper", "is_user": False, "mes": "The lamp is lit."},
        {"name": "You", "is_user": True, "mes": "Good."},
    ]
    path = tmp_path / "keeper.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines), encoding="utf-8")
    open_app(page, "#/")
    page.get_by_role("combobox", name="World").select_option(south["id"])  # another world is open
    page.locator("#chat-file").set_input_files(str(path))
    dialog = page.locator("dialog.modal")
    dialog.get_by_text("The chat goes into the world of the bot it is with.").wait_for()
    dialog.get_by_label("Bot the chat is with").select_option("keeper")
    dialog.get_by_role("button", name="Import").click()
    toast = page.locator(".toast", has_text="Imported 2 messages")
    toast.wait_for()
    assert toast.inner_text() == "Imported 2 messages into “Keeper (imported)”, in North (its bot's world).", toast.inner_text()


def test_two_bots_of_one_name_are_told_apart_by_id_in_the_new_chat_form(
    page: Any, live_server: LiveServer
) -> None:
    """A card imported twice as a new bot makes two bots of one name; the new-chat form
    showed "Isolde" twice. A name that another bot shares gets the id beside it."""
    live_server.author("Isolde", "isolde")
    live_server.author("Isolde", "isolde-2")
    live_server.author("Ana", "ana")
    open_app(page)
    page.get_by_role("button", name="New chat").click()
    for label in ("Isolde (isolde)", "Isolde (isolde-2)", "Ana"):
        page.get_by_role("checkbox", name=label, exact=True).wait_for()
    page.get_by_role("checkbox", name="Isolde (isolde-2)", exact=True).check()
    page.get_by_label("Title").fill("The second one")
    page.get_by_role("button", name="Create chat").click()
    page.get_by_role("heading", name="The second one").wait_for()
    [chat] = [c for c in live_server.api("GET", "/api/chats") if c["title"] == "The second one"]
    assert chat["bot_ids"] == ["isolde-2"]
