"""Turning model text into a validated pydantic object: prompt, parse, validate, repair."""

from __future__ import annotations

import json
import re
from typing import Any

import pydantic

from chat.errors import ModelOutputInvalid
from chat.llm.types import ChatMessage, JsonRequest

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)


def schema_of(model: type[pydantic.BaseModel]) -> dict[str, Any]:
    """The JSON schema the model output must match."""
    return model.model_json_schema()


def schema_instruction(model: type[pydantic.BaseModel]) -> str:
    """A system-prompt line that tells the model to answer with JSON matching the schema."""
    schema = json.dumps(schema_of(model), separators=(",", ":"))
    return (
        "Answer with one JSON object and nothing else (no prose, no code fence). "
        f"It must match this JSON schema: {schema}"
    )


def with_schema_instruction(req: JsonRequest) -> list[ChatMessage]:
    """The request's messages with the schema instruction added to the system message."""
    instruction = schema_instruction(req.schema)
    messages = list(req.messages)
    if messages and messages[0].role == "system":
        messages[0] = ChatMessage("system", f"{messages[0].content}\n\n{instruction}")
    else:
        messages.insert(0, ChatMessage("system", instruction))
    return messages


def parse_json_text(text: str) -> Any:
    """Parse the JSON object in `text`, tolerating a code fence or prose around it.

    Model output is untrusted: nesting deep enough to exhaust the parser's
    recursion counts as invalid JSON, like any other malformed reply. A raw line break or
    tab inside a string (a small model writes them, even under a grammar) is taken as
    written (``strict=False``), not as a reason to throw the answer away.
    """
    stripped = text.strip()
    if not stripped:
        raise ValueError("the reply was empty")
    try:
        return json.loads(stripped, strict=False)
    except json.JSONDecodeError as exc:
        first_error = f"{exc.msg} at line {exc.lineno} column {exc.colno}"
    except RecursionError:
        raise ValueError("not valid JSON (nested too deeply)") from None
    candidates = []
    fenced = _FENCE.search(stripped)
    if fenced:
        candidates.append(fenced.group(1))
    start = stripped.find("{")
    if start >= 0:
        candidates.append(stripped[start:])
    for candidate in candidates:
        try:
            obj, _ = json.JSONDecoder(strict=False).raw_decode(candidate.strip())
            return obj
        except (json.JSONDecodeError, RecursionError):
            continue
    raise ValueError(f"not valid JSON ({first_error})")


def validate_output(text: str, model: type[pydantic.BaseModel]) -> pydantic.BaseModel:
    """Parse and validate `text`; raise ValueError with a short, model-readable reason."""
    data = parse_json_text(text)
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}"
            for err in exc.errors()[:5]
        )
        raise ValueError(f"JSON does not match the schema: {problems}") from None


def repair_messages(messages: list[ChatMessage], bad_output: str, error: str) -> list[ChatMessage]:
    """Messages for the one repair attempt: the bad output and what was wrong with it."""
    return [
        *messages,
        ChatMessage("assistant", bad_output[:4000]),
        ChatMessage(
            "user",
            f"That answer was not usable: {error}. Reply again with only the corrected JSON "
            "object that matches the schema.",
        ),
    ]


def invalid_output(req: JsonRequest, error: str) -> ModelOutputInvalid:
    """The error raised when the repair attempt failed too."""
    return ModelOutputInvalid(
        f"the model did not return valid JSON for {req.purpose} after one repair attempt: "
        f"{error}. A larger model usually fixes this (set KITH_MODEL or --model)."
    )


def example_instance(model: type[pydantic.BaseModel]) -> pydantic.BaseModel:
    """A minimal valid instance of `model`, built from its JSON schema (for the scripted backend)."""
    schema = schema_of(model)
    return model.model_validate(_example(schema, schema.get("$defs", {})))


def _example(schema: dict[str, Any], defs: dict[str, Any]) -> Any:
    if "$ref" in schema:
        return _example(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
    if "default" in schema:
        return schema["default"]
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"] or schema[key]
            return _example(options[0], defs)
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        props = schema.get("properties", {})
        return {k: _example(props[k], defs) for k in schema.get("required", []) if k in props}
    if kind == "array":
        return [_example(schema.get("items", {}), defs) for _ in range(schema.get("minItems", 0))]
    if kind == "string":
        return "x" * schema.get("minLength", 0)
    if kind in ("integer", "number"):
        if "minimum" in schema:
            return schema["minimum"]
        if "exclusiveMinimum" in schema:
            return schema["exclusiveMinimum"] + 1
        return min(0, schema.get("maximum", 0))
    if kind == "boolean":
        return False
    return None


STRING_BOUND = 240
"""The longest string a constrained generation may write (`bounded_schema`)."""


def end_cut_string(text: str, bound: int = STRING_BOUND) -> str:
    """``text`` ended at a word with "…" when the bound cut it mid-word.

    A grammar-constrained model that runs into ``maxLength`` stops wherever it is, often
    inside a word; stored as is, a memory would end "...protect it from the sea. T". Only a
    text of exactly the bound's length ending in a letter or digit is taken as cut: a
    server that does not enforce the bound may send longer texts, which stay whole."""
    if len(text) != bound or not text[-1].isalnum() or len(text.split(None, 1)) < 2:
        return text
    return text.rsplit(None, 1)[0].rstrip(" ,;:-") + "…"


def bounded_schema(
    model: type[pydantic.BaseModel], max_items: int = 6, max_length: int = STRING_BOUND
) -> dict[str, Any]:
    """The model's JSON schema with every array and string given an upper bound.

    Used to constrain generation (grammar / response_format) so that a small model
    cannot loop inside an array or a string until it runs out of tokens.
    """

    def bound(node: Any) -> Any:
        if isinstance(node, list):
            return [bound(item) for item in node]
        if not isinstance(node, dict):
            return node
        out = {key: bound(value) for key, value in node.items()}
        kind = out.get("type")
        kinds = kind if isinstance(kind, list) else [kind]
        if "array" in kinds and "maxItems" not in out:
            out["maxItems"] = max_items
        if "string" in kinds and "maxLength" not in out and "enum" not in out:
            out["maxLength"] = max_length
        return out

    return bound(schema_of(model))
