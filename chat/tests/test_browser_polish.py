"""The first hour with the web UI (issue 14, §4.9, §11.1): keyboard paths, alternatives
and deletion, hand-made memories and relationships, message rendering, feedback.

Each test runs at 1280 px and at 375 px where layout is involved, against the real app
and a real Chromium (browser_support.py).
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

WIDTHS = [1280, 375]


def at_width(page: Any, width: int) -> None:
    page.set_viewport_size({"width": width, "height": 800 if width > 500 else 740})


@pytest.mark.parametrize("width", WIDTHS)
def test_skip_link_focuses_the_open_chats_composer(page: Any, live_server: LiveServer, width: int) -> None:
    live_server.author()
    older = live_server.chat_with("ana", title="Older chat")
    live_server.chat_with("ana", title="Newer chat")
    at_width(page, width)
    open_app(page, f"#/chat/{older['id']}")
    page.get_by_role("heading", name="Older chat").wait_for()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    page.keyboard.press("Enter")
    page.wait_for_function("document.activeElement && document.activeElement.id === 'composer-input'")
    page.wait_for_timeout(200)  # a route change would have opened the other chat by now
    assert page.url.endswith(f"#/chat/{older['id']}")
    assert page.locator("#chat-title").inner_text() == "Older chat"
