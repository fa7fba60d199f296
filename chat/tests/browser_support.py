"""Harness of the browser tests: the real app in-process and a watched Chromium page.

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
from collections.abc import Callable, Iterator
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
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    yield from serve(tmp_path, data_dir, SCRIPT_RULES, getattr(request, "param", {}))


def serve(
    tmp_path: Path, data_dir: Path, rules: list[dict[str, Any]], overrides: dict[str, Any]
) -> Iterator[LiveServer]:
    """Serve ``data_dir`` (which may hold a world already, e.g. from `kith init`) with the
    scripted backend reading ``rules``, until the generator is closed."""
    import uvicorn

    from chat.app.factory import create_app
    from chat.config import Settings

    script = tmp_path / "script.json"
    script.write_text(json.dumps({"rules": rules}), encoding="utf-8")
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


def kith_init(data_dir: Path) -> str:
    """`kith init` in ``data_dir`` in another process, as a new user runs it (the demo
    world Saltmere and its chat "Fog over Saltmere"); returns what it printed."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run([sys.executable, "-m", "chat.cli", "init", "--data-dir", str(data_dir)],
                          capture_output=True, text=True, timeout=120, env=env, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, live_server: LiveServer) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=live_server.url)
    context.set_default_timeout(10_000)
    tab = context.new_page()
    problems: list[str] = []  # every console error or warning, page error and CSP violation

    def on_console(message: Any) -> None:
        if message.type in ("error", "warning") or "Content Security Policy" in message.text:
            problems.append(f"console {message.type}: {message.text}")

    tab.on("console", on_console)
    tab.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    tab.kith_expected_statuses = set()  # see expect_http_errors
    yield tab
    context.close()
    allowed = tab.kith_expected_statuses
    unexpected = [p for p in problems if not any(_is_http_status(p, status) for status in allowed)]
    assert unexpected == [], "the page reported problems:\n" + "\n".join(unexpected)


def _is_http_status(problem: str, status: int) -> bool:
    return problem.startswith("console error: Failed to load resource: the server responded with a status of") and (
        f" {status} " in problem
    )


def expect_http_errors(page: Any, *statuses: int) -> None:
    """A test that makes the server refuse a request on purpose (a 422 for a bad value)
    says so; Chromium logs each refused fetch as a console error, which is then not a
    problem. Every other console error, page error and CSP violation still fails the test."""
    page.kith_expected_statuses.update(statuses)


def open_app(page: Any, route: str = "") -> None:
    page.goto(f"/{route}")
    page.wait_for_selector("body[data-ready='1']")


def keep_shot(page: Any, name: str) -> None:
    """A screenshot of the page as ``$KITH_SHOTS/<name>.png`` when KITH_SHOTS is set (for a
    person to look at what a test checked); nothing otherwise."""
    folder = os.environ.get("KITH_SHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"))


def until(check: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Poll ``check`` from Python until it holds (the page's CSP refuses the string that
    Playwright's wait_for_function evaluates); fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
