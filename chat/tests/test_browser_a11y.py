"""An axe-core accessibility check of every view (labels, roles, names, contrast of at
least 4.5:1 at the rendered size) at 1280 px and 375 px, light and dark (§11.1 "keyboard
friendly"). axe-core comes bundled in axe-playwright-python, so this runs offline; it is
injected through the DevTools protocol, which the page's CSP does not govern.
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

# Everything axe checks at WCAG 2.0/2.1 A and AA, which covers labels, roles, names and
# colour contrast (4.5:1 for body text, at the size it is rendered).
AXE_OPTIONS = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
               "resultTypes": ["violations"]}


def axe_violations(page: Any) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page, options=AXE_OPTIONS)
    out = []
    for violation in results.response["violations"]:
        for node in violation["nodes"][:4]:
            out.append(f"{violation['id']}: {node['target']} — {node.get('failureSummary', '').splitlines()[-1:]}")
    return out


def _world(server: LiveServer) -> str:
    server.author()
    server.author(name="Bram", bot_id="bram")
    chat = server.chat_with("ana", "bram")
    server.say(chat["id"], "welcome to the bakery, *waves*")
    server.api("POST", "/api/memories", json={"owner": "bram", "text": "You lent me a ladder", "importance": 6})
    return chat["id"]


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [1280, 375])
def test_every_view_passes_axe(page: Any, live_server: LiveServer, width: int, scheme: str) -> None:
    chat_id = _world(live_server)
    page.emulate_media(color_scheme=scheme)
    page.set_viewport_size({"width": width, "height": 800})
    problems: dict[str, list[str]] = {}
    open_app(page, f"#/chat/{chat_id}")
    page.locator(".msg-bot").first.wait_for()
    page.locator("svg.graph .edge").first.wait_for()
    problems["chat"] = axe_violations(page)
    reply = page.locator(".msg-bot").last
    reply.hover()
    reply.get_by_role("button", name="Delete message by").click()
    page.get_by_role("dialog").get_by_text("Its turn").first.wait_for()
    problems["delete dialog"] = axe_violations(page)
    page.keyboard.press("Escape")
    page.get_by_role("tab", name="Relationships").click()
    page.locator("svg.graph .edge").first.click()
    page.locator(".edge-detail").get_by_role("button", name="History of").first.click()
    page.get_by_role("dialog").wait_for()
    problems["history dialog"] = axe_violations(page)
    page.keyboard.press("Escape")
    for tab in ("Memories", "Entities", "World"):
        page.get_by_role("tab", name=tab).click()
        page.wait_for_timeout(150)
        problems[f"chat/{tab}"] = axe_violations(page)
    for route, ready in (("#/bots/ana", "form.bot-form"), ("#/events", "table.events"), ("#/settings", "form.settings-form")):
        page.goto(f"/{route}")
        page.wait_for_selector("body[data-ready='1']")
        page.locator(ready).first.wait_for()
        problems[route] = axe_violations(page)
    found = {view: items for view, items in problems.items() if items}
    assert found == {}, "\n".join(f"{view}:\n  " + "\n  ".join(items) for view, items in found.items())
