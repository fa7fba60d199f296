"""A programmable, misbehaving OpenAI-compatible server for the turn-level fault tests (§14.4).

`llm_fault_server` answers every request of a mode the same way, which suits the
backend's own tests. A whole turn makes two kinds of request (a streamed reply,
then a JSON extraction), and the fault tests need to break one and not the
other, feed extraction hostile JSON of their choosing, and make the server
behave again before a retry. So here each route (the first path segment of the
base URL) has a mutable `Behaviour`: a reply mode and a list of answers to
successive JSON requests. Requests are recorded per route and kind.

Reply modes: ok, error500, error500_once, error500_after1 (the first reply of
the route streams, later ones fail), slow (no answer at all), stall (three tokens,
then silence), cut (a chunked body that breaks off), cut_clean (ends without a
finish_reason), bad_event (a stream event that is not JSON), error_event (an
error object mid-stream). JSON answers: any text is sent as the message
content; "!500", "!slow" and "!html" (a 200 whose body is not JSON) are faults.
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

REPLY_TEXT = "Aye, the tide turns at six, and not a minute later."
SLOW_S = 3.0
STREAM_PAUSE_S = 0.01


@dataclass
class Behaviour:
    """How one route answers; tests change it between turns."""

    reply: str = "ok"
    reply_text: str = REPLY_TEXT
    json: list[str] = field(default_factory=lambda: ['{"memories": []}'])


@dataclass
class Recorded:
    kind: str  # "reply" (streamed) or "json"
    body: dict[str, Any]


@dataclass
class ModelServer:
    """The running server; `route` hands out base URLs with their own behaviour and log."""

    server: _Server
    thread: threading.Thread
    stopping: threading.Event
    routes: dict[str, Behaviour] = field(default_factory=dict)
    log: dict[str, list[Recorded]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def route(self, reply: str = "ok", json_answers: list[str] | None = None, **extra: Any) -> str:
        """A fresh base URL that answers as told."""
        name = f"r{uuid.uuid4().hex[:10]}"
        behaviour = Behaviour(reply=reply, **extra)
        if json_answers is not None:
            behaviour.json = list(json_answers)
        with self.lock:
            self.routes[name] = behaviour
            self.log[name] = []
        return f"http://127.0.0.1:{self.port}/{name}/v1"

    def behaviour(self, base_url: str) -> Behaviour:
        return self.routes[_route_name(base_url)]

    def requests(self, base_url: str, kind: str) -> list[Recorded]:
        with self.lock:
            return [r for r in self.log[_route_name(base_url)] if r.kind == kind]

    def stop(self) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def _route_name(base_url: str) -> str:
    return base_url.split("/")[3]


def _chunk(content: str | None = None, finish: str | None = None) -> bytes:
    delta = {"content": content} if content is not None else {}
    event = {
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(event)}\n\n".encode()


def _pieces(text: str) -> list[str]:
    words = text.split(" ")
    return [w if i == 0 else f" {w}" for i, w in enumerate(words)]


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        parts = self.path.split("/")
        owner = self.server.owner
        name = parts[1] if len(parts) > 1 else ""
        if not self.path.endswith("/v1/chat/completions") or name not in owner.routes:
            self._json(404, {"error": {"message": f"no route {self.path}"}})
            return
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {}
        kind = "reply" if body.get("stream") else "json"
        with owner.lock:
            log = owner.log[name]
            index = sum(1 for r in log if r.kind == kind)
            log.append(Recorded(kind, body))
            behaviour = owner.routes[name]
        if kind == "reply":
            self._reply(behaviour, index)
        else:
            answers = behaviour.json or [""]
            self._json_answer(answers[min(index, len(answers) - 1)])

    # -- plumbing ------------------------------------------------------------------------

    def _json(self, status: int, data: Any) -> None:
        payload = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _error500(self) -> None:
        self._json(500, {"error": {"message": "the model process crashed", "type": "server_error"}})

    def _start_stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()  # HTTP/1.0: the body ends when the connection closes

    def _send(self, data: bytes) -> None:
        self.wfile.write(data)
        self.wfile.flush()
        self.server.owner.stopping.wait(STREAM_PAUSE_S)

    # -- replies -------------------------------------------------------------------------

    def _reply(self, behaviour: Behaviour, index: int) -> None:
        mode = behaviour.reply
        pieces = _pieces(behaviour.reply_text)
        stopping = self.server.owner.stopping
        failing = {"error500": True, "error500_once": index == 0, "error500_after1": index > 0}
        if failing.get(mode, False):
            self._error500()
        elif mode == "slow":
            stopping.wait(SLOW_S)
        elif mode == "stall":
            self._start_stream()
            for piece in pieces[:3]:
                self._send(_chunk(piece))
            stopping.wait(SLOW_S)
        elif mode == "cut":
            self.protocol_version = "HTTP/1.1"
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for piece in pieces[:3]:
                data = _chunk(piece)
                self._send(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.close_connection = True  # no terminating chunk: the body breaks off
        elif mode == "cut_clean":
            self._start_stream()
            for piece in pieces[:3]:
                self._send(_chunk(piece))
        elif mode == "bad_event":
            self._start_stream()
            for piece in pieces[:2]:
                self._send(_chunk(piece))
            self._send(b'data: {"choices": [{"delta": {"content": "tru\n\n')
        elif mode == "error_event":
            self._start_stream()
            for piece in pieces[:2]:
                self._send(_chunk(piece))
            self._send(b'data: {"error": {"message": "CUDA out of memory"}}\n\n')
        else:  # ok, and the later requests of error500_once / the first of error500_after1
            self._start_stream()
            for piece in pieces:
                self._send(_chunk(piece))
            self._send(_chunk(None, "stop") + b"data: [DONE]\n\n")

    # -- JSON ----------------------------------------------------------------------------

    def _json_answer(self, answer: str) -> None:
        if answer == "!500":
            self._error500()
        elif answer == "!slow":
            self.server.owner.stopping.wait(SLOW_S)
        elif answer == "!html":
            payload = b"<html><body>502 Bad Gateway</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        else:
            message = {"role": "assistant", "content": answer}
            choice = {"index": 0, "message": message, "finish_reason": "stop"}
            self._json(200, {"object": "chat.completion", "choices": [choice]})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: ModelServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that time out and hang up are part of the tests


def start_model_server() -> ModelServer:
    """Start the server on a free port of 127.0.0.1 in a background thread."""
    server = _Server(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, name="reliability-model", daemon=True)
    owner = ModelServer(server=server, thread=thread, stopping=threading.Event())
    server.owner = owner
    thread.start()
    return owner
