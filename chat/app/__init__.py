"""The web app: `create_app(settings)` builds the FastAPI app (routes one module per resource)."""

from __future__ import annotations

from chat.app.factory import create_app

__all__ = ["create_app"]
