"""The plain data a caller hands to a backend: chat messages and the two kinds of request."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import pydantic

Role = Literal["system", "user", "assistant"]


@dataclass
class ChatMessage:
    """One message of a chat-completion prompt."""

    role: Role
    content: str

    def to_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


@dataclass
class ReplyRequest:
    """Ask for a bot's reply, streamed.

    `user_name` is the user's persona name ("You"); `user_text` is the latest
    user message (the scripted backend builds its reply from it).
    """

    messages: list[ChatMessage]
    bot_id: str
    bot_name: str
    user_name: str
    user_text: str
    max_tokens: int = 256
    temperature: float = 0.8
    stop: list[str] = field(default_factory=list)


@dataclass
class JsonRequest:
    """Ask for one JSON object that validates against `schema`.

    `context` carries what the scripted backend needs to answer without a model:
    extraction: {"bot_ids": [...], "bot_names": {...}, "user_text": str, "chat_id": str,
    "user_name": str (optional)}; reflection: {"bot_id": str, "memories": [texts]};
    chapter: {"chat_id": str, "lines": ["Name: text", ...]}.
    """

    messages: list[ChatMessage]
    schema: type[pydantic.BaseModel]
    purpose: Literal["extraction", "reflection", "chapter", "other"] = "other"
    context: dict[str, Any] = field(default_factory=dict)
    max_tokens: int = 512


def messages_as_dicts(messages: list[ChatMessage]) -> list[dict[str, str]]:
    """The OpenAI / llama.cpp wire form of a message list."""
    return [m.to_dict() for m in messages]
