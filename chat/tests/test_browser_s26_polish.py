"""What session 26's newcomer walk left in the web UI, checked in Chromium at 1366×768:

* The demo chat's greeting said "nods at You." after the person named themselves in the
  first-run banner: it now says their name at once, and so does the next prompt.
* The event log named a world by its name in one line ("world created: The Ashfall
  Isles") and by its id in the next ("world the-ashfall-isles archived"): names
  everywhere, the id in the name's tooltip.
* Deleting a reply whose turn left proposals in the review tray said nothing of them:
  the dialog says how many wait, that deleting keeps them and rewinding drops them; the
  rewind's own confirmation says how many it drops.
* "Worlds…" was named "Manage worlds" for assistive technology (WCAG 2.5.3, label in
  name): every control with an aria-label now has its visible words in its name.
* An archived world's chats were read-only, but its state panel and lore still offered
  every edit (which the server now refuses with 409): the values show as text, the edit
  controls go, a note says why; restoring the world brings them back.

``KITH_SHOTS=/some/dir`` keeps a 1366×768 screenshot of each screen checked.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from chat.tests import browser_support as support
from chat.tests.browser_support import LiveServer, keep_shot, open_app, until
from chat.tests.test_chapters import LINES

pytestmark = [pytest.mark.browser, pytest.mark.slow]

browser = support.browser
live_server = support.live_server
page = support.page

WIDE = {"width": 1366, "height": 768}
REVIEW = {"extraction_review": True, "sentiment_nudges": False}
CHAPTERS = {"context_length": 700, "sentiment_nudges": False}

LABEL_IN_NAME = """() => {
  const words = (t) => (t || "").toLowerCase().replace(/[^\\p{L}\\p{N}]+/gu, " ").trim();
  const out = [];
  for (const el of document.querySelectorAll("button[aria-label], a[aria-label], summary[aria-label], [role=button][aria-label], [role=tab][aria-label]")) {
    if (!el.offsetParent && el.tagName !== "SUMMARY") continue;  // not shown
    const seen = words(el.innerText);
    if (seen && !words(el.getAttribute("aria-label")).includes(seen)) out.push(`${el.getAttribute("aria-label")} / ${el.innerText}`);
  }
  return out;
}"""


@pytest.fixture
def first_run(tmp_path: Path) -> Any:
    """`kith init` in a fresh data directory (Saltmere, "Fog over Saltmere"), then the app on it."""
    support.require_chromium()
    data_dir = tmp_path / "data"
    support.kith_init(data_dir)
    yield from support.serve(tmp_path, data_dir, [{"match": "", "reply": "{{char}} nods at {{user}}."}], {})


def test_naming_yourself_in_the_banner_renames_you_in_the_demo_greeting(browser: Any, first_run: LiveServer) -> None:
    context = browser.new_context(viewport=WIDE, base_url=first_run.url)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    chat = first_run.api("GET", "/api/chats")[0]
    open_app(tab, f"#/chat/{chat['id']}")
    greeting = tab.locator("#transcript .msg-bot").first
    greeting.get_by_text("nods at You.").wait_for()
    banner = tab.get_by_role("region", name="Your name")
    banner.get_by_role("textbox", name="Your name").fill("Sam")
    keep_shot(tab, "s26_banner_before")
    banner.get_by_role("button", name="Save").click()
    greeting.get_by_text("nods at Sam.").wait_for()  # at once, no reload
    assert "You." not in greeting.inner_text()
    assert greeting.locator(".badge", has_text="edited").count() == 0  # no one edited it
    keep_shot(tab, "s26_banner_named")
    tab.get_by_label("Message", exact=True).fill("Morning, Mara.")
    tab.get_by_label("Message", exact=True).press("Enter")
    tab.locator("#transcript .msg-bot", has_text="Mara Quinn nods at Sam.").first.wait_for()
    tab.reload()
    tab.wait_for_selector("body[data-ready='1']")
    tab.locator("#transcript .msg-bot").first.get_by_text("nods at Sam.").wait_for()
    open_app(tab, "#/events")  # the log says what Kith did, and why
    tab.locator("#events-body .ev-line", has_text="a greeting written again with your name: “Fog rolls").wait_for()
    context.close()
    assert errors == []


def test_the_event_log_names_worlds_by_name_with_the_id_at_hand(page: Any, live_server: LiveServer) -> None:
    live_server.api("POST", "/api/worlds", json={"name": "Harbour", "id": "harbour"})
    live_server.author(world_id="harbour")
    world = live_server.api("POST", "/api/worlds", json={"name": "The Ashfall Isles"})
    assert world["id"] != "The Ashfall Isles"
    live_server.api("PUT", "/api/persona", json={"name": "Wren", "world_id": world["id"]})
    live_server.api("POST", f"/api/worlds/{world['id']}/archive")
    live_server.api("POST", f"/api/worlds/{world['id']}/restore")
    page.set_viewport_size(WIDE)
    open_app(page, "#/events")
    lines = page.locator("#events-body .ev-line")
    lines.filter(has_text="restored").wait_for()
    said = "\n".join(lines.all_inner_texts())
    for line in ("world created: The Ashfall Isles", "world The Ashfall Isles archived",
                 "world The Ashfall Isles restored",
                 "you are “Wren” in world The Ashfall Isles"):
        assert line in said, said
    assert world["id"] not in said, said
    refs = page.locator("#events-body .world-ref")
    assert refs.count() == 5
    assert set(refs.evaluate_all("els => els.map(e => e.title)")) == {f"world id: {world['id']}", "world id: harbour"}
    keep_shot(page, "s26_event_log_worlds")


@pytest.mark.parametrize("live_server", [REVIEW], indirect=True)
def test_the_delete_dialog_says_how_many_proposals_wait_and_what_becomes_of_them(page: Any, live_server: LiveServer) -> None:
    support.expect_http_errors(page)
    live_server.author()
    chat = live_server.chat_with("ana")
    live_server.say(chat["id"], "good morning to the whole bakery crew")
    waiting = live_server.api("GET", f"/api/chats/{chat['id']}/proposals")
    assert len(waiting) == 4
    page.set_viewport_size(WIDE)
    open_app(page, f"#/chat/{chat['id']}")
    page.get_by_role("region", name="Proposed changes").get_by_role("heading", name="Proposed changes (4)").wait_for()
    reply = page.locator("#transcript .msg-bot").last
    reply.hover()
    reply.get_by_role("button", name="Delete message by Ana").click()
    dialog = page.get_by_role("dialog", name="Delete message")
    note = dialog.locator(".proposals-waiting")
    note.wait_for()
    assert note.inner_text() == (
        "4 proposed changes from its turn are still waiting in the review tray. Deleting the message leaves them"
        " there to accept or reject; rewinding instead drops them."
    )
    assert dialog.get_by_role("button", name="Rewind instead").is_visible()
    keep_shot(page, "s26_delete_dialog_proposals")
    dialog.get_by_role("button", name="Cancel").click()
    # the rewind's own confirmation counts them too
    mine = page.locator("#transcript .msg-you").last
    mine.hover()
    mine.get_by_role("button", name=re.compile("^Rewind")).click()
    confirm = page.get_by_role("dialog", name="Rewind the chat")
    confirm.get_by_text("4 proposed changes still waiting in the review tray will be dropped.").wait_for()
    keep_shot(page, "s26_rewind_confirm_proposals")
    confirm.get_by_role("button", name="Cancel").click()
    # deleting the message only leaves them waiting, as the dialog said
    reply.hover()
    reply.get_by_role("button", name="Delete message by Ana").click()
    dialog.get_by_role("button", name="Delete the message only").click()
    until(lambda: page.locator("#transcript .msg-bot").count() == 0, "the reply deleted")
    assert len(live_server.api("GET", f"/api/chats/{chat['id']}/proposals")) == 4


@pytest.mark.parametrize("live_server", [REVIEW], indirect=True)
def test_every_control_with_an_aria_label_has_its_visible_words_in_its_name(page: Any, live_server: LiveServer) -> None:
    live_server.author()
    live_server.api("PUT", "/api/persona", json={"name": "Wren"})
    chat = live_server.chat_with("ana")
    live_server.say(chat["id"], "Tell me about the bakery")
    page.set_viewport_size(WIDE)
    open_app(page, f"#/chat/{chat['id']}")
    assert page.get_by_role("button", name="Worlds…", exact=True).is_visible()  # was "Manage worlds"
    page.locator("#transcript .msg-bot").last.hover()
    mismatched: list[str] = []
    for tab in ("Relationships", "Memories", "Entities", "World"):
        page.get_by_role("tab", name=tab).click()
        page.wait_for_timeout(300)
        if tab == "Relationships":
            page.locator("svg.graph .edge").first.click()
            page.wait_for_timeout(300)
        mismatched += page.evaluate(LABEL_IN_NAME)
    page.get_by_role("button", name="Worlds…").click()
    page.get_by_role("dialog", name="Worlds").wait_for()
    mismatched += page.evaluate(LABEL_IN_NAME)
    keep_shot(page, "s26_worlds_dialog")
    page.keyboard.press("Escape")
    for route in ("#/bots/ana", "#/events", "#/settings"):
        open_app(page, route)
        page.wait_for_timeout(400)
        mismatched += page.evaluate(LABEL_IN_NAME)
    assert mismatched == []


def _archived_world_with_state(live_server: LiveServer) -> tuple[dict[str, Any], dict[str, Any]]:
    """Saltmere with Ana, an entity, a memory, a pinned fact, lore, a relationship and a chat
    long enough for a chapter; then archived."""
    salt = live_server.api("POST", "/api/worlds", json={"name": "Saltmere", "id": "saltmere"})
    live_server.api("POST", "/api/worlds", json={"name": "Ashfall"})
    live_server.api("PUT", "/api/persona", json={"name": "Wren"})
    live_server.author(world_id="saltmere")
    scoped = {"params": {"world": "saltmere"}}
    live_server.api("POST", "/api/entities", json={"name": "The Heron", "kind": "thing"}, **scoped)
    live_server.api("POST", "/api/memories", json={"owner": "ana", "text": "The Heron leaks."}, **scoped)
    live_server.api("PUT", "/api/world/weather", json={"value": "thick fog"}, **scoped)
    live_server.api("PATCH", "/api/edges/ana/you", json={"affinity": 30, "label": "friend"}, **scoped)
    lore = {"entries": [{"name": "The Teeth", "keys": ["reef"], "content": "A reef.", "enabled": True}]}
    live_server.api("PUT", "/api/lore", json=lore, params={"world": "saltmere", "bot": "ana"})
    chat = live_server.api("POST", "/api/chats", json={"bot_ids": ["ana"], "world_id": "saltmere", "title": "Fog"})
    for n in range(14):
        live_server.say(chat["id"], f"{LINES[n % 6]} ({n})")
    assert live_server.api("GET", f"/api/chats/{chat['id']}/chapters")
    live_server.api("POST", "/api/worlds/saltmere/archive")
    return salt, chat


@pytest.mark.parametrize("live_server", [CHAPTERS], indirect=True)
def test_an_archived_worlds_state_panel_and_lore_show_without_edit_controls(page: Any, live_server: LiveServer) -> None:
    _, chat = _archived_world_with_state(live_server)
    page.set_viewport_size(WIDE)
    open_app(page, f"#/chat/{chat['id']}")
    panel = page.locator("#state-panel")
    note = panel.locator("#state-archived .archived-note")
    note.wait_for()
    assert "Saltmere is archived" in note.inner_text() and "Restore the world" in note.inner_text()

    panel.get_by_role("tab", name="Relationships").click()
    panel.locator("svg.graph .edge[data-src='ana'][data-dst='you']").click()
    panel.locator(".edge-detail .editable-value.read-only", has_text="friend").wait_for()
    assert panel.locator(".edge-detail button.editable-value").count() == 0
    assert panel.locator(".edge-detail .pin-read-only").count() >= 1  # pinned, said, not a button
    assert not panel.locator("summary", has_text="Add relationship").is_visible()
    keep_shot(page, "s26_archived_relationships")

    panel.get_by_role("tab", name="Memories").click()
    panel.locator(".memory .editable-value.read-only", has_text="The Heron leaks.").wait_for()
    assert panel.locator(".memory button.editable-value").count() == 0
    assert not panel.get_by_role("button", name="Delete memory").first.is_visible()
    assert not panel.get_by_text("Mark superseded by…").first.is_visible()
    assert not panel.locator("summary", has_text="Add memory").is_visible()
    assert panel.get_by_role("searchbox", name="Search memories").is_enabled()  # reading stays
    keep_shot(page, "s26_archived_memories")

    panel.get_by_role("tab", name="Entities").click()
    panel.locator(".entity .editable-value.read-only", has_text="The Heron").first.wait_for()
    assert panel.locator(".entity button.editable-value").count() == 0
    assert not panel.locator("summary", has_text="Add entity").is_visible()

    panel.get_by_role("tab", name="World").click()
    panel.locator(".facts .editable-value.read-only", has_text="thick fog").wait_for()
    assert panel.locator("button.editable-value").count() == 0
    assert not panel.get_by_role("button", name="Delete world fact weather").is_visible()
    assert not panel.get_by_role("form", name="Add a world fact").is_visible()
    boxes = panel.locator(".scene-present input[type=checkbox]")
    assert boxes.count() >= 1 and all(boxes.nth(i).is_disabled() for i in range(boxes.count()))
    keep_shot(page, "s26_archived_world_tab")

    chapter = page.locator("#transcript li.chapter").first
    page.locator("#transcript").evaluate("el => { el.scrollTop = 0; }")
    chapter.wait_for()
    chapter.locator("summary").click()
    assert not chapter.get_by_role("button", name=re.compile("^Edit chapter")).is_visible()

    open_app(page, "#/bots/ana")
    lore = page.get_by_role("region", name="Lore")
    lore.get_by_role("heading", name="Lore (1 entry)").wait_for()
    assert "archived" in lore.locator(".archived-note").inner_text()
    assert lore.get_by_role("button", name="Add entry").count() == 0
    assert lore.get_by_role("button", name="Edit The Teeth").count() == 0
    assert lore.get_by_role("button", name="Delete The Teeth").count() == 0
    assert lore.get_by_role("checkbox", name="Enabled: The Teeth").is_disabled()
    lore.locator(".lore-read summary").click()
    assert lore.locator(".lore-read").get_by_text("A reef.").is_visible()  # the content can be read
    keep_shot(page, "s26_archived_lore")

    # restored from the Worlds dialog, the edit controls come back
    open_app(page, f"#/chat/{chat['id']}")
    page.get_by_role("button", name="Worlds…", exact=True).click()
    page.get_by_role("dialog", name="Worlds").get_by_role("button", name="Restore Saltmere").click()
    page.get_by_role("dialog", name="Worlds").get_by_role("button", name="Archive Saltmere").wait_for()
    page.keyboard.press("Escape")
    panel.get_by_role("tab", name="World").click()
    panel.get_by_role("button", name=re.compile("^Edit world fact weather")).wait_for()
    assert panel.locator("#state-archived .archived-note").count() == 0
