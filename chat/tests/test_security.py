"""Security (§12): headers, the access token, cross-site forgery, size limits, secrets."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from chat.app.security import (
    CSP,
    PUBLIC_API_PATHS,
    check_bind_allowed,
    is_loopback,
    token_matches,
)
from chat.cards import MAX_CARD_BYTES
from chat.cli import main
from chat.errors import ConfigError
from chat.snapshots.packing import unpacked
from chat.tests.api_support import (
    BASE_URL,
    BOT,
    assert_error,
    make_bot,
    make_chat,
    make_settings,
    running_app,
    say,
)
from chat.world.chats import MAX_MESSAGE_CHARS

pytestmark = pytest.mark.anyio

TOKEN = "kith-access-token-0123456789"
API_KEY = "sk-kith-test-SECRET-7d41c9"


async def test_security_headers_on_every_response(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (_app, client):
        for path in ("/api/health", "/api/nothing", "/", "/docs", "/openapi.json"):
            response = await client.get(path)
            assert response.headers["content-security-policy"] == CSP, path
            assert response.headers["x-content-type-options"] == "nosniff"
            assert response.headers["referrer-policy"] == "no-referrer"
        assert "script-src 'self';" in CSP and "unsafe-inline" not in CSP
        docs = await client.get("/docs")
        assert docs.status_code == 200 and "/api/chats/{chat_id}/messages" in docs.text
        assert "<script" not in docs.text


def test_loopback_rules() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert is_loopback("127.8.9.10")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")
    assert not is_loopback("kith.example")
    check_bind_allowed("127.0.0.1", None)
    check_bind_allowed("0.0.0.0", TOKEN)
    with pytest.raises(ConfigError) as info:
        check_bind_allowed("0.0.0.0", None)
    assert info.value.field == "host" and "KITH_TOKEN" in info.value.message


def test_serve_refuses_a_public_address_without_a_token(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["serve", "--host", "0.0.0.0", "--data-dir", str(tmp_path / "d"), "--backend", "scripted"],
        env={"KITH_TOKEN": None, "KITH_ACCESS_TOKEN": None},
    )
    assert result.exit_code == 1
    assert "refusing to listen on 0.0.0.0" in result.output and "KITH_TOKEN" in result.output
    assert not (tmp_path / "d" / "kith.db").exists()


def test_token_comparison() -> None:
    assert token_matches(TOKEN, TOKEN)
    for wrong in (None, "", TOKEN[:-1], TOKEN + "x", TOKEN.upper(), " " + TOKEN):
        assert not token_matches(wrong, TOKEN)


async def test_token_required_on_every_request(data_dir: Path) -> None:
    settings = make_settings(data_dir, access_token=TOKEN, host="0.0.0.0")
    async with running_app(settings) as (_app, client):
        for path in ("/api/health", "/api/bots", "/api/nothing", "/docs", "/openapi.json"):
            assert_error(await client.get(path), 401)
        ui = await client.get("/")
        assert ui.status_code == 200 and "text/html" in ui.headers["content-type"]
        for header in ("Bearer wrong", f"Bearer {TOKEN[:-1]}", f"Basic {TOKEN}", TOKEN):
            assert_error(await client.get("/api/health", headers={"Authorization": header}), 401)
        ok = await client.get("/api/health", headers={"Authorization": f"Bearer {TOKEN}"})
        assert ok.status_code == 200
        assert_error(await client.post("/api/bots", json=BOT), 401)
        assert (await client.get("/api/health", headers={"Authorization": f"Bearer {TOKEN}"})
                ).json()["last_event_id"] == 0


async def test_auth_status_is_public_and_tells_nothing_else(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (_app, client):
        open_server = await client.get("/api/auth")
        assert open_server.status_code == 200
        assert open_server.json() == {"token_required": False, "authenticated": True}
    settings = make_settings(data_dir, access_token=TOKEN, host="0.0.0.0")
    async with running_app(settings) as (app, client):
        assert "/api/auth" in PUBLIC_API_PATHS and len(PUBLIC_API_PATHS) == 1
        anonymous = await client.get("/api/auth")
        assert anonymous.status_code == 200
        assert anonymous.json() == {"token_required": True, "authenticated": False}
        assert TOKEN not in anonymous.text
        wrong = await client.get("/api/auth", headers={"Authorization": "Bearer wrong"})
        assert wrong.json() == {"token_required": True, "authenticated": False}
        good = await client.get("/api/auth", headers={"Authorization": f"Bearer {TOKEN}"})
        assert good.json() == {"token_required": True, "authenticated": True}
        client.cookies.set("kith_token", TOKEN)
        assert (await client.get("/api/auth")).json()["authenticated"] is True
        client.cookies.clear()
        for method in ("POST", "PUT", "DELETE"):
            refused = await client.request(method, "/api/auth", json={})
            assert refused.status_code in (401, 405), (method, refused.status_code)
        for near in ("/api/auth/", "/api/auth/x", "/api/authx", "/api/Auth", "/api/auth%2f.."):
            assert_error(await client.get(near), 401)
        # every other API route still needs the token
        paths = {path for path in app.openapi()["paths"] if path.startswith("/api")}
        assert len(paths) > 20
        for path in sorted(paths - PUBLIC_API_PATHS):
            concrete = re.sub(r"\{[^}]+\}", "x", path)
            assert_error(await client.get(concrete), 401)
            assert_error(await client.post(concrete, json={}), 401)


async def test_browser_login_sets_a_cookie_and_strips_the_token(data_dir: Path) -> None:
    settings = make_settings(data_dir, access_token=TOKEN)
    async with running_app(settings) as (_app, client):
        assert_error(await client.get("/", params={"token": "wrong"}), 401)
        login = await client.get("/", params={"token": TOKEN, "tab": "bots"})
        assert login.status_code == 303
        assert login.headers["location"] == "/?tab=bots"
        cookie = login.headers["set-cookie"]
        assert cookie.startswith(f"kith_token={TOKEN};")
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        assert client.cookies.get("kith_token") == TOKEN
        assert (await client.get("/api/health")).status_code == 200
        client.cookies.set("kith_token", "forged")
        assert_error(await client.get("/api/health"), 401)


async def test_cross_site_forms_are_refused(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (_app, client):
        before = (await client.get("/api/health")).json()["last_event_id"]
        form = await client.post("/api/bots", data={"name": "Evil"})
        assert_error(form, 415, "body")
        plain = await client.post(
            "/api/bots", content=json.dumps(BOT), headers={"content-type": "text/plain"}
        )
        assert_error(plain, 415)
        bare = await client.post("/api/bots", content=json.dumps(BOT), headers={"content-type": ""})
        assert bare.status_code in (415, 422)
        cross = await client.post("/api/bots", json=BOT, headers={"origin": "https://evil.example"})
        assert_error(cross, 403, "origin")
        null_origin = await client.post("/api/bots", json=BOT, headers={"origin": "null"})
        assert_error(null_origin, 403, "origin")
        multipart_elsewhere = await client.post(
            "/api/bots", files={"file": ("x.json", b"{}")}, headers={"X-Kith-Request": "1"}
        )
        assert_error(multipart_elsewhere, 415)
        upload_without_header = await client.post(
            "/api/bots/import", files={"file": ("card.json", json.dumps({"name": "X"}).encode())}
        )
        assert_error(upload_without_header, 403, "x-kith-request")
        cross_delete = await client.delete("/api/bots/x", headers={"origin": "http://evil:8765"})
        assert_error(cross_delete, 403)
        assert (await client.get("/api/health")).json()["last_event_id"] == before

        same = await client.post("/api/bots", json=BOT, headers={"origin": BASE_URL})
        assert same.status_code == 201, same.text
        upload_same_origin = await client.post(
            "/api/bots/import",
            files={"file": ("card.json", json.dumps({"name": "Card", "description": "d"}).encode())},
            headers={"origin": BASE_URL},
        )
        assert upload_same_origin.status_code == 201, upload_same_origin.text


async def test_only_loopback_host_names_without_a_token(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (_app, client):
        for host in ("localhost:8765", "127.0.0.1", "[::1]:8765", "127.0.0.2:1"):
            assert (await client.get("/api/health", headers={"host": host})).status_code == 200
        for host in ("evil.example", "evil.example:8765", "192.168.1.4:8765", ""):
            response = await client.get("/api/health", headers={"host": host})
            assert_error(response, 403, "host")
            assert_error(await client.get("/", headers={"host": host}), 403, "host")
    settings = make_settings(data_dir, access_token=TOKEN)
    async with running_app(settings) as (_app, client):
        response = await client.get(
            "/api/health", headers={"host": "kith.lan:8765", "authorization": f"Bearer {TOKEN}"}
        )
        assert response.status_code == 200


async def test_size_limits(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (_app, client):
        await make_bot(client, id="ada")
        chat = await make_chat(client, ["ada"])
        before = (await client.get("/api/health")).json()["last_event_id"]

        big = {"text": "x" * (1024 * 1024 + 10)}
        assert_error(await client.post(f"/api/chats/{chat['id']}/messages", json=big), 413, "body")

        async def chunks():  # no content-length: the limit must hold while reading
            yield b'{"text": "'
            for _ in range(40):
                yield b"y" * 32_768
            yield b'"}'

        chunked = await client.post(
            f"/api/chats/{chat['id']}/messages",
            content=chunks(),
            headers={"content-type": "application/json"},
        )
        assert_error(chunked, 413, "body")

        card = b"\x89PNG\r\n\x1a\n" + b"\0" * (MAX_CARD_BYTES + 1)
        upload = await client.post(
            "/api/bots/import", files={"file": ("big.png", card)}, headers={"X-Kith-Request": "1"}
        )
        assert upload.status_code == 413, upload.text[:200]
        assert_error(upload, 413)
        long_message = {"text": "z" * (MAX_MESSAGE_CHARS + 1)}
        assert_error(
            await client.post(f"/api/chats/{chat['id']}/messages", json=long_message), 422, "text"
        )
        assert (await client.get("/api/health")).json()["last_event_id"] == before


async def test_a_bot_may_carry_its_avatar_but_not_more(data_dir: Path) -> None:
    """Bot bodies may hold an avatar data: URL (schema: up to 3,000,000 characters)."""
    avatar = "data:image/png;base64," + "A" * 2_000_000
    async with running_app(make_settings(data_dir)) as (_app, client):
        made = await client.post("/api/bots", json={"name": "Pic", "avatar": avatar})
        assert made.status_code == 201, made.text[:200]
        assert (await client.get(f"/api/bots/{made.json()['id']}")).json()["avatar"] == avatar
        before = (await client.get("/api/health")).json()["last_event_id"]
        huge = {"name": "Huge", "avatar": "data:image/png;base64," + "A" * (5 * 1024 * 1024)}
        assert_error(await client.post("/api/bots", json=huge), 413, "body")
        other = {"text": "x", "pad": "y" * (2 * 1024 * 1024)}  # elsewhere the 1 MiB limit holds
        assert_error(await client.post("/api/chats/c/messages", json=other), 413, "body")
        assert (await client.get("/api/health")).json()["last_event_id"] == before


async def test_api_key_never_leaves_memory(
    data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    async with running_app(make_settings(data_dir)) as (app, client):
        put = await client.put("/api/settings", json={"api_key": API_KEY, "memory_top_k": 6})
        assert put.status_code == 200, put.text
        seen.append(put.text)
        await make_bot(client, id="ada")
        chat = await make_chat(client, ["ada"])
        turn = await say(app, client, chat["id"], f"my key is not {API_KEY[:6]}")
        assert turn["status"] == "completed"
        assert (await client.post("/api/snapshots")).status_code == 201
        for path in (
            "/api/settings",
            "/api/health",
            "/api/events?limit=1000",
            "/api/snapshots",
            f"/api/turns/{turn['id']}/prompt",
            "/api/bots/ada/card?format=v3",
            "/api/bots/ada",
        ):
            response = await client.get(path)
            assert response.status_code == 200, path
            seen.append(response.text)
        assert app.state.kith.settings.api_key.get_secret_value() == API_KEY
    for text in seen:
        assert API_KEY not in text
    assert API_KEY not in caplog.text
    files = [p for p in data_dir.rglob("*") if p.is_file()]
    assert any(p.suffix == ".json" for p in files) and (data_dir / "kith.toml").is_file()
    for path in files:  # a snapshot over 8 KB is compressed: look inside it
        raw = path.read_bytes()
        assert API_KEY.encode() not in (unpacked(raw, path.name) if path.suffix == ".json" else raw), path


async def test_ui_files_are_served_with_revalidation(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as (_app, client):
        index = await client.get("/")
        assert index.status_code == 200 and "text/html" in index.headers["content-type"]
        assert index.headers["cache-control"] == "no-cache"
        script = await client.get("/js/app.js")
        assert script.status_code == 200 and "javascript" in script.headers["content-type"]
        assert script.headers["cache-control"] == "no-cache"
        again = await client.get("/js/app.js", headers={"if-none-match": script.headers["etag"]})
        assert again.status_code == 304
        assert_error(await client.get("/js/../../security.py"), 404)
        assert_error(await client.get("/no-such-file.js"), 404)
