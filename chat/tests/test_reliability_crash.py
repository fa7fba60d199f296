"""Kill -9 during a stream of turns (§14.1, §10.3, §4.3): nothing acknowledged is lost.

A child process (`reliability_turn_child`) runs the real `Runtime` with the
scripted backend on a data directory, posting to a 1:1 and a group chat in
parallel (with the odd regenerate, and retries of what earlier kills left
failed), and prints every acknowledged action. The parent SIGKILLs it at a
random moment, checks the data directory, and starts it again, several rounds.
After every kill:

* every acknowledged message is in the log (author, text, chat, turn) and in the
  chat's transcript, and its turn is queued in the log;
* every stored bot reply is whole: exactly the scripted reply to the message its
  turn answers (a reply cut off mid-stream would be a prefix of it), and no bot
  answers twice in one turn, retries included;
* every payload passes its schema, and the projections after a cold load equal
  a full replay, both by the tail and by the newest snapshot plus the tail (no
  snapshot written while being killed is ever quarantined or breaks start);
* turns that were running when killed are never left running: one that had
  stored a reply is failed, with a reason, on restart (so it can be retried);
  one that had stored none runs again, as if just posted.

At the end a last start retries every failed turn and waits: every turn completes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import chat
from chat.db.connection import open_db
from chat.eventlog.log import Event, iter_events
from chat.eventlog.projector import canonical_dump, rebuild
from chat.eventlog.schemas import validate_payload
from chat.llm.scripted import ScriptedBackend
from chat.runtime.recovery import RESTART_REASON
from chat.snapshots.api import list_snapshot_paths, take_snapshot
from chat.snapshots.cold_load import cold_load
from chat.snapshots.store import file_name
from chat.state.chats import transcript
from chat.tests.reliability_turn_child import TOKEN_DELAY_MS, make_runtime

REPO = Path(chat.__file__).resolve().parents[1]
CHILD = "chat.tests.reliability_turn_child"
ROUNDS = 8
BOT_NAMES = {"mara": "Mara", "finn": "Finn"}


@dataclass(frozen=True)
class Ack:
    chat_id: str
    message_id: str
    turn_id: str
    text: str


class Child:
    """The child process and what it printed (read on a thread, so it never blocks)."""

    def __init__(self, data_dir: Path, mode: str, seed: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", CHILD, str(data_dir), mode, str(seed)],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            start_new_session=True,  # its own process group: a kill takes its children too
        )  # fmt: skip
        self.lines: list[str] = []
        self.errors: list[str] = []
        self._readers = [
            threading.Thread(target=self._read, args=(self.proc.stdout, self.lines), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr, self.errors), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream: Any, into: list[str]) -> None:
        for line in stream:
            into.append(line.rstrip("\n"))

    def wait_for(self, prefix: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = next((line for line in self.lines if line.startswith(prefix + " ")), None)
            if found is not None:
                return found.split(" ", 1)[1]
            if self.proc.poll() is not None and not any(r.is_alive() for r in self._readers[:1]):
                break
            time.sleep(0.005)
        self.kill()
        raise AssertionError(f"child never printed {prefix!r}:\n" + "\n".join(self.errors[-40:]))

    def kill(self) -> None:
        if self.proc.poll() is None:  # the app and its snapshot writer die together
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        for reader in self._readers:
            reader.join(timeout=10)

    def acks(self) -> list[Ack]:
        found = []
        for line in self.lines:
            if line.startswith("ack "):
                _, chat_id, message_id, turn_id, text = line.split(" ", 4)
                found.append(Ack(chat_id, message_id, turn_id, json.loads(text)))
        return found


@dataclass
class Checked:
    running: set[str]
    answered: set[str]
    """The running turns that had stored a reply."""
    unfinished_replies: int
    snapshot_path: str
    tmp_files: set[str]


def _copy_if_still_there(src: str, dst: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        shutil.copy2(src, dst)


def check_after_kill(
    data_dir: Path, acks: dict[str, Ack], work: Path, stopped: frozenset[str] = frozenset()
) -> Checked:
    """Every check of the module docstring, on a copy of the killed process's data directory."""
    work.mkdir()
    for name in ("kith.db", "kith.db-wal"):
        if (data_dir / name).exists():
            shutil.copy2(data_dir / name, work / name)
    if (data_dir / "snapshots").is_dir():
        # The killed runtime's snapshot writer is a child process that may outlive it for a
        # moment and rename its temporary file while we copy: a file that vanishes is skipped.
        shutil.copytree(
            data_dir / "snapshots", work / "snapshots", copy_function=_copy_if_still_there
        )
    tmp_files = {path.name for path in (data_dir / "snapshots").rglob("*.tmp")}
    with open_db(work / "kith.db") as conn:
        log = list(iter_events(conn))
        for event in log:
            validate_payload(event.kind, event.payload)
        unfinished = check_log(log, acks, stopped)
        assert cold_load(conn, work).path == "tail"
        by_tail = canonical_dump(conn)
        forced = cold_load(conn, work, force_rebuild=True)
        by_snapshot = canonical_dump(conn)
        rebuild(conn)
        replayed = canonical_dump(conn)
        assert by_tail == replayed, "incremental projections differ from a full replay"
        assert by_snapshot == replayed, f"snapshot + tail differs from a full replay ({forced})"
        assert forced.quarantined == (), forced
        for chat_id in {ack.chat_id for ack in acks.values()}:
            shown = {m["id"] for m in transcript(conn, chat_id)}
            missing = [
                a for a in acks.values() if a.chat_id == chat_id and a.message_id not in shown
            ]
            assert not missing, missing
        running = {row[0] for row in conn.execute("SELECT id FROM turns WHERE status = 'running'")}
        answered = {
            row[0]
            for row in conn.execute(
                "SELECT DISTINCT turn_id FROM messages WHERE author != 'you' AND deleted = 0"
            )
        } & running
    return Checked(running, answered, unfinished, forced.path, tmp_files)


def _answered(
    turn: dict[str, Any], posted: dict[str, Event], queued: dict[str, dict[str, Any]]
) -> str:
    """The user's text a turn answers; a regenerate answers what the reply it redoes did."""
    while not turn.get("user_message_id"):
        turn = queued[posted[turn["regenerate_group"]].turn_id or ""]
    return str(posted[turn["user_message_id"]].payload["text"])


def check_log(log: list[Event], acks: dict[str, Ack], stopped: frozenset[str] = frozenset()) -> int:
    """Acknowledged messages are in the log; bot replies are whole and never doubled
    (a reply of a turn in ``stopped``, which the user stopped, as far as it got).

    Returns how many whole replies belong to a turn with no ``turn_completed`` (yet)."""
    posted = {e.payload["id"]: e for e in log if e.kind == "message_posted"}
    queued: dict[str, dict[str, Any]] = {}
    for event in log:
        if event.kind == "turn_queued":
            queued.setdefault(event.turn_id or "", event.payload)
    completed = {e.turn_id for e in log if e.kind == "turn_completed"}
    for ack in acks.values():
        event = posted.get(ack.message_id)
        assert event is not None, f"acknowledged message {ack} is not in the log"
        assert (event.payload["author"], event.payload["text"]) == ("you", ack.text)
        assert (event.chat_id, event.turn_id) == (ack.chat_id, ack.turn_id)
        assert ack.turn_id in queued, f"the turn of {ack} was never queued"
    spoken: Counter[tuple[str, str]] = Counter()
    unfinished = 0
    for event in posted.values():
        author = event.payload["author"]
        if author == "you":
            continue
        turn = queued[event.turn_id or ""]
        expected = f"{BOT_NAMES[author]} heard you say: {_answered(turn, posted, queued)}"
        if event.turn_id in stopped:
            assert event.payload["text"] and expected.startswith(event.payload["text"]), (
                "wrong reply"
            )
        else:
            assert event.payload["text"] == expected, "partial or wrong reply"
        spoken[(event.turn_id or "", author)] += 1
        unfinished += event.turn_id not in completed
    doubled = [key for key, count in spoken.items() if count > 1]
    assert not doubled, f"a bot answered twice in one turn: {doubled}"
    return unfinished


def test_kill_9_during_turns_loses_nothing_acknowledged(data_dir: Path, tmp_path: Path) -> None:
    rng = random.Random(1441)
    acks: dict[str, Ack] = {}
    running: set[str] = set()
    answered: set[str] = set()
    stopped: frozenset[str] = frozenset()
    acked_stops: set[str] = set()
    seen: Counter[str] = Counter()
    tmp_files: set[str] = set()
    for round_no in range(ROUNDS):
        child = Child(data_dir, "talk", seed=round_no)
        state = json.loads(child.wait_for("ready"))
        assert state["quarantined"] == [], state
        for turn_id in answered:  # left running by the kill after a reply: failed on start
            assert state["turns"][turn_id] == ["failed", RESTART_REASON]
        for turn_id in running - answered:  # before any reply: it runs again
            assert state["turns"][turn_id][0] in ("running", "completed"), state["turns"][turn_id]
        for turn_id in acked_stops:  # an acknowledged stop ended the turn for good
            status, error = state["turns"][turn_id]
            assert status in ("failed", "completed") and error != RESTART_REASON, (turn_id, status, error)
        time.sleep(rng.uniform(0.3, 1.3))
        child.kill()
        assert child.proc.returncode == -signal.SIGKILL, "\n".join(child.errors[-30:])
        new = child.acks()
        acks.update((ack.message_id, ack) for ack in new)
        stopped |= {line.split()[1] for line in child.lines if line.startswith("stop ")}
        acked_stops = {line.split()[1] for line in child.lines if line.startswith("stopped ")}
        checked = check_after_kill(data_dir, acks, tmp_path / f"round-{round_no}", stopped)
        running, answered = checked.running, checked.answered
        seen.update(
            acks=len(new), running=len(running), unfinished=checked.unfinished_replies,
            answered=len(answered),
            retries=sum(line.startswith("retry ") for line in child.lines),
            stops=sum(line.startswith("stop ") for line in child.lines),
            acked_stops=len(acked_stops),
            regenerates=sum(line.startswith("regen ") for line in child.lines),
            **{f"path_{checked.snapshot_path}": 1},
        )  # fmt: skip
        tmp_files |= checked.tmp_files  # snapshots a kill caught half written

    settle = Child(data_dir, "settle", seed=ROUNDS)
    statuses = json.loads(settle.wait_for("settled", timeout=60))
    settle.proc.wait(timeout=30)
    final = check_after_kill(data_dir, acks, tmp_path / "settled", stopped)
    print({**seen, "tmp_files": len(tmp_files)})
    assert set(statuses.values()) == {"completed"}, statuses
    assert final.running == set() and final.unfinished_replies == 0
    assert {ack.turn_id for ack in acks.values()} <= set(statuses)
    # The test means something only if it acknowledged plenty and killed turns mid-way.
    assert seen["acks"] >= 40 and seen["running"] >= 2 and seen["retries"] >= 1, seen
    assert seen["running"] > seen["answered"] and seen["stops"] >= 1, seen  # some ran again
    assert seen["acked_stops"] >= 1, seen
    assert seen["path_snapshot"] >= ROUNDS // 2, seen


def test_the_log_checks_catch_lost_partial_and_doubled_replies() -> None:
    """The checks above can fail: a lost ack, a cut reply and a doubled reply are each caught."""

    def event(n: int, kind: str, payload: dict[str, Any], turn: str = "t1") -> Event:
        return Event(n, kind, payload, "2026-01-01T00:00:00Z", "c1", turn, "system")

    you = {"id": "m1", "chat_id": "c1", "author": "you", "text": "hi", "retrieved_memory_ids": []}
    queued = {"id": "t1", "chat_id": "c1", "kind": "message", "user_message_id": "m1"}
    reply = {**you, "id": "m2", "author": "mara", "text": "Mara heard you say: hi"}
    log = [
        event(1, "message_posted", you),
        event(2, "turn_queued", queued),
        event(3, "message_posted", reply),
    ]
    ack = {"m1": Ack("c1", "m1", "t1", "hi")}
    assert check_log(log, ack) == 1  # whole, but the turn has not completed
    with pytest.raises(AssertionError, match="not in the log"):
        check_log(log, {**ack, "m9": Ack("c1", "m9", "t1", "lost")})
    with pytest.raises(AssertionError, match="partial"):
        check_log(
            [*log[:2], event(3, "message_posted", {**reply, "text": "Mara heard you say: "})], ack
        )
    with pytest.raises(AssertionError, match="twice"):
        check_log([*log, event(4, "message_posted", {**reply, "id": "m3"})], ack)


# --- a kill between the stored reply and turn_completed ----------------------------------


@pytest.fixture(scope="module")
def killed_after_reply(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """A data directory whose process was killed after the reply, during extraction."""
    data_dir = tmp_path_factory.mktemp("held") / "data"
    child = Child(data_dir, "hold", seed=0)
    child.wait_for("ready")
    turn_id = child.wait_for("stored")
    child.kill()
    yield data_dir, turn_id


def _retry_after_restart(source: Path, work: Path, turn_id: str) -> dict[str, Any]:
    shutil.copytree(source, work)

    async def run() -> dict[str, Any]:
        backend = ScriptedBackend(ScriptedBackend.Options(token_delay_ms=TOKEN_DELAY_MS))
        rt = make_runtime(work, backend)
        await rt.start()
        try:
            after_start = rt.get_turn(turn_id)
            await rt.retry_turn(turn_id)
            await rt.wait_idle()
            retried = rt.get_turn(turn_id)
            chat_id = retried["chat_id"]
            return {
                "after_start": after_start,
                "retried": retried,
                "transcript": rt.transcript(chat_id),
            }
        finally:
            await rt.stop()

    return asyncio.run(run())


def test_kill_after_the_reply_fails_the_turn_and_retry_keeps_one_reply(
    killed_after_reply: tuple[Path, str], tmp_path: Path
) -> None:
    source, turn_id = killed_after_reply
    result = _retry_after_restart(source, tmp_path / "data", turn_id)
    assert result["after_start"]["status"] == "failed"
    assert result["after_start"]["error"] == RESTART_REASON
    assert result["retried"]["status"] == "completed"
    assert [(m["author"], m["text"]) for m in result["transcript"]] == [
        ("you", "Remember this: the buoy moved."),
        ("mara", "Mara heard you say: Remember this: the buoy moved."),
    ]
    assert result["retried"]["message_ids"] == [result["transcript"][1]["id"]]


def test_retry_after_a_kill_still_extracts_the_exchange(
    killed_after_reply: tuple[Path, str], tmp_path: Path
) -> None:
    source, turn_id = killed_after_reply
    work = tmp_path / "data"
    result = _retry_after_restart(source, work, turn_id)
    assert result["retried"]["status"] == "completed"
    with open_db(work / "kith.db") as conn:
        extracted = [
            e for e in iter_events(conn) if e.turn_id == turn_id and e.kind == "memory_added"
        ]
    assert extracted, "the exchange of the retried turn was never extracted"


# --- a snapshot half written when the process died -------------------------------------


def test_half_written_snapshot_is_never_picked_up(data_dir: Path) -> None:
    """A kill during `write_atomically` leaves a hidden ``.tmp``; start never reads it as a
    snapshot, and removes it."""

    async def first_run() -> Path:
        rt = make_runtime(data_dir, ScriptedBackend())
        await rt.start()
        try:
            mara = await rt.author_bot({"name": "Mara"})
            chat_id = (await rt.create_chat([mara["id"]]))["id"]
            for n in range(3):
                await rt.post_message(chat_id, f"message {n}")
                await rt.wait_idle()
        finally:
            await rt.stop()
        with open_db(data_dir / "kith.db") as conn:
            return take_snapshot(conn, data_dir=data_dir)

    good = asyncio.run(first_run())
    newest = good.parent / f".{file_name(time_ahead(), 10**6)}.tmp"
    newest.write_bytes(good.read_bytes()[: good.stat().st_size // 2])

    async def restart() -> tuple[Any, dict, dict]:
        rt = make_runtime(data_dir, ScriptedBackend())
        rt.force_rebuild = True
        report = await rt.start()
        await rt.stop()
        with open_db(data_dir / "kith.db") as conn:
            restored = canonical_dump(conn)
            rebuild(conn)
            return report, restored, canonical_dump(conn)

    report, restored, replayed = asyncio.run(restart())
    assert (report.path, report.snapshot, report.quarantined) == ("snapshot", good.name, ())
    assert restored == replayed
    assert list_snapshot_paths(data_dir)[-1] == good  # the .tmp is not a snapshot
    assert not newest.exists()  # a leftover nobody writes any more is removed at start
    assert not (data_dir / "snapshots" / "quarantine").exists()


def time_ahead() -> datetime:
    return datetime.now(UTC) + timedelta(hours=1)


# --- a kill before any reply ---------------------------------------------------------------


@pytest.fixture
def spawn() -> Iterator[Callable[[Path, str, int], Child]]:
    """Start children that are all killed at the end, whatever the test's outcome."""
    started: list[Child] = []

    def start(data_dir: Path, mode: str, seed: int) -> Child:
        started.append(Child(data_dir, mode, seed=seed))
        return started[-1]

    yield start
    for child in started:
        child.kill()


def test_a_turn_killed_before_its_reply_runs_again_on_restart(
    tmp_path: Path, spawn: Callable[[Path, str, int], Child]
) -> None:
    """The turn starts in its message's commit; killed before the model said a word, it is
    not failed on restart (nothing of it was shown) but answered, once."""
    data_dir = tmp_path / "data"
    child = spawn(data_dir, "hang", 0)
    child.wait_for("ready")
    turn_id = child.wait_for("started")
    child.kill()

    async def run() -> dict[str, Any]:
        rt = make_runtime(
            data_dir, ScriptedBackend(ScriptedBackend.Options(token_delay_ms=TOKEN_DELAY_MS))
        )
        await rt.start()
        try:
            after_start = rt.get_turn(turn_id)
            await rt.wait_idle()
            done = rt.get_turn(turn_id)
            return {
                "after_start": after_start,
                "done": done,
                "transcript": rt.transcript(done["chat_id"]),
            }
        finally:
            await rt.stop()

    result = asyncio.run(run())
    assert result["after_start"]["status"] in ("running", "completed")
    assert result["after_start"]["error"] is None
    assert result["done"]["status"] == "completed", result["done"]
    assert [(m["author"], m["text"]) for m in result["transcript"]] == [
        ("you", "Remember this: the buoy moved."),
        ("mara", "Mara heard you say: Remember this: the buoy moved."),
    ]


def test_a_turn_found_running_again_after_its_resume_is_failed(
    tmp_path: Path, spawn: Callable[[Path, str, int], Child]
) -> None:
    """A turn that brings the process down (a native crash in the model) must not do it
    on every start: it runs again once, then it is failed, to be retried by the user."""
    data_dir = tmp_path / "data"
    child = spawn(data_dir, "hang", 0)
    child.wait_for("ready")
    turn_id = child.wait_for("started")
    child.kill()
    again = spawn(data_dir, "idle", 0)  # resumes it, and dies with it running
    assert json.loads(again.wait_for("ready"))["turns"][turn_id][0] == "running"
    again.kill()
    last = spawn(data_dir, "idle", 0)
    assert json.loads(last.wait_for("ready"))["turns"][turn_id] == ["failed", RESTART_REASON]
    last.kill()
    with open_db(data_dir / "kith.db") as conn:
        kinds = [
            k
            for (k,) in conn.execute(
                "SELECT kind FROM events WHERE turn_id = ? ORDER BY id", (turn_id,)
            )
        ]
    assert kinds == ["message_posted", "turn_queued", "turn_started", "turn_started", "turn_failed"]


def test_a_second_process_leaves_the_running_turns_of_the_first_alone(
    tmp_path: Path, spawn: Callable[[Path, str, int], Child]
) -> None:
    """``kith chat`` beside ``kith serve``: the server's running turn looks like a crashed
    process's, but only the process owning the data directory's turns recovers them."""
    data_dir = tmp_path / "data"
    child = spawn(data_dir, "hang", 0)
    child.wait_for("ready")
    turn_id = child.wait_for("started")
    try:
        second = spawn(data_dir, "idle", 1)
        assert json.loads(second.wait_for("ready"))["turns"][turn_id] == ["running", None]
        second.kill()
        with open_db(data_dir / "kith.db") as conn:
            kinds = [
                k for (k,) in conn.execute("SELECT kind FROM events WHERE turn_id = ?", (turn_id,))
            ]
        assert kinds == ["message_posted", "turn_queued", "turn_started"]  # not failed, not run
    finally:
        child.kill()
    third = spawn(data_dir, "idle", 2)  # the first is gone: its turn is recovered now
    assert json.loads(third.wait_for("ready"))["turns"][turn_id] == ["running", None]
    third.kill()
    with open_db(data_dir / "kith.db") as conn:
        kinds = [
            k for (k,) in conn.execute("SELECT kind FROM events WHERE turn_id = ?", (turn_id,))
        ]
    assert kinds[-1] == "turn_started" and kinds.count("turn_started") == 2
