"""Newcomer polish left from session 24, checked in Chromium:

* The history dialog's When column broke "Dec 6, 06:48 AM" over three lines (a 1%
  column whose words may wrap); each When cell is now one line, wide and narrow.
* The chat import named its format ("a SillyTavern chat file (.jsonl)") only in a line
  that a character card given to it left unexplained until Import was pressed; now a
  card's name is called out at once, the format line stays through a failure, and the
  button itself names the format.
* The review tray showed a scene proposal's ``present`` list as bot ids ("present
  ana, you"); it shows names, with the id only beside a name two bots share.
* A reply cleaned of another speaker's line shows, once stored, the stored text: the
  streamed words that the trimmer held back never appear.

``KITH_SHOTS=/some/dir`` keeps a 1366×768 screenshot of each screen checked.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chat.tests import browser_support as support
from chat.tests.browser_support import LiveServer, expect_http_errors, keep_shot, open_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]

browser = support.browser
live_server = support.live_server
page = support.page

WIDE = {"width": 1366, "height": 768}
NARROW = {"width": 375, "height": 740}


def _lines(cell: Any) -> int:
    """How many lines the cell's text takes (one client rect a line of a text range)."""
    return int(cell.evaluate(
        "el => { const r = document.createRange(); r.selectNodeContents(el);"
        " return new Set([...r.getClientRects()].filter(b => b.width > 0).map(b => Math.round(b.top))).size; }"
    ))  # fmt: skip


@pytest.mark.parametrize("viewport", [WIDE, NARROW], ids=["1366", "375"])
def test_each_when_cell_of_the_history_dialog_is_one_line(
    page: Any, live_server: LiveServer, viewport: dict[str, int]
) -> None:
    live_server.author()
    chat = live_server.chat_with("ana")
    for value in ("sleet", "a long grey drizzle that will not stop before the evening tide", "fog"):
        live_server.api("PUT", "/api/world/weather", json={"value": value})
    page.set_viewport_size(viewport)
    open_app(page, f"#/chat/{chat['id']}")
    page.get_by_role("tab", name="World").click()
    page.get_by_role("button", name="History of world fact weather").click()
    dialog = page.get_by_role("dialog")
    cells = dialog.locator("table.history tbody td:first-child")
    cells.first.wait_for()
    assert cells.count() >= 3
    for index in range(cells.count()):
        cell = cells.nth(index)
        assert cell.inner_text().strip(), "a When cell is empty"
        assert _lines(cell) == 1, f"When cell {cell.inner_text()!r} takes {_lines(cell)} lines at {viewport}"
    body = dialog.locator(".modal-body").bounding_box()
    for value in dialog.locator("table.history tbody td.new, table.history tbody td.old").all():
        box = value.bounding_box()
        assert box["x"] + box["width"] <= body["x"] + body["width"] + 1, "a value runs out of the dialog"
        assert box["width"] >= 80, f"a value column {box['width']} px wide shows a word a line"
    keep_shot(page, f"history_{viewport['width']}")


def _chat_file(tmp_path: Path) -> Path:
    lines = [
        {"user_name": "You", "character_name": "Ana", "create_date": "2024-9-28@01h02m36s"},
        {"name": "Ana", "is_user": False, "mes": "The oven is warm."},
    ]
    path = tmp_path / "ana.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines), encoding="utf-8")
    return path


def test_the_chat_import_names_its_format_before_and_after_a_card_is_given(
    page: Any, live_server: LiveServer, tmp_path: Path
) -> None:
    bot = live_server.author()
    card = live_server.client.get(f"/api/bots/{bot['id']}/card", params={"format": "png"})
    assert card.status_code == 200
    png = tmp_path / "Ana.png"
    png.write_bytes(card.content)
    expect_http_errors(page, 422)
    page.set_viewport_size(WIDE)
    open_app(page)
    button = page.locator("label[for=chat-file]")
    assert "(.jsonl)" in (button.get_attribute("title") or ""), "the button names the format"

    page.locator("#chat-file").set_input_files(str(png))
    dialog = page.locator("dialog.modal")
    hint = dialog.locator(".format-hint")
    hint.wait_for()
    assert "SillyTavern chat file (.jsonl" in hint.inner_text()
    warning = dialog.get_by_role("note")
    assert warning.inner_text() == (
        "“Ana.png” looks like a character card, not a chat: a card is imported with Import card… in Bots."
    ), "a card is called out before Import is pressed"
    keep_shot(page, "import_chat_card_given")
    dialog.get_by_role("button", name="Import").click()
    error = dialog.locator("p.error")
    error.wait_for()
    assert "character card (Ana)" in error.inner_text()
    assert hint.is_visible() and "(.jsonl" in hint.inner_text(), "the format stays named after the failure"
    keep_shot(page, "import_chat_card_refused")
    dialog.get_by_role("button", name="Cancel").click()

    page.locator("#chat-file").set_input_files(str(_chat_file(tmp_path)))
    hint.wait_for()
    assert dialog.get_by_role("note").count() == 0, "a .jsonl file needs no warning"
    assert "(.jsonl" in hint.inner_text()
    keep_shot(page, "import_chat_jsonl")


@pytest.mark.parametrize("live_server", [{"extraction_review": True, "sentiment_nudges": False}], indirect=True)
def test_a_scene_proposal_names_who_is_present(page: Any, live_server: LiveServer) -> None:
    live_server.author("Ana", "ana")
    live_server.author("Isolde", "isolde")
    live_server.author("Isolde", "isolde-2")
    live_server.api("PUT", "/api/persona", json={"name": "Sam"})
    scene = {"location": "the bakery", "present": ["ana", "isolde", "isolde-2", "you"]}
    live_server.use_script([{"match": "", "reply": "Come in.", "delay_ms": 5, "extraction": {"scene": scene}}])
    chat = live_server.chat_with("ana")
    page.set_viewport_size(WIDE)
    open_app(page, f"#/chat/{chat['id']}")
    composer = page.get_by_label("Message", exact=True)
    composer.fill("who is here?")
    composer.press("Enter")
    tray = page.get_by_role("region", name="Proposed changes")
    proposal = tray.locator(".proposal[data-kind='scene_changed'] .summary")
    proposal.wait_for()
    assert proposal.inner_text() == (
        "scene: location 'the bakery'; present Ana, Isolde (isolde), Isolde (isolde-2), Sam"
    ), proposal.inner_text()
    keep_shot(page, "review_scene_present")


def test_a_reply_whose_streamed_words_are_cut_shows_the_stored_text_once_stored(
    page: Any, live_server: LiveServer
) -> None:
    """A quoted line is known as another's only at its attribution, so its words stream
    first; the stored reply has none of them, and it takes the streamed text's place."""
    live_server.author("Ana", "ana")
    live_server.author("Bo", "bo")
    reply = 'Sit by the oven. "I will stay all night long," said Bo with a grin. More words.'
    live_server.use_script([{"match": "", "bot": "ana", "reply": reply, "delay_ms": 200},
                            {"match": "", "reply": "Evening.", "delay_ms": 5}])  # fmt: skip
    chat = live_server.chat_with("ana", "bo")
    page.set_viewport_size(WIDE)
    open_app(page, f"#/chat/{chat['id']}")
    composer = page.get_by_label("Message", exact=True)
    composer.fill("Ana, may I stay?")
    composer.press("Enter")
    page.locator(".msg.streaming", has_text="all night").wait_for()  # Bo's words did stream
    stored = page.locator(".msg-bot:not(.streaming)[data-author='ana'] .msg-text")
    stored.wait_for()
    page.locator(".msg.streaming").first.wait_for(state="detached", timeout=15_000)
    assert stored.inner_text() == "Sit by the oven."
    assert page.locator("#transcript", has_text="all night").count() == 0
    [message] = [m for m in live_server.api("GET", f"/api/chats/{chat['id']}/messages") if m["author"] == "ana"]
    assert message["text"] == "Sit by the oven."
    keep_shot(page, "reply_cleaned_after_stream")
