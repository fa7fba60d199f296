"""GET /api/settings/backend-check: a server's base URL and key are checked when asked,
against a real local OpenAI-compatible server (chat/tests/llm_fault_server.py)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from chat.tests.api_support import make_settings, running_app
from chat.tests.llm_fault_server import FaultServer

pytestmark = pytest.mark.anyio


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_a_server_that_answers_is_ok_and_one_that_does_not_is_named(
    data_dir: Path, fault_server: FaultServer
) -> None:
    async with running_app(make_settings(data_dir)) as (_app, client):
        assert (await client.get("/api/settings/backend-check")).json() == {
            "backend": "scripted", "ok": True, "problem": None,
        }  # fmt: skip
        good = fault_server.url("ok")
        assert (await client.put("/api/settings", json={"backend": "openai", "base_url": good})).status_code == 200
        assert (await client.get("/api/settings/backend-check")).json() == {
            "backend": "openai", "ok": True, "problem": None,
        }  # fmt: skip

        no_list = fault_server.url("nomodels")  # serves chat, has no model list: not a problem
        assert (await client.put("/api/settings", json={"base_url": no_list})).status_code == 200
        assert (await client.get("/api/settings/backend-check")).json()["ok"] is True

        nowhere = f"http://127.0.0.1:{closed_port()}/v1"
        assert (await client.put("/api/settings", json={"base_url": nowhere})).status_code == 200
        answer = (await client.get("/api/settings/backend-check")).json()
        assert answer["ok"] is False and answer["problem"].startswith(f"the server at {nowhere} did not answer")

        refused = fault_server.url("auth401")
        body = {"base_url": refused, "api_key": "sk-secret-test-key-123"}
        assert (await client.put("/api/settings", json=body)).status_code == 200
        answer = (await client.get("/api/settings/backend-check")).json()
        assert answer["ok"] is False and answer["problem"].startswith(f"the server at {refused} answered 401")
        assert "sk-secret" not in answer["problem"]  # §12.5
