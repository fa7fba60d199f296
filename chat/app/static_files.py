"""The web UI's files (``chat/app/static``) and a script-free API docs page.

Static files are served with ``Cache-Control: no-cache``: the browser keeps them
but revalidates (ETag / Last-Modified, answered 304), so an upgrade never leaves
a stale script running. ``/docs`` lists the API from the OpenAPI schema as plain
HTML rendered on the server — it works offline and under the strict CSP, which
the CDN-loaded Swagger UI would not.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC_DIR = Path(__file__).with_name("static")


class UIFiles(StaticFiles):
    """StaticFiles that revalidates every file and tolerates a missing folder."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.setdefault("cache-control", "no-cache")
        return response


def mount_ui(app: FastAPI, directory: Path = STATIC_DIR) -> None:
    """Serve the UI at ``/`` (``index.html``), after every API route."""
    if directory.is_dir():
        app.mount("/", UIFiles(directory=directory, html=True), name="ui")
        return

    @app.get("/", include_in_schema=False)
    async def no_ui() -> HTMLResponse:
        return HTMLResponse(
            "<!doctype html><title>Kith</title><p>The web UI files are missing; "
            "the API is at <a href='/docs'>/docs</a>.</p>"
        )


def docs_page(schema: dict[str, Any]) -> str:
    """One HTML page with every operation: method, path, summary, and the schema link."""
    rows = []
    for path, operations in sorted(schema.get("paths", {}).items()):
        for method, op in operations.items():
            summary = op.get("summary") or ""
            description = (op.get("description") or "").strip().split("\n\n")[0]
            cells = (
                f"<code>{html.escape(method.upper())}</code>",
                f"<code>{html.escape(path)}</code>",
                html.escape(summary),
                html.escape(description),
            )
            rows.append("<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>")
    title = html.escape(schema.get("info", {}).get("title", "API"))
    head = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{title} API</title></head><body><h1>{title} HTTP API</h1>"
        "<p>JSON under <code>/api</code>. The machine-readable schema is "
        "<a href='/openapi.json'>/openapi.json</a>. Errors are "
        '<code>{"error": {"code", "message", "field"}}</code>.</p>'
    )
    table = (
        "<table><thead><tr><th>method</th><th>path</th><th>summary</th><th>about</th></tr>"
        f"</thead><tbody>{''.join(rows)}</tbody></table>"
    )
    return head + table + "</body></html>"


def add_docs_route(app: FastAPI) -> None:
    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(docs_page(app.openapi()))
