"""Start of the app (§10.6): fresh data dir, restart projecting the tail, ``--rebuild`` from the
newest snapshot, a corrupt snapshot quarantined — and ``kith serve`` as a real process."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from chat.db.connection import open_db
from chat.eventlog.log import append_event
from chat.tests.api_support import make_bot, make_chat, make_settings, running_app, say

pytestmark = pytest.mark.anyio

STATE_PATHS = ("/api/bots", "/api/entities", "/api/edges", "/api/memories", "/api/world")


async def _state(client: httpx.AsyncClient) -> dict[str, object]:
    return {path: (await client.get(path)).json() for path in STATE_PATHS}


async def _cold_load(client: httpx.AsyncClient) -> dict:
    return (await client.get("/api/health")).json()["cold_load"]


async def test_fresh_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "new" / "data"
    async with running_app(make_settings(data_dir)) as (_app, client):
        health = (await client.get("/api/health")).json()
        assert health["status"] == "ok" and health["last_event_id"] == 0
        assert health["cold_load"]["replayed"] == 0
        assert (await client.get("/api/bots")).json() == []
    assert (data_dir / "kith.db").is_file()


async def test_restart_projects_only_the_tail(data_dir: Path, caplog) -> None:  # noqa: ANN001
    caplog.set_level(logging.INFO)
    async with running_app(make_settings(data_dir)) as (app, client):
        await make_bot(client, id="ada")
        chat = await make_chat(client, ["ada"])
        await say(app, client, chat["id"], "remember the harbour")
        before = await _state(client)
    with open_db(data_dir / "kith.db") as conn:  # appended, never projected: a crash
        append_event(conn, kind="world_fact_set", payload={"key": "tide", "value": "high"})

    async with running_app(make_settings(data_dir)) as (_app, client):
        report = await _cold_load(client)
        assert report["path"] == "tail" and report["replayed"] == 1
        after = await _state(client)
        assert after["/api/world"]["facts"] == {"tide": "high"}
        after["/api/world"]["facts"] = {}
        assert after == before
    assert "cold load by tail" in caplog.text


async def test_rebuild_restores_the_newest_snapshot_and_replays_after_it(
    data_dir: Path, caplog  # noqa: ANN001
) -> None:
    caplog.set_level(logging.INFO)
    async with running_app(make_settings(data_dir)) as (app, client):
        await make_bot(client, id="ada")
        chat = await make_chat(client, ["ada"])
        await say(app, client, chat["id"], "hello")  # a turn also writes a periodic snapshot
        snap = (await client.post("/api/snapshots")).json()
        await make_bot(client, id="bo", name="Bo")
        await client.patch("/api/edges/ada/you", json={"affinity": 30})
        end = (await client.get("/api/health")).json()["last_event_id"]
        before = await _state(client)
    assert len(list((data_dir / "snapshots" / "periodic").iterdir())) == 1

    async with running_app(make_settings(data_dir), rebuild=True) as (_app, client):
        report = await _cold_load(client)
        assert report["path"] == "snapshot" and report["snapshot"] == snap["name"]
        assert report["replayed"] == end - snap["last_event_id"] > 0
        assert await _state(client) == before
    assert f"cold load by snapshot from snapshot {snap['name']}" in caplog.text


async def test_corrupt_newest_snapshot_is_quarantined_and_start_succeeds(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (_app, client):
        await make_bot(client, id="ada")
        older = (await client.post("/api/snapshots")).json()
        await make_bot(client, id="bo", name="Bo")
        newer = (await client.post("/api/snapshots")).json()
        await make_bot(client, id="cy", name="Cy")
        before = await _state(client)
    newest = data_dir / "snapshots" / "manual" / newer["name"]
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])

    async with running_app(make_settings(data_dir), rebuild=True) as (_app, client):
        report = await _cold_load(client)
        assert report["path"] == "snapshot" and report["snapshot"] == older["name"]
        assert len(report["quarantined"]) == 1
        assert await _state(client) == before
    assert not newest.exists()
    assert [p.name for p in (data_dir / "snapshots" / "quarantine").iterdir()] == list(
        report["quarantined"]
    )

    only = data_dir / "snapshots" / "manual" / older["name"]
    only.write_text("{}", encoding="utf-8")
    async with running_app(make_settings(data_dir), rebuild=True) as (_app, client):
        report = await _cold_load(client)
        assert report["path"] == "full_replay" and len(report["quarantined"]) == 1
        assert await _state(client) == before


# --- kith serve as a real process -------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _serve(
    data_dir: Path, port: int, *extra: str, env_extra: dict[str, str] | None = None
) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KITH_")}
    env.update(env_extra or {})
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from chat.cli import main; main()",
            "serve",
            "--data-dir",
            str(data_dir),
            "--port",
            str(port),
            *extra,
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_healthy(
    port: int, proc: subprocess.Popen, timeout: float, headers: dict[str, str] | None = None
) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"kith serve exited: {proc.stdout.read() if proc.stdout else ''}")
        try:
            response = httpx.get(
                f"http://127.0.0.1:{port}/api/health", timeout=2, headers=headers or {}
            )
            if response.status_code == 200:
                return response.json()
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("kith serve did not become healthy")


def _stop(proc: subprocess.Popen) -> str:
    proc.send_signal(signal.SIGINT)
    try:
        output, _ = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        output, _ = proc.communicate()
        raise AssertionError(f"kith serve did not stop on SIGINT: {output}") from None
    return output


def test_kith_serve_on_a_port_in_use_says_so_before_any_url(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = _serve(tmp_path / "data", port, "--backend", "scripted")
        try:
            output, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            output, _ = proc.communicate()
            raise AssertionError(f"kith serve did not stop on a port in use: {output}") from None
    assert proc.returncode != 0, output
    assert f"port {port} on 127.0.0.1 is already in use" in output
    assert "--port" in output and "make run PORT=" in output
    assert "http://" not in output and "Traceback" not in output and "Errno" not in output
    assert not (tmp_path / "data").exists()  # nothing started: no data directory made


@pytest.mark.slow
def test_kith_serve_prints_the_url_and_logs_the_cold_load(tmp_path: Path) -> None:
    port = _free_port()
    proc = _serve(tmp_path / "data", port, "--backend", "scripted")
    try:
        health = _wait_healthy(port, proc, timeout=60)
        assert health["backend"] == "scripted"
        page = httpx.get(f"http://127.0.0.1:{port}/")
        assert page.status_code == 200 and "content-security-policy" in page.headers
    finally:
        output = _stop(proc)
    assert proc.returncode == 0, output
    assert f"http://127.0.0.1:{port}/" in output
    assert "cold load by full_replay" in output


@pytest.mark.slow
def test_kith_serve_on_a_public_address_with_a_token(tmp_path: Path) -> None:
    token = "serve-token-5b0e1f"
    port = _free_port()
    proc = _serve(
        tmp_path / "data",
        port,
        "--host",
        "0.0.0.0",
        "--backend",
        "scripted",
        env_extra={"KITH_TOKEN": token},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(port, proc, timeout=60, headers={"Authorization": f"Bearer {token}"})
        assert httpx.get(f"{base}/api/health").status_code == 401
        login = httpx.get(f"{base}/?token={token}&x=1")
        assert login.status_code == 303 and login.headers["location"] == "/?x=1"
        cookies = {"kith_token": token}
        assert httpx.get(f"{base}/api/bots", cookies=cookies).status_code == 200
    finally:
        output = _stop(proc)
    assert f"?token={token}" in output  # the URL to open, printed once at start
    assert output.count(token) == 1, output  # and never in the access log
    assert "GET /?x=1" in output


@pytest.mark.slow
def test_kith_serve_runs_the_embedded_model_by_default(tmp_path: Path) -> None:
    port = _free_port()
    proc = _serve(tmp_path / "data", port)
    base = f"http://127.0.0.1:{port}"
    try:
        assert _wait_healthy(port, proc, timeout=180)["backend"] == "embedded"
        with httpx.Client(base_url=base, timeout=30) as client:
            bot = client.post("/api/bots", json={"name": "Ada", "persona": "Kind."}).json()
            chat = client.post("/api/chats", json={"bot_ids": [bot["id"]]}).json()
            posted = client.post(f"/api/chats/{chat['id']}/messages", json={"text": "Hello!"})
            assert posted.status_code == 202
            turn_id = posted.json()["turn_id"]
            deadline = time.monotonic() + 170
            while time.monotonic() < deadline:
                turn = client.get(f"/api/turns/{turn_id}").json()
                if turn["status"] in ("completed", "failed"):
                    break
                time.sleep(0.5)
            assert turn["status"] == "completed", turn
            transcript = client.get(f"/api/chats/{chat['id']}/messages").json()
            assert transcript[-1]["author"] == bot["id"] and transcript[-1]["text"].strip()
    finally:
        output = _stop(proc)
    assert "embedded backend" in output
