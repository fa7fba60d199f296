"""The short form of the memory ids a reply recalled (``message_posted``, §8.4, §13).

A reply's ``retrieved_memory_ids`` name the memories its prompt recalled, best first:
mostly the bot's own witnessed observations, ``obs:msg-<rest>:<bot>`` (chat/state/
observations.py; ``msg-<rest>``, the message's id), the bot being the message's author.
Such an id is stored as ``*<rest>``: 12 bytes less an id, ~100 a reply. No id starts
with ``*`` (``ID_RE``), so the short form is never taken for an id, and ``recalled_ids``
gives back the exact list; every other id is stored as it is, and messages written before keep theirs whole.
Every event read through the log (``chat.eventlog.log``: the projections, replay, rewind,
``/api/events``, ``kith events``, a world file) has the whole ids; a reader of the stored
JSON itself ("why did it say that?") reads them through ``recalled_ids``.
"""

from __future__ import annotations

from typing import Any

OWN_MARK = "*"
_PREFIX = "obs:msg-"  # chat.state.observations.OBSERVATION_PREFIX and a message id's (state is above)


def short_id(memory_id: str, author: str) -> str:
    """``memory_id`` as stored in a message of ``author``."""
    suffix = ":" + author
    rest = memory_id[len(_PREFIX) : len(memory_id) - len(suffix)]
    if memory_id.startswith(_PREFIX) and memory_id.endswith(suffix) and rest[:1].isascii() and rest[:1].isalnum():
        return OWN_MARK + rest  # a short form that is no id starts with a letter or digit
    return memory_id


def full_id(stored: str, author: str) -> str:
    """The memory id a stored entry of a message of ``author`` names."""
    return f"{_PREFIX}{stored[1:]}:{author}" if stored.startswith(OWN_MARK) else stored


def recalled_ids(payload: dict[str, Any]) -> list[str]:
    """The exact memory ids a ``message_posted`` payload recalled, in either form."""
    ids = payload.get("retrieved_memory_ids") or []
    suffix = f":{payload.get('author', '')}"  # `full_id`, inlined: a replay reads every reply
    return [f"{_PREFIX}{stored[1:]}{suffix}" if stored[:1] == OWN_MARK else stored for stored in ids]
