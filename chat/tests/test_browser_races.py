"""A request's answer that arrives after the event stream has ended its turn (§11.1).

A fast turn on a busy machine can finish, and the stream say so, before the answer to the
request that started it reaches the page. The page must not then take the finished turn
for a running one: that left Stop shown, Regenerate hidden and "Continuing the reply…"
for good (seen once in CI). Playwright holds the answer until the turn has ended, so the
order is the same every run.
"""

from __future__ import annotations

from typing import Any

import pytest

from chat.tests import browser_support as support
from chat.tests.browser_support import LiveServer, open_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]

browser = support.browser
live_server = support.live_server
page = support.page


def _hold_answers(page: Any, pattern: str) -> list[Any]:
    """Requests to ``pattern`` are held (Playwright runs handlers only while it is called)."""
    held: list[Any] = []
    page.route(pattern, lambda route: held.append(route))
    return held


def _answer_after_the_turn_ended(page: Any, live_server: LiveServer, held: list[Any]) -> dict:
    for _ in range(200):
        if held:
            break
        page.wait_for_timeout(50)
    assert held, "the page never asked"
    route = held[0]
    response = route.fetch()  # the server starts the turn and answers; the page waits
    turn = live_server.wait_turn(response.json()["turn_id"])
    page.locator("#turn-status:empty").wait_for(state="attached")  # the stream said it ended
    page.wait_for_timeout(300)
    route.fulfill(response=response)
    return turn


def test_a_continue_answered_after_its_turn_ended_leaves_no_turn_running(
    page: Any, live_server: LiveServer
) -> None:
    live_server.author()
    chat = live_server.chat_with("ana")
    live_server.say(chat["id"], "a short hello")
    live_server.use_script([{"match": "", "reply": "And more.", "delay_ms": 5}])
    open_app(page, f"#/chat/{chat['id']}")
    held = _hold_answers(page, "**/api/chats/*/continue")
    last = page.locator(".msg-bot").last
    last.hover()
    last.get_by_role("button", name="Continue this reply").click()
    turn = _answer_after_the_turn_ended(page, live_server, held)
    assert turn["status"] == "completed"
    page.locator(".msg-bot", has_text="And more.").wait_for()
    page.wait_for_timeout(500)
    assert page.locator("#stop-btn").is_hidden()
    assert page.locator("#turn-status").inner_text() == ""
    done = page.locator(".msg-bot").last
    done.hover()
    done.get_by_role("button", name="Regenerate this reply").click(timeout=5000)
    page.locator(".alt-count", has_text="3/3").wait_for()


def test_a_message_answered_after_its_turn_ended_leaves_no_turn_running(
    page: Any, live_server: LiveServer
) -> None:
    live_server.author()
    chat = live_server.chat_with("ana")
    open_app(page, f"#/chat/{chat['id']}")
    held = _hold_answers(page, "**/api/chats/*/messages")
    composer = page.get_by_label("Message", exact=True)
    composer.fill("a short hello")
    composer.press("Enter")
    turn = _answer_after_the_turn_ended(page, live_server, held)
    assert turn["status"] == "completed"
    page.locator(".msg-bot").first.wait_for()
    page.wait_for_timeout(500)
    assert page.locator("#stop-btn").is_hidden()
    assert page.locator("#turn-status").inner_text() == ""
    assert page.locator(".turn-failed").count() == 0
