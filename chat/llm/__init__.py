"""Model backends (§7): one small interface, three built-ins, a registry for more."""

from chat.llm.base import Backend
from chat.llm.registry import available_backends, create_backend, register_backend
from chat.llm.types import ChatMessage, JsonRequest, ReplyRequest

__all__ = [
    "Backend",
    "ChatMessage",
    "JsonRequest",
    "ReplyRequest",
    "available_backends",
    "create_backend",
    "register_backend",
]
