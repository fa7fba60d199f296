"""Stop with a second message queued behind the reply being written (§4.3, newcomer report).

A message sent while a bot writes queues a second turn. Stop (button or Esc) must stop the
reply being written now, not the queued turn; the queued message then gets its reply as
usual, and Stop and the status line follow that turn until it ends.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from chat.tests import browser_support as support
from chat.tests.browser_support import LiveServer, open_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]

browser = support.browser
live_server = support.live_server
page = support.page

SLOW = [
    {"match": "be slow", "reply": " ".join(["slowly"] * 60), "delay_ms": 400},
    {"match": "second", "reply": "The second answer.", "delay_ms": 150},
    {"match": "", "reply": "{{char}} heard you say: {{message}}", "delay_ms": 5},
]


def _send(page: Any, text: str) -> None:
    composer = page.get_by_label("Message", exact=True)
    composer.fill(text)
    composer.press("Enter")


@pytest.mark.parametrize("how", ["button", "escape"])
def test_stop_stops_the_reply_being_written_and_the_queued_message_runs_next(
    page: Any, live_server: LiveServer, how: str
) -> None:
    live_server.author("Tobias", "tobias")
    live_server.use_script(SLOW)
    chat = live_server.chat_with("tobias")
    open_app(page, f"#/chat/{chat['id']}")
    _send(page, "Tobias, be slow about it")
    page.locator(".msg.streaming .msg-text", has_text="slowly").wait_for()
    with page.expect_response(lambda r: r.url.endswith("/messages")):
        _send(page, "and a second thing")
    page.wait_for_timeout(300)  # the queued turn's news has arrived
    assert page.locator("#turn-status").inner_text().startswith("Tobias is writing…")
    with page.expect_request(lambda r: r.url.endswith("/cancel")) as asked:
        if how == "button":
            page.locator("#stop-btn").click()
        else:
            page.keyboard.press("Escape")
    stopped = page.locator(".msg-bot.stopped")
    stopped.wait_for()
    assert "slowly" in stopped.locator(".msg-text").inner_text()
    first_turn = asked.value.url.split("/turns/")[1].split("/")[0]
    assert live_server.api("GET", f"/api/turns/{first_turn}")["status"] != "queued"
    # the queued message is answered next, as usual; Stop stays for it while it runs
    answer = page.locator(".msg-bot:not(.streaming)", has_text="The second answer.")
    answer.wait_for()
    assert page.locator(".turn-failed").count() == 0  # nothing was stopped before it started
    page.locator("#stop-btn").wait_for(state="hidden")
    page.locator("#turn-status:empty").wait_for(state="attached")
    if how == "button" and os.environ.get("KITH_SHOTS"):
        page.screenshot(path=os.path.join(os.environ["KITH_SHOTS"], "stop-queued.png"))


def test_stop_shows_while_the_queued_turn_runs_and_stops_it(page: Any, live_server: LiveServer) -> None:
    live_server.author("Tobias", "tobias")
    live_server.use_script([{"match": "", "reply": " ".join(["slowly"] * 60), "delay_ms": 300}])
    chat = live_server.chat_with("tobias")
    open_app(page, f"#/chat/{chat['id']}")
    _send(page, "one")
    page.locator(".msg.streaming .msg-text", has_text="slowly").wait_for()
    with page.expect_response(lambda r: r.url.endswith("/messages")):
        _send(page, "two")
    page.locator("#stop-btn").click()
    page.locator(".msg-bot.stopped").wait_for()
    # the second turn runs now: its words stream, and Stop is there to stop them too
    page.locator(".msg.streaming .msg-text", has_text="slowly").wait_for()
    assert page.locator("#stop-btn").is_visible()
    assert page.locator("#turn-status").inner_text().startswith("Tobias is writing…")
    page.locator("#stop-btn").click()
    page.locator(".msg-bot.stopped").nth(1).wait_for()
    page.locator("#stop-btn").wait_for(state="hidden")
    page.locator("#turn-status:empty").wait_for(state="attached")
