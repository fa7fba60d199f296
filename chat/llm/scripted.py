"""Scripted backend (§7.5): deterministic replies and extraction without a model.

With no script, a reply echoes the user's message and extraction records it as
one observation per participating bot. A JSON script file (docs/script-format.md)
gives replies, extraction results, delays and failures for matching messages.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from chat.errors import (
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    ConfigError,
    ModelOutputInvalid,
)
from chat.llm.base import Backend, check_cancel, sleep_or_cancel
from chat.llm.jsonutil import example_instance
from chat.llm.types import JsonRequest, ReplyRequest

if TYPE_CHECKING:
    from chat.config import Settings

_WORDS = re.compile(r"\S+\s*|\s+")
_TOKENS = re.compile(r"\w+|[^\w\s]")
_ERRORS: dict[str, type[BackendError]] = {
    "error": BackendError,
    "timeout": BackendTimeout,
    "unavailable": BackendUnavailable,
    "invalid_output": ModelOutputInvalid,
}


class ScriptRule(BaseModel):
    """One rule of a script file; the first rule that matches and has an answer wins."""

    model_config = ConfigDict(extra="forbid")

    match: str = ""
    bot: str | None = None
    reply: str | None = None
    extraction: dict[str, Any] | None = None
    reflection: dict[str, Any] | None = None
    delay_ms: int | None = Field(None, ge=0, le=60_000)
    error: str | None = None
    error_type: Literal["error", "timeout", "unavailable", "invalid_output"] = "error"
    error_after: int = Field(0, ge=0)
    extraction_error: str | None = None
    extraction_delay_ms: int | None = Field(None, ge=0, le=60_000)
    """How long the extraction of a matching message takes (to see the "updating memories" phase)."""
    chapter: str | None = None
    """A chapter summary (§5.7) for a stretch whose messages match (``match`` is searched in
    them, one "Name: text" per line)."""
    chapter_error: str | None = None
    chapter_delay_ms: int | None = Field(None, ge=0, le=60_000)

    @pydantic.field_validator("match")
    @classmethod
    def _regex(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
        return value

    def matches(self, text: str) -> bool:
        return re.search(self.match, text, re.IGNORECASE) is not None


class Script(BaseModel):
    """A script file: `{"rules": [...]}`."""

    model_config = ConfigDict(extra="forbid")

    rules: list[ScriptRule] = Field(default_factory=list)


def load_script(path: Path) -> Script:
    """Read and validate a script file; errors name the file and the bad rule field."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"cannot read script file {path}: {exc.strerror}", field="script_path"
        ) from None
    except UnicodeDecodeError:
        raise ConfigError(
            f"script file {path} is not text (a script is a JSON file)", field="script_path"
        ) from None
    try:
        return Script.model_validate_json(text)
    except pydantic.ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "(file)"
        raise ConfigError(
            f"script file {path}: {where}: {err['msg']}", field="script_path"
        ) from None


def fill_template(text: str, *, user: str, char: str, message: str) -> str:
    """Replace {{user}}, {{char}} and {{message}} (any case)."""
    values = {"user": user, "char": char, "message": message}
    return re.sub(
        r"\{\{\s*(user|char|message)\s*\}\}",
        lambda m: values[m.group(1).lower()],
        text,
        flags=re.IGNORECASE,
    )


def _fill_all(value: Any, **values: str) -> Any:
    if isinstance(value, str):
        return fill_template(value, **values)
    if isinstance(value, list):
        return [_fill_all(v, **values) for v in value]
    if isinstance(value, dict):
        return {k: _fill_all(v, **values) for k, v in value.items()}
    return value


class ScriptedBackend(Backend):
    """Deterministic answers for tests and demos; no model, no network."""

    name: ClassVar[str] = "scripted"
    supports_json_schema: ClassVar[bool] = True
    has_tokenizer: ClassVar[bool] = False

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid")

        script_path: Path | None = None
        token_delay_ms: int = Field(0, ge=0, le=60_000)
        context_length: int = Field(4096, ge=256)

    options: Options

    def __init__(self, options: Options | None = None) -> None:
        super().__init__(options)
        self._lock = threading.Lock()
        self._script = Script()
        self._script_mtime: float | None = None
        if self.options.script_path is not None:
            self._reload()

    @classmethod
    def from_settings(cls, settings: Settings) -> ScriptedBackend:
        return cls(
            cls.Options(script_path=settings.script_path, context_length=settings.context_length or 4096)
        )

    def info(self) -> dict[str, Any]:
        return {"name": self.name, "script": str(self.options.script_path or "")}

    # -- script file ---------------------------------------------------------------------

    def _reload(self) -> None:
        path = self.options.script_path
        assert path is not None
        try:
            mtime = path.stat().st_mtime
        except OSError as exc:
            raise ConfigError(
                f"script file {path} not found: {exc.strerror}", field="script_path"
            ) from None
        with self._lock:
            if mtime != self._script_mtime:
                self._script = load_script(path)
                self._script_mtime = mtime

    def _rules(self) -> list[ScriptRule]:
        if self.options.script_path is not None:
            self._reload()
        return self._script.rules

    # -- replies ---------------------------------------------------------------------------

    async def stream_reply(
        self, req: ReplyRequest, cancel: asyncio.Event | None = None
    ) -> AsyncIterator[str]:
        check_cancel(cancel)
        rule = next(
            (
                r
                for r in self._rules()
                if (r.reply is not None or r.error is not None)
                and (r.bot is None or r.bot == req.bot_id)
                and r.matches(req.user_text)
            ),
            None,
        )
        if rule is not None and rule.reply is not None:
            text = fill_template(
                rule.reply, user=req.user_name, char=req.bot_name, message=req.user_text
            )
        else:
            text = f"{req.bot_name} heard you say: {req.user_text}"
        text = _cut_at_stop(text, req.stop)
        pieces = _WORDS.findall(text)[: max(req.max_tokens, 0)]
        fail_after = rule.error_after if rule is not None and rule.error is not None else None
        delay_ms = rule.delay_ms if rule is not None and rule.delay_ms is not None else None
        delay = (delay_ms if delay_ms is not None else self.options.token_delay_ms) / 1000
        for index, piece in enumerate(pieces):
            if fail_after is not None and index >= fail_after:
                break
            if delay:
                await sleep_or_cancel(delay, cancel)
            else:
                await asyncio.sleep(0)
            check_cancel(cancel)
            yield piece
        if fail_after is not None:
            assert rule is not None and rule.error is not None
            raise _ERRORS[rule.error_type](rule.error)

    # -- JSON ------------------------------------------------------------------------------

    async def complete_json(self, req: JsonRequest) -> pydantic.BaseModel:
        await asyncio.sleep(0)
        if req.purpose == "extraction":
            delay = self._extraction_delay(req.context)
            if delay:
                await asyncio.sleep(delay)
            data = self._extraction(req.context)
        elif req.purpose == "reflection":
            data = self._reflection(req.context)
        elif req.purpose == "chapter":
            data = await self._chapter(req.context)
        else:
            return example_instance(req.schema)
        try:
            return req.schema.model_validate(data)
        except pydantic.ValidationError as exc:
            raise ModelOutputInvalid(
                f"scripted {req.purpose} does not match {req.schema.__name__}: "
                f"{exc.errors()[0]['msg']}"
            ) from None

    def _extraction_delay(self, context: dict[str, Any]) -> float:
        user_text = str(context.get("user_text", ""))
        rule = next((r for r in self._rules() if r.extraction_delay_ms is not None and r.matches(user_text)), None)
        return (rule.extraction_delay_ms or 0) / 1000 if rule is not None else 0.0

    def _extraction(self, context: dict[str, Any]) -> dict[str, Any]:
        bot_ids = [str(b) for b in context.get("bot_ids", [])]
        user_text = str(context.get("user_text", ""))
        user_name = str(context.get("user_name", "You"))
        for rule in self._rules():
            if rule.extraction is None and rule.extraction_error is None:
                continue
            if (rule.bot is None or rule.bot in bot_ids) and rule.matches(user_text):
                if rule.extraction_error is not None:
                    raise ModelOutputInvalid(rule.extraction_error)
                return _fill_all(rule.extraction, user=user_name, char="", message=user_text)
        memory = f'{user_name} said: "{user_text}"'
        return {
            "memories": [
                {
                    "owner": bot,
                    "text": memory,
                    "kind": "observation",
                    "importance": 3,
                    "about": ["you"],
                }
                for bot in bot_ids
            ]
        }

    def _reflection(self, context: dict[str, Any]) -> dict[str, Any]:
        memories = [str(m) for m in context.get("memories", [])]
        bot_id = context.get("bot_id")
        joined = "\n".join(memories)
        for rule in self._rules():
            if rule.reflection is None:
                continue
            if (rule.bot is None or rule.bot == bot_id) and rule.matches(joined):
                return rule.reflection
        if not memories:
            return {"reflections": []}
        summary = "; ".join(memories[-3:])
        if len(summary) > 300:
            summary = summary[:297] + "..."
        return {
            "reflections": [
                {
                    "text": f"Looking back on {len(memories)} memories: {summary}",
                    "importance": 7,
                    "about": ["you"],
                }
            ]
        }

    async def _chapter(self, context: dict[str, Any]) -> dict[str, Any]:
        """A scripted chapter summary, else one built from the stretch's first and last lines."""
        lines = [str(line) for line in context.get("lines", [])]
        joined = "\n".join(lines)
        rule = next(
            (
                r
                for r in self._rules()
                if (r.chapter is not None or r.chapter_error is not None or r.chapter_delay_ms)
                and r.matches(joined)
            ),
            None,
        )
        if rule is not None:
            if rule.chapter_delay_ms:
                await asyncio.sleep(rule.chapter_delay_ms / 1000)
            if rule.chapter_error is not None:
                raise ModelOutputInvalid(rule.chapter_error)
            if rule.chapter is not None:
                return {"summary": fill_template(rule.chapter, user="", char="", message=joined)}
        if not lines:
            return {"summary": ""}
        return {"summary": f"{len(lines)} messages, from \"{_clip(lines[0])}\" to \"{_clip(lines[-1])}\"."}

    # -- tokens ----------------------------------------------------------------------------

    def count_tokens(self, text: str) -> int:
        return len(_TOKENS.findall(text))

    def context_length(self) -> int:
        return self.options.context_length


def _clip(text: str, words: int = 12) -> str:
    parts = text.split()
    return " ".join(parts[:words]) + (" ..." if len(parts) > words else "")


def _cut_at_stop(text: str, stop: list[str]) -> str:
    cuts = [text.find(s) for s in stop if s and s in text]
    return text[: min(cuts)] if cuts else text
