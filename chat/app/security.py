"""Request guards of §12, as one pure-ASGI middleware so they hold for every route.

* Access token (§12.1): when ``settings.access_token`` (``KITH_TOKEN``) is set, every
  API request (``/api/...``, ``/docs``, ``/openapi.json``) needs it:
  ``Authorization: Bearer <token>`` (the UI asks for it once and keeps it in
  sessionStorage) or the ``kith_token`` cookie. A browser can also log in by opening
  ``/?token=<token>`` (the URL ``kith serve`` prints): the server answers 303 to the
  same page without the query and sets the cookie (HttpOnly, SameSite=Strict). The
  token is stripped from the request before anything (the access log included) sees
  it, and compared with ``hmac.compare_digest``. The UI's static files hold no data
  and load without the token, so the UI can ask for it; so does ``GET /api/auth``
  (``PUBLIC_API_PATHS``), which says only whether a token is needed and whether this
  request carries a good one, so the UI can ask before any request fails.
* Cross-site forgery (§12.4): a state-changing request (POST, PUT, PATCH, DELETE)
  with a cross-site ``Origin`` is refused (403); its body must be JSON (415 otherwise).
  The one exception is the card upload, which may be ``multipart/form-data`` when it
  carries ``X-Kith-Request: 1`` or a same-origin ``Origin`` — a cross-site HTML form
  can set neither.
* Sizes (§12.3): bodies over the limit are refused with 413 before the route runs;
  the body is read here (bounded) so a chunked upload cannot slip past.
* Host (DNS rebinding): without a token the server only answers requests whose
  ``Host`` is a loopback name (127.x.x.x, localhost, ::1), so a web page whose domain
  is re-pointed at 127.0.0.1 cannot read or change anything.
* Headers (§12.2): a Content-Security-Policy that forbids inline script, nosniff,
  no referrer, no framing — on every response, errors included.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
from collections.abc import Callable
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chat.errors import ConfigError

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}
TOKEN_COOKIE = "kith_token"
REQUEST_HEADER = "x-kith-request"
JSON_BODY_LIMIT = 1024 * 1024
BOT_BODY_LIMIT = 4 * 1024 * 1024
"""A bot's JSON may carry its avatar as a data: URL (up to 3,000,000 characters)."""
"""Largest JSON body accepted (1 MiB); a bot with a big avatar goes through card import."""
MULTIPART_OVERHEAD = 64 * 1024
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
PUBLIC_API_PATHS = frozenset({"/api/auth"})
"""API paths answered without the token: they tell nothing but whether one is needed."""


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and "localhost"; every other address is reachable by others."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind_allowed(host: str, access_token: str | None) -> None:
    """Refuse to serve on a non-loopback address without an access token (§12.1)."""
    if not is_loopback(host) and not access_token:
        raise ConfigError(
            f"refusing to listen on {host}: binding an address other than 127.0.0.1 needs an "
            "access token; set KITH_TOKEN (or access_token in the environment) and open "
            "http://<host>:<port>/?token=<token> once in the browser",
            field="host",
        )


def token_matches(given: str | None, expected: str) -> bool:
    if not given:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def _json_error(status: int, code: str, message: str, field: str | None = None) -> bytes:
    body: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        body["field"] = field
    return json.dumps({"error": body}, separators=(",", ":")).encode("utf-8")


class SecurityMiddleware:
    """Auth, CSRF, body-size and header rules for every HTTP request (see module docstring)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        access_token: Callable[[], str | None],
        upload_paths: frozenset[str] = frozenset(),
        upload_limit: int = JSON_BODY_LIMIT,
        json_limit: int = JSON_BODY_LIMIT,
    ) -> None:
        self.app = app
        self.access_token = access_token
        self.upload_paths = upload_paths
        self.upload_limit = upload_limit + MULTIPART_OVERHEAD
        self.json_limit = json_limit

    def _body_limit(self, path: str) -> int:
        if path in self.upload_paths:
            return self.upload_limit
        if path == "/api/bots" or path.startswith("/api/bots/"):
            return max(self.json_limit, BOT_BODY_LIMIT)
        return self.json_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = _adding_headers(send)
        headers = Headers(scope=scope)
        token = self.access_token()
        if not token and not is_loopback(_host_name(headers.get("host", ""))):
            await _reply(
                send,
                403,
                _json_error(
                    403,
                    "forbidden",
                    "this server answers only at 127.0.0.1 or localhost; to reach it by another "
                    "name, set KITH_TOKEN",
                    "host",
                ),
            )
            return
        if token:
            login = _take_query_token(scope)
            if login is not None:
                await self._login(scope, send, login, token)
                return
            if _protected(scope["path"]) and not self._authorized(headers, token):
                await _reply(
                    send,
                    401,
                    _json_error(
                        401,
                        "unauthorized",
                        "an access token is required: send 'Authorization: Bearer <token>' or "
                        "open /?token=<token> once in the browser",
                    ),
                    extra=[(b"www-authenticate", b"Bearer")],
                )
                return
        if scope["method"] in UNSAFE_METHODS:
            refusal = self._forgery_refusal(scope, headers)
            if refusal is not None:
                await _reply(send, refusal[0], refusal[1])
                return
            limit = self._body_limit(scope["path"])
            body = await _read_body(receive, headers, limit)
            if body is None:
                await _reply(
                    send,
                    413,
                    _json_error(413, "too_large", f"request body is over {limit} bytes", "body"),
                )
                return
            receive = _replay(body, receive)
        await self.app(scope, receive, send)

    def _authorized(self, headers: Headers, token: str) -> bool:
        return request_authorized(headers, token)

    async def _login(self, scope: Scope, send: Send, given: str, token: str) -> None:
        if scope["method"] != "GET" or not token_matches(given, token):
            await _reply(send, 401, _json_error(401, "unauthorized", "wrong access token"))
            return
        query = scope.get("query_string", b"").decode("latin-1")
        location = scope["path"] + (f"?{query}" if query else "")
        cookie = f"{TOKEN_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age=2592000"
        await _reply(
            send,
            303,
            b"",
            content_type=b"text/plain",
            extra=[(b"location", location.encode("latin-1")), (b"set-cookie", cookie.encode())],
        )

    def _forgery_refusal(self, scope: Scope, headers: Headers) -> tuple[int, bytes] | None:
        origin = headers.get("origin")
        same_origin = origin is not None and _same_origin(origin, headers.get("host", ""))
        if origin is not None and not same_origin:
            return 403, _json_error(403, "forbidden", "cross-site request refused", "origin")
        content_type = headers.get("content-type")
        has_body = headers.get("content-length", "0") not in ("", "0") or (
            "transfer-encoding" in headers
        )
        if content_type is None:
            if has_body:
                return 415, _json_error(
                    415, "unsupported_media_type", "send the body as application/json", "body"
                )
            return None
        media = content_type.split(";", 1)[0].strip().lower()
        if media == "application/json" or (media.startswith("application/") and media.endswith("+json")):
            return None
        if media == "multipart/form-data" and scope["path"] in self.upload_paths:
            if headers.get(REQUEST_HEADER) == "1" or same_origin:
                return None
            return 403, _json_error(
                403,
                "forbidden",
                f"a file upload needs the header '{REQUEST_HEADER}: 1'",
                REQUEST_HEADER,
            )
        return 415, _json_error(
            415,
            "unsupported_media_type",
            f"{media or 'this content type'} is not accepted; send application/json",
            "body",
        )


def request_authorized(headers: Headers, token: str) -> bool:
    """True when the request carries ``token`` as a bearer header or the login cookie."""
    auth = headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and token_matches(value.strip(), token):
        return True
    cookie = SimpleCookie()
    try:
        cookie.load(headers.get("cookie", ""))
    except Exception:  # a malformed cookie header is simply no token
        return False
    morsel = cookie.get(TOKEN_COOKIE)
    return morsel is not None and token_matches(morsel.value, token)


def _host_name(host: str) -> str:
    """The name part of a Host header: "127.0.0.1:8765" -> "127.0.0.1", "[::1]:80" -> "::1"."""
    host = host.strip()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _protected(path: str) -> bool:
    if path in PUBLIC_API_PATHS:
        return False
    return path == "/api" or path.startswith("/api/") or path in ("/docs", "/openapi.json")


def _same_origin(origin: str, host: str) -> bool:
    parts = urlsplit(origin)
    return bool(parts.netloc) and parts.scheme in ("http", "https") and parts.netloc == host


def _take_query_token(scope: Scope) -> str | None:
    """Remove ``token=`` from the query string in place (so no log sees it); return its value."""
    raw = scope.get("query_string", b"")
    if b"token=" not in raw:
        return None
    pairs = parse_qsl(raw.decode("latin-1"), keep_blank_values=True)
    given = [value for key, value in pairs if key == "token"]
    if not given:
        return None
    scope["query_string"] = urlencode([(k, v) for k, v in pairs if k != "token"]).encode()
    return given[-1]


async def _read_body(receive: Receive, headers: Headers, limit: int) -> list[Message] | None:
    """Every body message, or None as soon as the body is over ``limit`` bytes."""
    declared = headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return None
    messages: list[Message] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages
        size += len(message.get("body", b""))
        if size > limit:
            return None
        if not message.get("more_body", False):
            return messages


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed


def _adding_headers(send: Send) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = MutableHeaders(scope=message)
            for name, value in SECURITY_HEADERS.items():
                if name not in headers:
                    headers[name] = value
        await send(message)

    return wrapped


async def _reply(
    send: Send,
    status: int,
    body: bytes,
    *,
    content_type: bytes = b"application/json",
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    headers.extend(extra or [])
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
