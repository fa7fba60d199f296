"""A 30,000-message chat in a real Chromium (§11.1, §13): it opens at its end with one
page, a turn's reply is drawn from the stream without fetching the transcript again, an
edit changes its message in place, and scrolling up pages back to the very first message
with what was on screen kept where it was."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chat.tests import browser_support as support
from chat.tests.browser_support import LiveServer, open_app
from chat.tests.long_chat import LongChat, build_long_chat
from chat.tests.ui_timing import (
    SCROLL_TO_FIRST,
    drawn_times,
    install_probe,
    watch_transcript_requests,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

MESSAGES = int(os.environ.get("KITH_LONG_CHAT_MESSAGES", "30000"))  # smaller for a quick look
browser = support.browser
page = support.page


@pytest.fixture
def long_chat(tmp_path: Path) -> LongChat:
    support.require_chromium()
    return build_long_chat(tmp_path / "data", MESSAGES)


@pytest.fixture
def live_server(long_chat: LongChat, tmp_path: Path) -> Iterator[LiveServer]:
    yield from support.serve(tmp_path, tmp_path / "data", support.SCRIPT_RULES, {})


def test_a_30k_chat_opens_at_its_end_updates_in_place_and_scrolls_back_to_the_start(
    page: Any, live_server: LiveServer, long_chat: LongChat
) -> None:
    page.set_default_timeout(60_000)  # a 30k-message page on a busy shared machine
    requests = watch_transcript_requests(page)
    open_app(page, f"#/chat/{long_chat.chat_id}")
    transcript = page.locator("#transcript")
    transcript.get_by_text(long_chat.last_text, exact=True).wait_for()
    assert transcript.locator(".msg").count() == 100
    assert len(requests) == 1 and "limit=100" in requests[0] and "before=" not in requests[0]
    at_end = page.evaluate("() => { const l = document.querySelector('#transcript');"
                           " return l.scrollHeight - l.scrollTop - l.clientHeight; }")
    assert at_end < 5, f"the chat did not open at its end ({at_end}px above it)"

    # A turn: the user's message and the reply come from the stream, nothing is refetched.
    install_probe(page)
    requests.clear()
    page.locator("#composer-input").fill("hello again")
    page.locator("#composer-input").press("Enter")
    # The stored reply, not the streamed one it replaces (a slow page may still show that).
    reply = transcript.locator(".msg-bot:not(.streaming)").last
    reply.get_by_text("heard you say: hello again").wait_for()
    page.wait_for_function(
        "(id) => window.__kithProbe.drawn.some((d) => d.id === id)", arg=reply.get_attribute("data-id")
    )
    assert requests == [], f"a turn fetched the transcript again: {requests}"
    assert transcript.locator(".msg").count() == 102
    assert [d["shown"] for d in drawn_times(page)][-1] == 102

    # An edit of an older message on screen changes that <li> only.
    older = transcript.locator(".msg").nth(10)
    older_id = older.get_attribute("data-id")
    live_server.api("PATCH", f"/api/messages/{older_id}", json={"text": "Edited in place."})
    transcript.locator(f'.msg[data-id="{older_id}"]').get_by_text("Edited in place.").wait_for()
    assert transcript.locator(".msg").count() == 102 and requests == []

    # One page back: the message that was first stays where it was on screen.
    first_id = transcript.locator(".msg").first.get_attribute("data-id")
    top_before = page.evaluate(
        "(id) => { const l = document.querySelector('#transcript'); l.scrollTop = 0;"
        " const top = l.querySelector(`.msg[data-id='${id}']`).getBoundingClientRect().top;"
        " l.dispatchEvent(new Event('scroll')); return top; }",
        first_id,
    )
    page.wait_for_function("() => document.querySelectorAll('#transcript .msg').length > 102")
    top_after = transcript.locator(f'.msg[data-id="{first_id}"]').bounding_box()["y"]
    assert abs(top_after - top_before) < 2, (top_before, top_after)
    assert all("before=" in url for url in requests)

    result = page.evaluate(SCROLL_TO_FIRST, long_chat.first_text)
    print("scrolled back:", result)
    assert result["shown"] == MESSAGES + 2
    assert transcript.locator(".msg").first.get_attribute("data-id") == f"msg_{long_chat.chat_id}_u0"
