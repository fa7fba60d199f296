"""What a new user of the web UI ran into (newcomer report): the first-run banner pushed
the message box off the screen, Settings said too little about where the API key is kept,
the Markdown-ish renderer drew **bold** as italics with stray asterisks, and the Event log
showed raw chat ids and lacked kinds in its filter. Screenshots go to $KITH_SHOTS if set.
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


def shoot(page: Any, name: str) -> None:
    if os.environ.get("KITH_SHOTS"):
        page.screenshot(path=os.path.join(os.environ["KITH_SHOTS"], name))


def _inside(page: Any, selector: str) -> None:
    box = page.locator(selector).bounding_box()
    size = page.viewport_size
    assert box is not None, f"{selector} is not drawn"
    assert box["y"] >= 0 and box["y"] + box["height"] <= size["height"], f"{selector} is cut off: {box}"
    assert box["x"] >= 0 and box["x"] + box["width"] <= size["width"], f"{selector} is cut off: {box}"


@pytest.mark.parametrize("size", [(1366, 768), (1500, 950)])
def test_the_first_run_banner_leaves_the_composer_and_stop_on_screen(
    page: Any, live_server: LiveServer, size: tuple[int, int]
) -> None:
    live_server.author()
    live_server.use_script([{"match": "", "reply": " ".join(["slowly"] * 80), "delay_ms": 150}])
    chat = live_server.chat_with("ana")
    page.set_viewport_size({"width": size[0], "height": size[1]})
    open_app(page, f"#/chat/{chat['id']}")
    page.locator("#persona-banner").wait_for()
    composer = page.get_by_label("Message", exact=True)
    composer.fill("tell me something")
    composer.press("Enter")
    page.locator(".msg.streaming .msg-text", has_text="slowly").wait_for()
    page.locator("#stop-btn").wait_for()
    _inside(page, "#composer")
    _inside(page, "#stop-btn")
    heights = page.evaluate("() => [document.scrollingElement.scrollHeight, innerHeight]")
    assert heights[0] <= heights[1], f"the page is {heights[0] - heights[1]} px taller than the window"
    shoot(page, f"banner-{size[0]}x{size[1]}.png")
    page.locator("#stop-btn").click()
    page.locator("#stop-btn").wait_for(state="hidden")
