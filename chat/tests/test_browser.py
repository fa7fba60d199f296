"""The web UI in a real Chromium (§11.1, §12.2, §14.6), against the real app in-process.

Each test starts its own server (`create_app` with the scripted backend and a temporary
data directory) on a free 127.0.0.1 port and drives Debian's Chromium through
Playwright. Every page is watched for console errors, page errors and CSP violations;
a test fails if any appear. Without /usr/bin/chromium the tests skip, unless
KITH_REQUIRE_BROWSER=1 or CI=true, where they fail.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
MARKUP = '<script>window.__pwned=1</script> and <img src=x onerror="window.__pwned=1">'
SCRIPT_RULES: list[dict[str, Any]] = [
    {"match": "markup", "reply": f"Here it is: {MARKUP} -- plain text.", "delay_ms": 5},
    {"match": "long story", "reply": " ".join(["word"] * 200), "delay_ms": 150},
    {
        "match": "bakery",
        "reply": "The bakery smells of cardamom, {{user}}. Sit, I'll bring you a bun.",
        "delay_ms": 20,
        "extraction": {
            "edges": [{"src": "ana", "dst": "you", "affinity_delta": 8, "trust_delta": 4, "label": "friend"}],
            "memories": [
                {"owner": "ana", "text": "{{user}} came to the bakery", "importance": 6, "about": ["you"]}
            ],
            "world": [{"key": "weather", "value": "light rain"}],
            "scene": {"location": "the bakery", "present": ["ana", "you"]},
        },
    },
    {"match": "", "reply": "{{char}} heard you say: {{message}}", "delay_ms": 40},
]

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _browser_required() -> bool:
    return os.environ.get("KITH_REQUIRE_BROWSER") == "1" or os.environ.get("CI", "").lower() == "true"


def require_chromium() -> None:
    if CHROMIUM.exists():
        return
    if _browser_required():
        pytest.fail(f"{CHROMIUM} is missing (install it: apt-get install -y chromium)")
    pytest.skip(f"{CHROMIUM} is missing; set KITH_REQUIRE_BROWSER=1 to make this a failure")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    """The real Kith app served by uvicorn in a background thread."""

    url: str
    data_dir: Path
    script: Path
    client: httpx.Client = field(repr=False)

    def use_script(self, rules: list[dict[str, Any]]) -> None:
        """Replace the scripted backend's rules (it re-reads the file when it changes)."""
        self.script.write_text(json.dumps({"rules": rules}), encoding="utf-8")

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.client.request(method, path, **kwargs)
        assert response.status_code < 400, f"{method} {path}: {response.status_code} {response.text}"
        return response.json() if response.content else None

    def wait_turn(self, turn_id: str, timeout: float = 15.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            turn = self.api("GET", f"/api/turns/{turn_id}")
            if turn["status"] in ("completed", "failed", "reverted"):
                return turn
            assert time.monotonic() < deadline, f"turn {turn_id} still {turn['status']}"
            time.sleep(0.05)

    def author(self, name: str = "Ana", bot_id: str = "ana", **fields: Any) -> dict[str, Any]:
        body = {"id": bot_id, "name": name, "persona": f"{name} runs a bakery.", **fields}
        return self.api("POST", "/api/bots", json=body)

    def chat_with(self, *bot_ids: str, title: str = "At the bakery") -> dict[str, Any]:
        return self.api("POST", "/api/chats", json={"bot_ids": list(bot_ids), "title": title})

    def say(self, chat_id: str, text: str) -> dict[str, Any]:
        posted = self.api("POST", f"/api/chats/{chat_id}/messages", json={"text": text})
        return self.wait_turn(posted["turn_id"])


@pytest.fixture
def live_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LiveServer]:
    """The app on a free port; parametrize indirectly with a dict of extra Settings."""
    require_chromium()
    import uvicorn

    from chat.app.factory import create_app
    from chat.config import Settings

    data_dir = tmp_path / "data"
    data_dir.mkdir()
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"rules": SCRIPT_RULES}), encoding="utf-8")
    overrides: dict[str, Any] = getattr(request, "param", {})
    settings = Settings(data_dir=data_dir, backend="scripted", script_path=script, **overrides)
    port = free_port()
    config = uvicorn.Config(
        create_app(settings, keepalive_s=1.0),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="kith-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive(), "the server thread died while starting"
        assert time.monotonic() < deadline, "the server did not start within 20 s"
        time.sleep(0.02)
    url = f"http://127.0.0.1:{port}"
    token = overrides.get("access_token")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with httpx.Client(base_url=url, timeout=10, headers=headers) as client:
        yield LiveServer(url=url, data_dir=data_dir, script=script, client=client)
        server.should_exit = True
        thread.join(15)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@dataclass
class Watched:
    """A page, and every console error, page error and CSP violation it produced."""

    page: Any
    problems: list[str]


@pytest.fixture
def page(browser: Any, live_server: LiveServer) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=live_server.url)
    context.set_default_timeout(10_000)
    tab = context.new_page()
    watched = Watched(tab, [])

    def on_console(message: Any) -> None:
        if message.type in ("error", "warning") or "Content Security Policy" in message.text:
            watched.problems.append(f"console {message.type}: {message.text}")

    tab.on("console", on_console)
    tab.on("pageerror", lambda exc: watched.problems.append(f"page error: {exc}"))
    yield tab
    context.close()
    assert watched.problems == [], "the page reported problems:\n" + "\n".join(watched.problems)


def open_app(page: Any, route: str = "") -> None:
    page.goto(f"/{route}")
    page.wait_for_selector("body[data-ready='1']")


def test_author_revise_and_retire_a_bot_through_the_ui(page: Any, live_server: LiveServer) -> None:
    open_app(page, "#/bots/new")
    form = page.locator("form.bot-form")
    form.locator("input[name=name]").fill("Mira Vale")
    form.locator("input[name=id]").fill("mira")
    form.locator("textarea[name=persona]").fill("A lighthouse keeper who collects storms.")
    form.locator("input[name=traits]").fill("calm, wry")
    form.locator("textarea[name=backstory]").fill("Grew up on the cliffs.")
    form.locator("input[name=initial_relationship_to_you]").fill("neighbour")
    form.locator("textarea[name=kickoff_prose]").fill("Mira waves from the lamp room.")
    form.locator("textarea[name=scenario]").fill("A windy coast.")
    form.locator("input[name=tags]").fill("coast, fantasy")
    form.get_by_role("button", name="Add voice sample").click()
    page.keyboard.type("The sea keeps its own hours.")
    form.get_by_role("button", name="Add greeting").click()
    page.keyboard.type("Storm's coming. Tea?")
    form.locator("input[name=talkativeness]").fill("0.8")
    form.get_by_role("button", name="Create bot").click()
    page.wait_for_url("**/#/bots/mira")
    page.get_by_role("heading", name="Mira Vale").wait_for()

    bot = live_server.api("GET", "/api/bots/mira")
    assert bot["persona"] == "A lighthouse keeper who collects storms."
    assert bot["traits"] == ["calm", "wry"]
    assert bot["voice_samples"] == ["The sea keeps its own hours."]
    assert bot["alternate_greetings"] == ["Storm's coming. Tea?"]
    assert bot["initial_relationship_to_you"] == "neighbour"
    assert bot["tags"] == ["coast", "fantasy"]
    assert bot["talkativeness"] == pytest.approx(0.8)
    assert bot["scenario"] == "A windy coast."

    page.locator("textarea[name=persona]").fill("A retired lighthouse keeper.")
    page.get_by_role("button", name="Save changes").click()
    page.get_by_text("Saved Mira Vale.").wait_for()
    assert live_server.api("GET", "/api/bots/mira")["persona"] == "A retired lighthouse keeper."
    assert page.get_by_role("link", name="Export Mira Vale as V3 JSON").get_attribute("href") == (
        "/api/bots/mira/card?format=v3"
    )

    page.get_by_role("button", name="Retire").click()
    page.get_by_role("dialog").get_by_role("button", name="Retire").click()
    page.wait_for_url("**/#/bots")
    assert live_server.api("GET", "/api/bots/mira")["retired"] is True


def test_import_a_card_file(page: Any, live_server: LiveServer, tmp_path: Path) -> None:
    card = {
        "spec": "chara_card_v2",
        "spec_version": "2.0",
        "data": {
            "name": "Card Person",
            "description": "Imported from a card.",
            "personality": "kind",
            "scenario": "",
            "first_mes": "Hello from the card.",
            "mes_example": "",
        },
    }
    path = tmp_path / "card.json"
    path.write_text(json.dumps(card), encoding="utf-8")
    open_app(page, "#/bots")
    page.locator("#card-file").set_input_files(str(path))
    page.get_by_role("heading", name="Card Person").wait_for()
    bots = live_server.api("GET", "/api/bots")
    assert [b["name"] for b in bots] == ["Card Person"]


def test_new_chat_streams_a_reply_token_by_token(page: Any, live_server: LiveServer) -> None:
    live_server.author()
    open_app(page)
    page.get_by_role("button", name="New chat").click()
    page.get_by_label("Title").fill("Morning")
    page.get_by_role("checkbox", name="Ana").check()
    page.get_by_role("button", name="Create chat").click()
    page.get_by_role("heading", name="Morning").wait_for()

    composer = page.get_by_label("Message", exact=True)
    composer.fill("good morning to the whole bakery crew")
    composer.press("Enter")
    streaming = page.locator(".msg.streaming")
    streaming.wait_for()  # the reply is visible while it is still being written
    partial = streaming.locator(".msg-text").inner_text()
    final = page.locator(".msg-bot:not(.streaming)", has_text="cardamom")
    final.wait_for()
    assert partial != final.locator(".msg-text").inner_text()
    assert composer.input_value() == ""
    page.locator(".msg.streaming").wait_for(state="detached")

    graph = page.locator("svg.graph")
    # the state event redraws the graph: Ana's arrow to you now carries the extracted +8
    edge = graph.locator(".edge[data-src='ana'][data-dst='you'][aria-label*='affinity 8,']")
    edge.wait_for()
    assert graph.locator(".node[data-id='ana']").count() == 1
    assert graph.locator(".node[data-id='you']").count() == 1
    edge.focus()
    page.keyboard.press("Enter")
    page.locator("svg.chart .pt").first.wait_for()
    assert page.locator("svg.chart .pt").count() == 2


def test_memory_edited_inline_persists_after_reload(page: Any, live_server: LiveServer) -> None:
    live_server.author()
    chat = live_server.chat_with("ana")
    assert live_server.say(chat["id"], "I bake rye on Sundays")["status"] == "completed"
    open_app(page, f"#/chat/{chat['id']}")
    page.get_by_role("tab", name="Memories").click()
    memory = page.locator(".memory").first
    memory.get_by_role("button", name="Edit memory text").click()
    box = memory.get_by_role("textbox", name="memory text")
    box.fill("You bake spelt, not rye, on Sundays")
    box.press("Enter")
    page.get_by_text("Saved text of the memory.").wait_for()

    page.reload()
    page.wait_for_selector("body[data-ready='1']")
    page.get_by_role("tab", name="Memories").click()
    edited = page.locator(".memory", has_text="You bake spelt, not rye, on Sundays")
    edited.wait_for()
    assert edited.get_by_role("button", name="text is pinned; unpin it").is_visible()
    texts = [m["text"] for m in live_server.api("GET", "/api/memories", params={"owner": "ana"})]
    assert "You bake spelt, not rye, on Sundays" in texts


def test_rewind_removes_the_later_messages(page: Any, live_server: LiveServer) -> None:
    live_server.author()
    chat = live_server.chat_with("ana")
    live_server.say(chat["id"], "first question")
    live_server.say(chat["id"], "second question")
    open_app(page, f"#/chat/{chat['id']}")
    second = page.locator(".msg-you", has_text="second question")
    second.hover()
    second.get_by_role("button", name="Rewind to before this message").click()
    page.get_by_role("dialog").get_by_role("button", name="Rewind").click()
    second.wait_for(state="detached")
    assert page.locator(".msg", has_text="heard you say: second question").count() == 0
    assert page.locator(".msg", has_text="heard you say: first question").count() == 1
    texts = [m["text"] for m in live_server.api("GET", f"/api/chats/{chat['id']}/messages")]
    assert not any("second question" in text for text in texts)

    page.get_by_role("link", name="Event log").click()
    page.locator(".reverted-badge").first.wait_for()


def test_bot_markup_is_shown_as_text_and_never_runs(page: Any, live_server: LiveServer) -> None:
    live_server.author()
    chat = live_server.chat_with("ana")
    open_app(page, f"#/chat/{chat['id']}")
    composer = page.get_by_label("Message", exact=True)
    composer.fill("show me some markup")
    composer.press("Enter")
    reply = page.locator(".msg-bot:not(.streaming)", has_text="plain text.")
    reply.wait_for()
    assert MARKUP in reply.locator(".msg-text").inner_text()
    assert page.locator("#transcript script, #transcript img").count() == 0
    page.wait_for_timeout(300)  # an onerror handler would have fired by now
    assert page.evaluate("() => window.__pwned") is None


def test_stop_then_retry_a_turn(page: Any, live_server: LiveServer) -> None:
    live_server.author()
    chat = live_server.chat_with("ana")
    open_app(page, f"#/chat/{chat['id']}")
    composer = page.get_by_label("Message", exact=True)
    composer.fill("tell me a long story")
    composer.press("Enter")
    page.locator(".msg.streaming").wait_for()
    page.keyboard.press("Escape")
    failed = page.locator(".turn-failed")
    failed.wait_for()
    assert page.locator(".msg.streaming").count() == 0
    failed.get_by_role("button", name="Retry").click()
    page.locator(".msg.streaming").wait_for()
    page.get_by_role("button", name="Stop").click()
    failed.wait_for()


def test_regenerate_and_switch_alternatives(page: Any, live_server: LiveServer) -> None:
    live_server.author()
    chat = live_server.chat_with("ana")
    live_server.say(chat["id"], "a short hello")
    open_app(page, f"#/chat/{chat['id']}")
    last = page.locator(".msg-bot").last
    last.hover()
    last.get_by_role("button", name="Regenerate this reply").click()
    page.locator(".alt-count", has_text="2/2").wait_for()
    page.get_by_role("button", name="Previous alternative").click()
    page.locator(".alt-count", has_text="1/2").wait_for()
    last = page.locator(".msg-bot").last
    last.hover()
    last.get_by_role("button", name="Why did it say that?").click()
    dialog = page.get_by_role("dialog")
    dialog.locator(".prompt-msg").first.wait_for()
    page.keyboard.press("Escape")
    dialog.wait_for(state="detached")


@pytest.mark.parametrize("live_server", [{"access_token": "s3cret-token"}], indirect=True)
def test_with_an_access_token_the_ui_works_after_login(page: Any, live_server: LiveServer) -> None:
    assert httpx.get(f"{live_server.url}/api/health").status_code == 401
    live_server.author()
    chat = live_server.chat_with("ana", title="Behind a token")
    page.goto("/?token=s3cret-token")  # the server sets its cookie and drops the token from the URL
    page.wait_for_selector("body[data-ready='1']")
    assert "token" not in page.url
    page.get_by_role("heading", name="Behind a token").wait_for()
    composer = page.get_by_label("Message", exact=True)
    composer.fill("hello through the token")
    composer.press("Enter")
    page.locator(".msg-bot:not(.streaming)", has_text="heard you say: hello through the token").wait_for()
    assert chat["id"] in page.url
