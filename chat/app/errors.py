"""One shape for every error the API answers: ``{"error": {"code", "message", "field"?}}``.

`KithError` subclasses carry their own HTTP status; FastAPI's request validation
errors become 422 naming the field; unknown routes and methods keep the same
shape; anything unexpected is a 500 whose message hides the details (they go to
the log), so a client never has to parse two formats.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from chat.errors import KithError, plain_rule

log = logging.getLogger("kith.app")

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "too_large",
    415: "unsupported_media_type",
}


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        body["field"] = field
    return {"error": body}


def error_response(
    status: int, code: str, message: str, field: str | None = None, headers: dict | None = None
) -> JSONResponse:
    return JSONResponse(error_body(code, message, field), status_code=status, headers=headers)


def _field_of(loc: tuple | list) -> str | None:
    """("body", "text") -> "text"; ("query", "limit") -> "limit"; ("body",) -> "body"."""
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header", "cookie") and len(parts) > 1:
        parts = parts[1:]
    return ".".join(parts) or None


def describe_request_errors(errors: list[dict[str, Any]]) -> tuple[str, str | None]:
    """A readable message naming every bad field (first five) and the first field's name."""
    if not errors:
        return "invalid request", None
    messages = []
    for err in errors[:5]:
        field = _field_of(err.get("loc", ())) or "(request)"
        if err.get("type") == "json_invalid":
            messages.append("request body is not valid JSON")
            continue
        if err.get("type") == "missing":
            rule = "required field is missing"
        elif err.get("type") == "extra_forbidden":
            rule = "unknown field"
        else:
            rule = plain_rule(err)
        messages.append(f"{field}: {rule}")
    first = errors[0]
    field = "body" if first.get("type") == "json_invalid" else _field_of(first.get("loc", ()))
    return "; ".join(messages), field


async def _kith_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, KithError)
    if exc.status >= 500:
        log.error("%s %s failed: %s", request.method, request.url.path, exc.message)
    return JSONResponse(exc.to_dict(), status_code=exc.status)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    message, field = describe_request_errors(list(exc.errors()))
    return error_response(422, "validation_failed", message, field)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    code = _HTTP_CODES.get(status, "error")
    if status == 404:
        message = f"nothing at {request.method} {request.url.path}"
    elif status == 405:
        message = f"{request.method} is not allowed on {request.url.path}"
    else:
        message = str(exc.detail)
    return error_response(status, code, message, headers=getattr(exc, "headers", None))


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error in %s %s", request.method, request.url.path)
    return error_response(500, "internal", "internal error; the server log has the details")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(KithError, _kith_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
