"""The web UI in a real Chromium (§11.1, §12.2, §14.6): bots, chats, streaming, safety.

Runs against the real app in-process (see browser_support.py); every page is watched
for console errors, page errors and CSP violations.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from chat.tests import browser_support as support
from chat.tests.browser_support import MARKUP, LiveServer, open_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]

browser = support.browser
live_server = support.live_server
page = support.page


def test_author_revise_and_retire_a_bot_through_the_ui(
    page: Any, live_server: LiveServer, tmp_path: Path
) -> None:
    from chat.cards.avatar import generated_avatar

    picture = tmp_path / "mira.png"
    picture.write_bytes(generated_avatar("Mira Vale"))
    open_app(page, "#/bots/new")
    form = page.locator("form.bot-form")
    form.get_by_label("Avatar image (PNG, JPEG or WebP, up to 700 KB)").set_input_files(str(picture))
    form.get_by_text("New avatar chosen; save to keep it.").wait_for()
    form.locator("input[name=name]").fill("Mira Vale")
    form.locator("input[name=id]").fill("mira")
    form.locator("textarea[name=persona]").fill("A lighthouse keeper who collects storms.")
    form.locator("input[name=traits]").fill("calm, wry")
    form.locator("textarea[name=backstory]").fill("Grew up on the cliffs.")
    form.locator("input[name=initial_relationship_to_you]").fill("neighbour")
    form.locator("textarea[name=kickoff_prose]").fill("Mira waves from the lamp room.")
    form.locator("textarea[name=scenario]").fill("A windy coast.")
    form.locator("input[name=tags]").fill("coast, fantasy")
    form.get_by_role("button", name="Add voice sample").click()
    page.keyboard.type("The sea keeps its own hours.")
    form.get_by_role("button", name="Add greeting").click()
    page.keyboard.type("Storm's coming. Tea?")
    form.locator("input[name=talkativeness]").fill("0.8")
    form.get_by_role("button", name="Create bot").click()
    page.wait_for_url("**/#/bots/mira")
    page.get_by_role("heading", name="Mira Vale").wait_for()

    bot = live_server.api("GET", "/api/bots/mira")
    assert bot["persona"] == "A lighthouse keeper who collects storms."
    assert bot["traits"] == ["calm", "wry"]
    assert bot["voice_samples"] == ["The sea keeps its own hours."]
    assert bot["alternate_greetings"] == ["Storm's coming. Tea?"]
    assert bot["initial_relationship_to_you"] == "neighbour"
    assert bot["tags"] == ["coast", "fantasy"]
    assert bot["talkativeness"] == pytest.approx(0.8)
    assert bot["scenario"] == "A windy coast."
    assert bot["avatar"].startswith("data:image/png;base64,")

    page.locator("textarea[name=persona]").fill("A retired lighthouse keeper.")
    page.get_by_role("button", name="Save changes").click()
    page.get_by_text("Saved Mira Vale.").wait_for()
    assert live_server.api("GET", "/api/bots/mira")["persona"] == "A retired lighthouse keeper."
    assert page.get_by_role("link", name="Export Mira Vale as V3 JSON").get_attribute("href") == (
        "/api/bots/mira/card?format=v3&world=default"  # its character book: this world's lore
    )

    page.get_by_role("button", name="Retire").click()
    page.get_by_role("dialog").get_by_role("button", name="Retire").click()
    page.wait_for_url("**/#/bots")
    assert live_server.api("GET", "/api/bots/mira")["retired"] is True


def test_import_a_card_file(page: Any, live_server: LiveServer, tmp_path: Path) -> None:
    card = {
        "spec": "chara_card_v2",
        "spec_version": "2.0",
        "data": {
            "name": "Card Person",
            "description": "Imported from a card.",
            "personality": "kind",
            "scenario": "",
            "first_mes": "Hello from the card.",
            "mes_example": "",
        },
    }
    path = tmp_path / "card.json"
    path.write_text(json.dumps(card), encoding="utf-8")
    open_app(page, "#/bots")
    page.locator("#card-file").set_input_files(str(path))
    page.get_by_role("heading", name="Card Person").wait_for()
    bots = live_server.api("GET", "/api/bots")
    assert [b["name"] for b in bots] == ["Card Person"]


def test_new_chat_streams_a_reply_token_by_token(page: Any, live_server: LiveServer) -> None:
    live_server.author()
    open_app(page)
    page.get_by_role("button", name="New chat").click()
    page.get_by_label("Title").fill("Morning")
    page.get_by_role("checkbox", name="Ana").check()
    page.get_by_role("button", name="Create chat").click()
    page.get_by_role("heading", name="Morning").wait_for()

    composer = page.get_by_label("Message", exact=True)
    composer.fill("good morning to the whole bakery crew")
    composer.press("Enter")
    streaming = page.locator(".msg.streaming")
    streaming.wait_for()  # the reply is visible while it is still being written
    partial = streaming.locator(".msg-text").inner_text()
    final = page.locator(".msg-bot:not(.streaming)", has_text="cardamom")
    final.wait_for()
    assert partial != final.locator(".msg-text").inner_text()
    assert composer.input_value() == ""
    page.locator(".msg.streaming").wait_for(state="detached")

    graph = page.locator("svg.graph")
    # the state event redraws the graph: Ana's arrow to you now carries the extracted +8
    edge = graph.locator(".edge[data-src='ana'][data-dst='you'][aria-label*='affinity 8,']")
    edge.wait_for()
    assert graph.locator(".node[data-id='ana']").count() == 1
    assert graph.locator(".node[data-id='you']").count() == 1
    edge.focus()
    page.keyboard.press("Enter")
    page.locator("svg.chart .pt").first.wait_for()
    assert page.locator("svg.chart .pt").count() == 2


def test_bot_markup_is_shown_as_text_and_never_runs(page: Any, live_server: LiveServer) -> None:
    live_server.author()
    chat = live_server.chat_with("ana")
    open_app(page, f"#/chat/{chat['id']}")
    composer = page.get_by_label("Message", exact=True)
    composer.fill("show me some markup")
    composer.press("Enter")
    reply = page.locator(".msg-bot:not(.streaming)", has_text="plain text.")
    reply.wait_for()
    assert MARKUP in reply.locator(".msg-text").inner_text()
    assert page.locator("#transcript script, #transcript img:not(.msg-avatar)").count() == 0
    page.wait_for_timeout(300)  # an onerror handler would have fired by now
    assert page.evaluate("() => window.__pwned") is None


def test_stop_keeps_the_text_then_continue_and_regenerate(page: Any, live_server: LiveServer) -> None:
    live_server.author()
    chat = live_server.chat_with("ana")
    open_app(page, f"#/chat/{chat['id']}")
    composer = page.get_by_label("Message", exact=True)
    composer.fill("tell me a long story")
    composer.press("Enter")
    streaming = page.locator(".msg.streaming")
    streaming.locator(".msg-text", has_text="word word").wait_for()
    page.get_by_role("button", name="Stop this reply").wait_for()  # Stop says what it stops
    with page.expect_response(lambda r: r.url.endswith("/cancel")) as answer:
        page.keyboard.press("Escape")
    assert answer.value.status == 202
    stopped = page.locator(".msg-bot.stopped")
    stopped.wait_for()
    page.locator("#stop-btn").wait_for(state="hidden")
    # the stop is answered once the turn's end is stored: "Stopping…" must not outlive it
    assert page.locator("#turn-status").inner_text() == ""
    assert stopped.locator(".badge.stopped").inner_text() == "stopped"
    kept = stopped.locator(".msg-text").inner_text()
    assert kept.startswith("word") and kept.count("word") < 200
    assert page.locator(".turn-failed").count() == 0  # a stopped reply is not a failure
    live_server.use_script([{"match": "", "reply": "The end.", "delay_ms": 5}])
    stopped.hover()
    stopped.get_by_role("button", name="Continue this reply").click()
    done = page.locator(".msg-bot:not(.stopped):not(.streaming)", has_text="The end.")
    done.wait_for()
    assert done.locator(".msg-text").inner_text().startswith(kept.rstrip(" …"))
    page.locator(".alt-count", has_text="2/2").wait_for()  # continued: a new alternative
    done.hover()
    done.get_by_role("button", name="Regenerate this reply").click()
    page.locator(".alt-count", has_text="3/3").wait_for()


def test_stop_before_any_text_then_retry_a_turn(page: Any, live_server: LiveServer) -> None:
    live_server.author()
    live_server.use_script([{"match": "slow start", "reply": "late words", "delay_ms": 3000}])
    chat = live_server.chat_with("ana")
    open_app(page, f"#/chat/{chat['id']}")
    composer = page.get_by_label("Message", exact=True)
    composer.fill("a slow start")
    composer.press("Enter")
    page.locator("#turn-status", has_text="Ana is writing…").wait_for()
    page.keyboard.press("Escape")
    failed = page.locator(".turn-failed")
    failed.wait_for()
    assert page.locator(".msg.streaming").count() == 0
    live_server.use_script(support.SCRIPT_RULES)
    failed.get_by_role("button", name="Retry").click()
    page.locator(".msg-bot", has_text="heard you say").wait_for()


def test_the_turn_says_what_it_is_doing_and_for_how_long(page: Any, live_server: LiveServer) -> None:
    live_server.author()
    live_server.use_script([{"match": "harbour", "reply": "Fog again.", "delay_ms": 800,
                             "extraction_delay_ms": 2500}])  # fmt: skip
    chat = live_server.chat_with("ana")
    open_app(page, f"#/chat/{chat['id']}")
    composer = page.get_by_label("Message", exact=True)
    composer.fill("how is the harbour")
    composer.press("Enter")
    status = page.locator("#turn-status")
    status.filter(has_text="Ana is writing…").wait_for()
    status.filter(has_text="Updating memories…").wait_for()
    page.locator(".msg-bot:not(.streaming)", has_text="Fog again.").wait_for()  # the reply is in
    stop = page.get_by_role("button", name="Stop updating memories")
    assert stop.inner_text() == "Skip memory update"
    page.wait_for_function("() => / [12] s$/.test(document.querySelector('#turn-status').textContent)")
    assert composer.is_enabled()  # the composer is free while memories are updated
    composer.fill("and the tide?")
    stop.click()
    page.locator("#stop-btn").wait_for(state="hidden")
    assert page.locator(".turn-failed").count() == 0
    turn = live_server.api("GET", "/api/events", params={"kind": "turn_completed", "chat_id": chat["id"]})
    assert len(turn) == 1
    changes = live_server.api("GET", "/api/events", params={"kind": "memory_added", "chat_id": chat["id"]})
    assert changes == []  # skipped: this turn changed no memories


def test_regenerate_and_switch_alternatives(page: Any, live_server: LiveServer) -> None:
    live_server.author()
    chat = live_server.chat_with("ana")
    live_server.say(chat["id"], "a short hello")
    open_app(page, f"#/chat/{chat['id']}")
    last = page.locator(".msg-bot").last
    last.hover()
    last.get_by_role("button", name="Regenerate this reply").click()
    page.locator(".alt-count", has_text="2/2").wait_for()
    page.get_by_role("button", name="Previous alternative").click()
    page.locator(".alt-count", has_text="1/2").wait_for()
    last = page.locator(".msg-bot").last
    last.hover()
    last.get_by_role("button", name="Why did it say that?").click()
    dialog = page.get_by_role("dialog")
    dialog.locator(".prompt-msg").first.wait_for()
    page.keyboard.press("Escape")
    dialog.wait_for(state="detached")


def test_a_failed_regenerate_shows_again_after_a_reload_and_retries(
    page: Any, live_server: LiveServer
) -> None:
    live_server.author()
    chat = live_server.chat_with("ana")
    live_server.say(chat["id"], "a short hello")
    live_server.use_script([{"match": "short hello", "error": "the model server is down"}])
    open_app(page, f"#/chat/{chat['id']}")
    last = page.locator(".msg-bot").last
    last.hover()
    last.get_by_role("button", name="Regenerate this reply").click()
    failed = page.locator(".turn-failed")
    failed.wait_for()
    page.reload()
    page.wait_for_selector("body[data-ready='1']")
    failed.locator(".reason", has_text="the model server is down").wait_for()
    live_server.use_script(support.SCRIPT_RULES)
    failed.get_by_role("button", name="Retry").click()
    page.locator(".alt-count", has_text="2/2").wait_for()
    failed.wait_for(state="detached")
    turns = live_server.api("GET", "/api/events", params={"kind": "turn_completed", "chat_id": chat["id"]})
    assert len(turns) == 2  # the first reply and the retried regenerate


@pytest.mark.parametrize("live_server", [{"access_token": "s3cret-token"}], indirect=True)
def test_with_an_access_token_the_ui_works_after_login(page: Any, live_server: LiveServer) -> None:
    assert httpx.get(f"{live_server.url}/api/health").status_code == 401
    live_server.author()
    chat = live_server.chat_with("ana", title="Behind a token")
    page.goto("/?token=s3cret-token")  # the server sets its cookie and drops the token from the URL
    page.wait_for_selector("body[data-ready='1']")
    assert "token" not in page.url
    page.get_by_role("heading", name="Behind a token").wait_for()
    composer = page.get_by_label("Message", exact=True)
    composer.fill("hello through the token")
    composer.press("Enter")
    page.locator(".msg-bot:not(.streaming)", has_text="heard you say: hello through the token").wait_for()
    assert chat["id"] in page.url


@pytest.mark.parametrize("live_server", [{"access_token": "s3cret-token"}], indirect=True)
def test_with_an_access_token_a_fresh_browser_is_asked_for_it(page: Any, live_server: LiveServer) -> None:
    """No cookie, no ?token=: the public UI loads, asks for the token, then works with it."""
    live_server.author()
    chat = live_server.chat_with("ana", title="Asked for a token")
    page.goto("/")  # GET /api/auth says a token is needed: the UI asks, no request fails
    dialog = page.get_by_role("dialog", name="Access token needed")
    dialog.get_by_label("Access token").fill("not-the-token")
    dialog.get_by_role("button", name="Continue").click()
    dialog.get_by_role("alert").filter(has_text="not accepted").wait_for()  # asked again
    dialog.get_by_label("Access token").fill("s3cret-token")
    dialog.get_by_role("button", name="Continue").click()
    page.wait_for_selector("body[data-ready='1']")
    page.get_by_role("heading", name="Asked for a token").wait_for()
    composer = page.get_by_label("Message", exact=True)
    composer.fill("hello after the prompt")
    composer.press("Enter")
    page.locator(".msg-bot:not(.streaming)", has_text="heard you say: hello after the prompt").wait_for()
    assert chat["id"] in page.url
    assert page.evaluate("sessionStorage.getItem('kith.token')") == "s3cret-token"
    assert page.context.cookies() == []  # the header carried it, not a cookie

    page.get_by_role("link", name="Bots").click()  # avatars come from the API too
    avatar = page.locator(".bot-list img.avatar-small").first
    avatar.wait_for()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=avatar.element_handle())
