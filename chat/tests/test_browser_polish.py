"""The first hour with the web UI (issue 14, §4.9, §11.1): keyboard paths, alternatives
and deletion, hand-made memories and relationships, message rendering, feedback.

Each test runs at 1280 px and at 375 px where layout is involved, against the real app
and a real Chromium (browser_support.py).
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


@pytest.mark.parametrize("width", WIDTHS)
def test_delete_the_standing_alternative_then_respond_and_continue(
    page: Any, live_server: LiveServer, width: int
) -> None:
    live_server.author()
    chat = live_server.chat_with("ana")
    first = live_server.say(chat["id"], "welcome to the bakery")["message_ids"][0]
    regen = live_server.api("POST", f"/api/chats/{chat['id']}/regenerate")
    second = live_server.wait_turn(regen["turn_id"])["message_ids"][0]
    at_width(page, width)
    open_app(page, f"#/chat/{chat['id']}")
    page.locator(".alt-count", has_text="2/2").wait_for()
    respond = page.get_by_role("button", name="Respond", exact=True)
    assert respond.is_hidden(), "the bot's reply is last: nothing to respond to"

    standing = page.locator(f".msg[data-id='{second}']")
    standing.hover()
    standing.get_by_role("button", name="Delete message by Ana").click()
    dialog = page.get_by_role("dialog", name="Delete message")
    dialog.get_by_text("the next one will stand").wait_for()
    dialog.get_by_role("button", name="Delete", exact=True).click()  # a regenerate changed nothing
    page.locator(f".msg[data-id='{first}']").wait_for()  # the other alternative stands
    assert page.locator(".msg-bot").count() == 1

    page.locator(f".msg[data-id='{first}']").hover()
    page.locator(f".msg[data-id='{first}']").get_by_role("button", name="Delete message by Ana").click()
    changed = dialog.get_by_text("Its turn also changed the world:")
    changed.wait_for()
    assert "1 memory" in changed.inner_text() and "1 relationship change" in changed.inner_text()
    dialog.get_by_text("Deleting the message keeps those changes").wait_for()
    dialog.get_by_role("button", name="Delete the message only").click()
    page.locator(".msg-bot").wait_for(state="detached")
    respond.wait_for()  # your message is last now
    respond.click()
    reply = page.locator(".msg-bot:not(.streaming)", has_text="cardamom")
    reply.wait_for()
    respond.wait_for(state="hidden")
    assert page.locator(".msg-you").count() == 1, "Respond adds no message of yours"

    before = reply.locator(".msg-text").inner_text()
    reply.hover()
    reply.get_by_role("button", name="Continue this reply").click()
    page.locator(".alt-count", has_text="2/2").wait_for()
    after = page.locator(".msg-bot").last.locator(".msg-text").inner_text()
    assert after.startswith(before) and len(after) > len(before)


@pytest.mark.parametrize("width", WIDTHS)
def test_add_a_memory_and_a_relationship_by_hand(page: Any, live_server: LiveServer, width: int) -> None:
    live_server.author()
    live_server.author(name="Bram", bot_id="bram")
    chat = live_server.chat_with("ana", "bram")
    at_width(page, width)
    open_app(page, f"#/chat/{chat['id']}")

    page.get_by_role("tab", name="Memories").click()
    page.locator("summary", has_text="Add memory").click()
    form = page.get_by_role("form", name="Add memory")
    form.get_by_role("button", name="Add memory").click()
    form.get_by_text("Write what the bot remembers.").wait_for()
    assert live_server.api("GET", "/api/memories") == []
    form.get_by_label("Whose memory").select_option("bram")
    form.get_by_label("What they remember").fill("You lent me a ladder in spring")
    form.get_by_label("Importance (1 to 10)").fill("8")
    form.get_by_role("button", name="Add memory").click()
    page.locator(".memory", has_text="You lent me a ladder in spring").wait_for()
    [memory] = live_server.api("GET", "/api/memories")
    assert (memory["owner"], memory["importance"]) == ("bram", 8)

    page.get_by_role("tab", name="Relationships").click()
    page.locator("summary", has_text="Add relationship").click()
    form = page.get_by_role("form", name="Add relationship")
    form.get_by_label("From").select_option("bram")
    form.get_by_label("To", exact=True).select_option("bram")
    form.get_by_role("button", name="Add relationship").click()
    form.get_by_text("pick two different ones").wait_for()
    form.get_by_label("To", exact=True).select_option("ana")
    form.get_by_label("How they see them").fill("rival baker")
    form.get_by_label("Affinity (−100 to 100)").fill("-15")
    form.get_by_role("button", name="Add relationship").click()
    page.locator("svg.graph .edge[data-src='bram'][data-dst='ana']").wait_for()
    edge = live_server.api("GET", "/api/edges/bram/ana")
    assert (edge["label"], edge["affinity"]) == ("rival baker", -15)


def _tab_until(page: Any, predicate: str, limit: int = 200) -> int:
    for presses in range(1, limit + 1):
        page.keyboard.press("Tab")
        if page.evaluate(predicate):
            return presses
    raise AssertionError(f"not reached in {limit} Tab presses: {predicate}")


@pytest.mark.parametrize("width", WIDTHS)
def test_messages_show_actions_in_italics_avatars_and_one_tab_stop_each(
    page: Any, live_server: LiveServer, width: int
) -> None:
    live_server.author()
    chat = live_server.chat_with("ana")
    live_server.use_script([{"match": "", "reply": "*wipes flour off her hands* Morning! <b>fresh</b> *grins*", "delay_ms": 1}])
    for text in ("one", "two", "three", "four"):
        live_server.say(chat["id"], text)
    at_width(page, width)
    open_app(page, f"#/chat/{chat['id']}")
    reply = page.locator(".msg-bot").last
    reply.wait_for()
    assert reply.locator(".msg-text em").all_inner_texts() == ["wipes flour off her hands", "grins"]
    assert reply.locator(".msg-text").inner_text() == "wipes flour off her hands Morning! <b>fresh</b> grins"
    assert page.locator("#transcript b").count() == 0
    bubble = reply.bounding_box()
    avatar = reply.locator(".msg-avatar").bounding_box()
    assert avatar["x"] + avatar["width"] <= bubble["x"] + 1, "the bot's avatar sits left of its bubble"
    mine = page.locator(".msg-you").last
    assert mine.locator(".msg-avatar").bounding_box()["x"] >= mine.bounding_box()["x"] + mine.bounding_box()["width"] - 1

    first = page.locator("#transcript .msg").first
    first.focus()
    presses = _tab_until(page, "document.activeElement.closest('#state-panel') !== null")
    assert presses <= page.locator("#transcript .msg").count() + 4, f"{presses} Tab presses past 8 messages"

    reply.focus()
    page.keyboard.press("ArrowRight")
    assert page.evaluate("document.activeElement.tagName") == "BUTTON"
    labels = []
    for _ in range(3):
        labels.append(page.evaluate("document.activeElement.getAttribute('aria-label')"))
        page.keyboard.press("ArrowRight")
    assert len(set(labels)) == 3 and all(label for label in labels)
    page.keyboard.press("Escape")
    assert page.evaluate("document.activeElement.classList.contains('msg')")


BUTTONS = "button, input, select, textarea, summary"


def _covered_controls(page: Any, within: str = "body") -> list[str]:
    """Visible controls (in ``within``) a toast covers, by their accessible text or id."""
    return page.evaluate(
        """([selector, within]) => {
      const toasts = [...document.querySelectorAll('.toast')].filter((t) => t.offsetParent !== null)
        .map((t) => t.getBoundingClientRect());
      const shown = (el) => el.offsetParent !== null && getComputedStyle(el.closest('.msg-tools') || el).opacity !== '0';
      return [...document.querySelector(within).querySelectorAll(selector)].filter((el) => shown(el) && !el.closest('.toasts'))
        .filter((el) => { const r = el.getBoundingClientRect();
          return r.width > 0 && toasts.some((t) => r.left < t.right && t.left < r.right && r.top < t.bottom && t.top < r.bottom); })
        .map((el) => el.getAttribute('aria-label') || el.textContent.trim() || el.id);
    }""",
        [BUTTONS, within],
    )


@pytest.mark.parametrize("width", WIDTHS)
def test_feedback_is_fresh_in_plain_words_and_off_the_buttons(
    page: Any, live_server: LiveServer, width: int
) -> None:
    live_server.author()
    chat = live_server.chat_with("ana")
    live_server.say(chat["id"], "I bake rye on Sundays")
    at_width(page, width)
    expect_http_errors(page, 422)
    open_app(page, f"#/chat/{chat['id']}")
    page.get_by_role("tab", name="Memories").click()
    memory = page.locator(".memory").first
    memory.get_by_role("button", name="Edit importance (1 to 10)").click()
    box = memory.get_by_role("spinbutton", name="importance (1 to 10)")
    box.fill("11")
    box.press("Enter")
    error = memory.locator(".field-error")  # beside the field, not in a toast far off
    error.wait_for()
    assert error.inner_text() == "Importance is a whole number from 1 to 10."
    assert _covered_controls(page, "body" if width > 960 else ".memory") == []
    box.fill("7")
    box.press("Enter")
    page.locator(".toast", has_text="Saved the memory's importance").wait_for()
    assert error.count() == 0, "the error is stale once the next change went through"
    page.locator(".toast").wait_for(state="detached", timeout=6000)

    page.get_by_role("tab", name="World").click()
    page.get_by_label("New fact key").fill("tide")
    page.get_by_label("New fact value").fill("high")
    page.get_by_role("button", name="Add", exact=True).click()
    page.locator(".toast", has_text="Added tide.").wait_for()
    within = "body" if width > 960 else "#state-panel form.add-fact"  # narrow: the bar may cover others
    assert _covered_controls(page, within) == [], "a toast covers a control"


def test_settings_errors_in_the_forms_words_and_the_header_follows_the_backend(
    page: Any, live_server: LiveServer
) -> None:
    expect_http_errors(page, 422)
    open_app(page, "#/settings")
    page.locator("#health", has_text="scripted").wait_for()
    page.get_by_label("Extract every N turns").fill("0")
    page.get_by_role("button", name="Save settings").click()
    inline = page.locator(".settings-form .form-error")
    inline.wait_for()
    assert inline.inner_text() == "“Extract every N turns” must be 1 or more"
    assert page.locator(".toast", has_text="Settings saved.").count() == 0
    page.get_by_label("Extract every N turns").fill("2")
    page.get_by_label("Backend", exact=True).select_option("openai")
    page.get_by_label("Base URL").fill("http://127.0.0.1:9/v1")
    page.get_by_role("button", name="Save settings").click()
    page.locator(".toast", has_text="Settings saved.").wait_for()
    assert page.locator(".settings-form .form-error").inner_text() == ""
    page.locator("#health", has_text="openai").wait_for()  # no reload needed


def test_a_message_sent_with_kith_chat_appears_in_an_open_browser(page: Any, live_server: LiveServer) -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    live_server.author()
    chat = live_server.chat_with("ana")
    open_app(page, f"#/chat/{chat['id']}")
    page.get_by_text("No messages yet").wait_for()
    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    result = subprocess.run(  # another process on the same data directory, as in a terminal
        [sys.executable, "-c", "from chat.cli import main; main()", "chat", "--data-dir", str(live_server.data_dir),
         "--backend", "scripted", "--script", str(live_server.script), "--chat", chat["id"],
         "-m", "hello from the terminal"],
        capture_output=True, text=True, timeout=60, env=env, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    page.locator(".msg-you", has_text="hello from the terminal").wait_for()  # no reload
    page.locator(".msg-bot", has_text="heard you say: hello from the terminal").wait_for()
    assert page.locator(".msg-you", has_text="hello from the terminal").count() == 1
