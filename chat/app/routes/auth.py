"""GET /api/auth: whether this server needs the access token, and whether it was sent.

The one API path answered without the token (``PUBLIC_API_PATHS`` in
`chat.app.security`): the UI calls it first so it can ask for the token before any
request fails (a 401 is logged by the browser as an error). It tells nothing else.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from chat.app.context import context
from chat.app.security import request_authorized

router = APIRouter(prefix="/api", tags=["auth"])


@router.get("/auth")
async def auth(request: Request) -> dict[str, bool]:
    """`{token_required, authenticated}`: `authenticated` is true when no token is needed or
    the request carries it (bearer header or the login cookie)."""
    token = context(request).access_token()
    if not token:
        return {"token_required": False, "authenticated": True}
    return {"token_required": True, "authenticated": request_authorized(request.headers, token)}
