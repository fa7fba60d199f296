"""A small, real, misbehaving OpenAI-compatible HTTP server for backend fault tests.

Each test talks to `http://127.0.0.1:PORT/<mode>-<tag>/v1`; the first path segment
picks the fault, and requests are recorded per segment (so "fail once" modes and
request counts are per test). Modes:

ok, error500, fail_once, ratelimit_once, slow, slow_stream, cut, cut_clean, interrupted,
malformed, prose, empty, repair, schema400, schema500, auth401, bad400
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

VALID_JSON = '{"mood": "happy", "intensity": 3}'
PIECES = ["Hello", " there", ",", " friend", "!"]
SLOW_S = 3.0


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class FaultServer:
    server: ThreadingHTTPServer
    thread: threading.Thread
    stopping: threading.Event
    requests: dict[str, list[Recorded]] = field(default_factory=dict)

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def url(self, mode: str) -> str:
        """A fresh base URL for `mode` (its own request log)."""
        return f"http://127.0.0.1:{self.port}/{mode}-{uuid.uuid4().hex[:8]}/v1"

    def log(self, base_url: str) -> list[Recorded]:
        segment = base_url.split("/")[3]
        return self.requests.get(segment, [])

    def stop(self) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def _chunk(content: str | None = None, finish: str | None = None) -> bytes:
    delta = {"content": content} if content is not None else {}
    event = {
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(event)}\n\n".encode()


def _completion(content: str) -> dict[str, Any]:
    return {
        "object": "chat.completion",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
    }


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # silence stderr
        pass

    def do_GET(self) -> None:
        if self.path.endswith("/v1/models") and self.path.split("/")[1].startswith("auth401-"):
            self._json(401, {"error": {"message": "Incorrect API key provided"}})
        elif self.path.endswith("/v1/models") and self.path.split("/")[1].startswith("nomodels-"):
            self._json(404, {"error": {"message": "no such route"}})  # a proxy with no model list
        elif self.path.endswith("/v1/models"):
            self._json(200, {"object": "list", "data": [{"id": "fault-model"}]})
        else:
            self._json(404, {"error": {"message": "not found"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {}
        segment = self.path.split("/")[1]
        mode = segment.rsplit("-", 1)[0]
        if not self.path.endswith("/chat/completions"):
            self._json(404, {"error": {"message": f"no route {self.path}"}})
            return
        with self.server.lock:
            log = self.server.owner.requests.setdefault(segment, [])
            count = len(log)
            log.append(Recorded(self.path, dict(self.headers.items()), body))
        getattr(self, f"_mode_{mode}")(body, count)

    # -- helpers -------------------------------------------------------------------------

    def _json(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
        payload = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)

    def _answer(self, body: dict[str, Any], content: str = VALID_JSON) -> None:
        if body.get("stream"):
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()  # HTTP/1.0: the body ends when the connection closes
            for piece in PIECES:
                self.wfile.write(_chunk(piece))
            self.wfile.write(_chunk(None, "stop") + b"data: [DONE]\n\n")
        else:
            self._json(200, _completion(content))

    def _error(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        self._json(status, {"error": {"message": message, "type": "server_error"}}, headers)

    # -- modes ---------------------------------------------------------------------------

    def _mode_ok(self, body: dict[str, Any], count: int) -> None:
        self._answer(body)

    def _mode_error500(self, body: dict[str, Any], count: int) -> None:
        self._error(500, "internal failure in the fault server")

    def _mode_fail_once(self, body: dict[str, Any], count: int) -> None:
        if count == 0:
            self._error(503, "warming up")
        else:
            self._answer(body)

    def _mode_ratelimit_once(self, body: dict[str, Any], count: int) -> None:
        if count == 0:
            self._error(429, "slow down", {"Retry-After": "0"})
        else:
            self._answer(body)

    def _mode_slow(self, body: dict[str, Any], count: int) -> None:
        if not self.server.owner.stopping.wait(SLOW_S):
            self._answer(body)

    def _mode_slow_stream(self, body: dict[str, Any], count: int) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        self.wfile.write(_chunk("Hello"))
        self.wfile.flush()
        self.server.owner.stopping.wait(SLOW_S)

    def _mode_cut(self, body: dict[str, Any], count: int) -> None:
        """Chunked stream that stops mid-body: the client sees an incomplete message."""
        self.protocol_version = "HTTP/1.1"
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for piece in PIECES[:2]:
            data = _chunk(piece)
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()
        self.close_connection = True

    def _mode_cut_clean(self, body: dict[str, Any], count: int) -> None:
        """A well-formed HTTP body that ends before [DONE] or any finish_reason."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for piece in PIECES[:2]:
            self.wfile.write(_chunk(piece))

    def _mode_interrupted(self, body: dict[str, Any], count: int) -> None:
        """[DONE] with no finish_reason: llama-cpp-python's server interrupting a request."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for piece in PIECES[:2]:
            self.wfile.write(_chunk(piece))
        self.wfile.write(b"data: [DONE]\n\n")

    def _mode_malformed(self, body: dict[str, Any], count: int) -> None:
        self._answer(body, '{"mood": "happy", "intensity": ')

    def _mode_prose(self, body: dict[str, Any], count: int) -> None:
        self._answer(body, "I think you are feeling rather happy today!")

    def _mode_empty(self, body: dict[str, Any], count: int) -> None:
        self._answer(body, "")

    def _mode_repair(self, body: dict[str, Any], count: int) -> None:
        self._answer(body, "Sure! Here it is: mood happy" if count == 0 else VALID_JSON)

    def _mode_schema400(self, body: dict[str, Any], count: int) -> None:
        if (body.get("response_format") or {}).get("type") == "json_schema":
            self._error(400, "response_format type json_schema is not supported")
        else:
            self._answer(body)

    def _mode_schema500(self, body: dict[str, Any], count: int) -> None:
        """What llama-cpp-python's server does: a validation error answered as HTTP 500."""
        if (body.get("response_format") or {}).get("type") == "json_schema":
            self._error(500, "1 validation error: ('body', 'response_format', 'type')")
        else:
            self._answer(body)

    def _mode_auth401(self, body: dict[str, Any], count: int) -> None:
        key = self.headers.get("Authorization", "").removeprefix("Bearer ")
        self._error(401, f"Incorrect API key provided: {key}")

    def _mode_bad400(self, body: dict[str, Any], count: int) -> None:
        self._error(400, "bad request: max_tokens is too large")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: FaultServer
    lock: threading.Lock

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that time out and hang up are expected here


def start_fault_server() -> FaultServer:
    """Start the server on a free port in a background thread."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.lock = threading.Lock()
    thread = threading.Thread(target=server.serve_forever, name="llm-fault-server", daemon=True)
    owner = FaultServer(server=server, thread=thread, stopping=threading.Event())
    server.owner = owner
    thread.start()
    return owner
