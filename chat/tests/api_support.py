"""Helpers for the web app tests: a running app in-process, and a raw SSE reader.

`running_app` runs the real lifespan (runtime start: migrate, cold load, worker) and
yields an ``httpx.AsyncClient`` over ``ASGITransport``. httpx buffers whole
responses there, so `SSEReader` drives the ASGI app directly to read a stream
event by event and then disconnect like a browser closing the tab.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from chat.app import create_app
from chat.config import Settings
from chat.db.connection import open_db
from chat.eventlog.log import last_event_id

BASE_URL = "http://127.0.0.1:8765"
UPLOAD = {"X-Kith-Request": "1"}
"""The header a browser's form upload cannot send: what the API asks of multipart posts."""
"""Loopback, as a browser on this machine sends it (other Host names are refused)."""

BOT = {
    "name": "Ada",
    "persona": "A patient engineer.",
    "voice_samples": ["Let us measure it."],
    "traits": ["curious"],
    "backstory": "Grew up by the sea.",
    "initial_relationship_to_you": "coworker",
    "kickoff_prose": "",
}


def make_settings(data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"data_dir": data_dir, "backend": "scripted"}
    values.update(overrides)
    return Settings(**values)


@asynccontextmanager
async def running_app(
    settings: Settings, **kwargs: Any
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = create_app(settings, **kwargs)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
            yield app, client


def runtime_of(app: FastAPI) -> Any:
    return app.state.kith.runtime


def log_end(data_dir: Path) -> int:
    with open_db(Path(data_dir) / "kith.db") as conn:
        return last_event_id(conn)


async def queue_turn(app: FastAPI, client: httpx.AsyncClient, chat_id: str, action: str) -> dict[str, Any]:
    """POST a chat action that queues a turn (regenerate, continue, respond), wait for the
    chat to be idle, and return the turn as it ended."""
    response = await client.post(f"/api/chats/{chat_id}/{action}")
    assert response.status_code == 202, response.text
    await runtime_of(app).wait_idle(chat_id)
    return (await client.get(f"/api/turns/{response.json()['turn_id']}")).json()


async def api_log_end(client: httpx.AsyncClient) -> int:
    """The log's last event id as the API reports it: unchanged means nothing was written."""
    return int((await client.get("/api/health")).json()["last_event_id"])


async def make_bot(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    response = await client.post("/api/bots", json={**BOT, **fields})
    assert response.status_code == 201, response.text
    return response.json()


async def make_chat(client: httpx.AsyncClient, bot_ids: list[str], title: str = "Test") -> dict:
    response = await client.post("/api/chats", json={"title": title, "bot_ids": bot_ids})
    assert response.status_code == 201, response.text
    return response.json()


async def say(app: FastAPI, client: httpx.AsyncClient, chat_id: str, text: str) -> dict[str, Any]:
    """Post a message, wait for its turn to finish, return the turn."""
    response = await client.post(f"/api/chats/{chat_id}/messages", json={"text": text})
    assert response.status_code == 202, response.text
    await runtime_of(app).wait_idle(chat_id)
    turn = await client.get(f"/api/turns/{response.json()['turn_id']}")
    assert turn.status_code == 200, turn.text
    return turn.json()


def assert_error(response: httpx.Response, status: int, field: str | None = None) -> dict:
    """The response is the API's error shape with this status (and field, when given)."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    assert isinstance(body["error"]["code"], str) and body["error"]["message"], body
    if field is not None:
        assert body["error"].get("field") == field, body
    return body["error"]


class SSEReader:
    """Read a server-sent event stream straight from the ASGI app, then disconnect."""

    def __init__(self, app: FastAPI, path: str, headers: list[tuple[bytes, bytes]] | None = None):
        self.app = app
        self.path = path
        self.headers = headers or []
        self.status: int | None = None
        self.response_headers: dict[str, str] = {}
        self._chunks: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._disconnect = asyncio.Event()
        self._buffer = ""
        self._task: asyncio.Task | None = None
        self.comments: list[str] = []

    async def __aenter__(self) -> SSEReader:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": self.path,
            "raw_path": self.path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"127.0.0.1:8765"), *self.headers],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8765),
        }
        sent_request = False

        async def receive() -> dict[str, Any]:
            nonlocal sent_request
            if not sent_request:
                sent_request = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await self._disconnect.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                self.status = message["status"]
                self.response_headers = {
                    k.decode().lower(): v.decode() for k, v in message.get("headers", [])
                }
            elif message["type"] == "http.response.body":
                await self._chunks.put(message.get("body", b""))
                if not message.get("more_body", False):
                    await self._chunks.put(None)  # the response is complete

        self._task = asyncio.create_task(self.app(scope, receive, send))
        while self.status is None:
            await asyncio.sleep(0.005)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._disconnect.set()
        assert self._task is not None
        await asyncio.wait_for(self._task, timeout=5)

    async def next_block(self, timeout: float = 10.0) -> tuple[str | None, Any]:
        """The next SSE block as ``(event, data)``; a comment-only block gives ``(None, None)``."""
        while "\n\n" not in self._buffer:
            chunk = await asyncio.wait_for(self._chunks.get(), timeout)
            if chunk is None:
                raise EOFError("the stream ended")
            self._buffer += chunk.decode()
        block, self._buffer = self._buffer.split("\n\n", 1)
        event, data = None, None
        for line in block.split("\n"):
            if line.startswith(":"):
                self.comments.append(line[1:].strip())
            elif line.startswith("event: "):
                event = line[len("event: ") :]
            elif line.startswith("data: "):
                data = json.loads(line[len("data: ") :])
        return event, data

    async def next_event(self, timeout: float = 10.0) -> tuple[str, Any]:
        """The next ``(event, data)``; comments (keep-alives) are collected on the side."""
        while True:
            event, data = await self.next_block(timeout)
            if event is not None:
                return event, data

    async def events_until(
        self, predicate: Any, timeout: float = 10.0
    ) -> list[tuple[str, Any]]:
        """Every event up to and including the first for which ``predicate(event, data)``."""
        seen = []
        async with asyncio.timeout(timeout):
            while True:
                item = await self.next_event(timeout)
                seen.append(item)
                if predicate(*item):
                    return seen
