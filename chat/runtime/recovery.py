"""What a start does with the turns a previous process left unfinished (§4.3, §14.1).

A turn now starts in its message's commit (``TurnQueues.claim``), before any model call,
so "running" in the log no longer means the model had begun. A running turn that stored
no reply runs again, as if just posted, once: the resume is logged (a second
``turn_started``), and a turn found running again after a resume is failed, so a turn
that brings the process down (a native crash in the model) does not do it on every
start. A running turn that stored a reply is failed; its user retries it (the retry
keeps the reply).

Only the process that owns the data directory's turns recovers them: ``kith chat`` may
run beside ``kith serve`` on one log, and the turns the server is running now look
exactly like a crashed process's. The owner holds an advisory lock on `LOCK_NAME` while
it runs; a process that cannot take it leaves other turns alone.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

from chat.snapshots.format import lock_file
from chat.state import chats as chat_state
from chat.turns.lifecycle import RESTART_REASON, lifecycle

if TYPE_CHECKING:
    from chat.eventlog.writer import Written
    from chat.turns.worker import TurnWorker

log = logging.getLogger(__name__)

LOCK_NAME = "turns.lock"
Action = Literal["queue", "resume", "fail"]


def own_turns(data_dir: Path) -> IO[bytes] | None:
    """The open, locked `LOCK_NAME` of ``data_dir`` (keep it open while running turns), or
    None when another process holds it."""
    handle = open(data_dir / LOCK_NAME, "ab")  # noqa: SIM115 - held open until stop
    if lock_file(handle, wait=False):
        return handle
    handle.close()
    log.info(
        "another Kith process runs the turns of %s; its unfinished turns are left to it", data_dir
    )
    return None


def unfinished_turns(conn: sqlite3.Connection) -> list[tuple[str, str, Action]]:
    """Each queued or running turn, in log order: (turn, chat, what to do)."""
    found: list[tuple[str, str, Action]] = []
    for turn_id, chat_id, status in conn.execute(
        "SELECT id, chat_id, status FROM turns WHERE status IN ('queued', 'running')"
        " ORDER BY updated_event_id"
    ).fetchall():
        if status == "queued":
            found.append((turn_id, chat_id, "queue"))
        elif chat_state.turn_replies(conn, turn_id) or _resumed_before(conn, turn_id):
            found.append((turn_id, chat_id, "fail"))
        else:
            found.append((turn_id, chat_id, "resume"))
    return found


def _resumed_before(conn: sqlite3.Connection, turn_id: str) -> bool:
    """Whether the turn's latest run was already a resume: two ``turn_started`` since its
    latest queueing (a retry queues it again and starts the count over)."""
    kinds = [
        kind
        for (kind,) in conn.execute(
            "SELECT kind FROM events WHERE turn_id = ? AND kind IN ('turn_queued', 'turn_started')"
            " ORDER BY id DESC",
            (turn_id,),
        )
    ]
    starts = 0
    for kind in kinds:
        if kind != "turn_started":
            break
        starts += 1
    return starts >= 2


async def recover_turns(
    read: Callable[[Callable[[sqlite3.Connection], Any]], Awaitable[Any]],
    commit: Callable[..., Awaitable[Written]],
    worker: TurnWorker,
) -> None:
    """Fail, run again or queue again what a previous process left unfinished
    (`unfinished_turns` says which); fails first, so no chat's queue waits behind a
    dead turn. ``read`` and ``commit`` are the runtime's."""
    found = await read(unfinished_turns)
    for turn_id, chat_id, action in found:
        if action == "fail":
            payload = {"id": turn_id, "reason": RESTART_REASON, "cancelled": True}
            await commit(
                lambda conn, p=payload, t=turn_id, c=chat_id: [lifecycle("turn_failed", p, c, t)],
                chat_id,
            )
    for turn_id, chat_id, action in found:  # a chat's running turn headed its queue
        if action == "resume":
            resumed = await commit(
                lambda conn, t=turn_id, c=chat_id: [lifecycle("turn_started", {"id": t}, c, t)],
                chat_id,
                turn_id=turn_id,
            )
            worker.enqueue(chat_id, turn_id, started=resumed.turn)
    for turn_id, chat_id, action in found:
        if action == "queue":
            worker.enqueue(chat_id, turn_id)
