"""``kith init`` (a demo world) and ``kith chat`` (talk with a bot in the terminal), §11.3.

Both go through the same `Runtime` as the web app, so a terminal turn is the same
events, the same prompt and the same extraction as one in the browser.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import click

from chat.cli.base import cli_settings, common_options, main, reports_errors, require_data_dir
from chat.cli.chat_local import QUIT, header, is_command, run_command
from chat.config import Settings, offer_recall_by_meaning
from chat.errors import NotFound
from chat.runtime.runtime import Runtime
from chat.state.worlds import bot_worlds

SHOWN_ON_OPEN = 6


@main.command("init")
@common_options
@click.option("--if-empty", is_flag=True, help="Do nothing when the data directory has bots.")
@click.option("--persona", default=None, metavar="NAME", help="Your name in the stories (default: You).")
@click.pass_context
@reports_errors
def init_command(ctx: click.Context, if_empty: bool, persona: str | None) -> None:
    """Create a demo world: three harbour-town characters, lore, world facts and a chat."""
    settings = cli_settings(ctx)
    click.echo(asyncio.run(_init(settings, if_empty, persona)))


async def _init(settings: Settings, if_empty: bool, persona: str | None = None) -> str:
    from chat.demo import create_demo_world
    from chat.llm.scripted import ScriptedBackend

    rt = Runtime(settings, backend=ScriptedBackend())  # init makes no model calls
    await rt.start(recover_turns=False)  # nor runs another's turns on the scripted model
    try:
        existing = rt.list_bots(include_retired=True)
        if existing and if_empty:
            return f"{settings.data_dir} already has {len(existing)} bot(s); nothing to do"
        taken = {b["id"] for b in existing} & {"mara", "tobias", "isolde"}
        if taken:
            raise click.ClickException(
                f"the demo bots already exist in {settings.data_dir} ({', '.join(sorted(taken))}); "
                "use another --data-dir"
            )
        if any(w["id"] == "saltmere" for w in rt.list_worlds(include_archived=True)):
            raise click.ClickException(
                f"the world saltmere already exists in {settings.data_dir}; use another --data-dir"
            )
        world = await create_demo_world(rt, persona=persona)
    finally:
        await rt.stop()
    recall = None if existing else offer_recall_by_meaning(settings)  # a new data directory only
    return (
        f"demo world {world['world']['name']} created in {settings.data_dir}: "
        f"bots {', '.join(world['bots'])}; "
        f"chat {world['chat']['id']} \"{world['chat']['title']}\"\n"
        + (f"{recall}\n" if recall else "")
        + "talk with: kith chat --bot mara    or open the web app: kith serve"
    )


@main.command("chat")
@common_options
@click.option("--bot", "bot_id", default=None, help="Talk with this bot (its latest 1:1 chat, or a new one).")
@click.option("--chat", "chat_id", default=None, help="Continue this chat.")
@click.option("--message", "-m", default=None, help="Send one message, print the reply, exit.")
@click.pass_context
@reports_errors
def chat_command(ctx: click.Context, bot_id: str | None, chat_id: str | None, message: str | None) -> None:
    """Talk with a bot in the terminal; replies stream as they are written. /quit or Ctrl-D leaves."""
    settings = cli_settings(ctx)
    require_data_dir(settings.data_dir)
    code = asyncio.run(_chat(settings, bot_id, chat_id, message))
    if code:
        ctx.exit(code)


async def _chat(settings: Settings, bot_id: str | None, chat_id: str | None, message: str | None) -> int:
    rt = Runtime(settings)
    await rt.start()
    try:
        chat = await _choose_chat(rt, bot_id, chat_id)
        names = {b["id"]: b["name"] for b in rt.list_bots(include_retired=True)}
        names["you"] = rt.persona(chat.get("world_id"))["name"]
        if message is not None:
            return await _exchange(rt, chat, names, message)
        click.echo(f"{header(chat, names)}. /help lists the commands; /quit or Ctrl-D leaves.")
        for old in rt.transcript(chat["id"])[-SHOWN_ON_OPEN:]:
            click.echo(f"{_speaker(old['author'], names)}: {old['text']}")
        while True:
            try:
                line = await asyncio.to_thread(input, f"{names['you']}: ")
            except EOFError:
                click.echo()
                return 0
            if is_command(line):
                done = await run_command(
                    rt, chat, names, line, follow=_follow,
                    choose_chat=lambda runtime, bot: _choose_chat(runtime, bot, None),
                )  # fmt: skip
                if done is QUIT:
                    return 0
                chat = done or chat
            elif line.strip():
                text = line.strip()[1:] if line.strip().startswith("//") else line
                await _exchange(rt, chat, names, text)
    finally:
        await rt.stop()


async def _choose_chat(rt: Runtime, bot_id: str | None, chat_id: str | None) -> dict[str, Any]:
    if chat_id is not None:
        return rt.get_chat(chat_id)
    bots = rt.list_bots()
    if not bots:
        raise NotFound("no bots yet: run `kith init` for a demo world, or import a card")
    if bot_id is None:
        chats = rt.list_chats()
        if chats:
            return chats[0]
        bot_id = bots[0]["id"]
    if bot_id not in {b["id"] for b in bots}:
        known = ", ".join(b["id"] for b in bots)
        raise NotFound(f"no bot with id {bot_id!r}; known bots: {known}", field="bot")
    for chat in rt.list_chats():
        if chat["bot_ids"] == [bot_id]:
            return chat
    worlds = rt._read_now(lambda conn: bot_worlds(conn, bot_id))
    return await rt.create_chat([bot_id], world_id=worlds[0] if worlds else None)


def _speaker(author: str, names: dict[str, str]) -> str:
    return names.get("you", "You") if author == "you" else names.get(author, author)


async def _exchange(rt: Runtime, chat: dict[str, Any], names: dict[str, str], text: str) -> int:
    """Post ``text`` and print the replies as they stream; 1 when the turn fails."""

    async def post() -> str:
        return (await rt.post_message(chat["id"], text))[1]

    return await _follow(rt, chat, names, post)


async def _follow(
    rt: Runtime, chat: dict[str, Any], names: dict[str, str], start: Callable[[], Awaitable[str]]
) -> int:
    """Start a turn with ``start()`` and print its replies as they stream; 1 when it fails."""
    async with rt.bus.subscribe(chat["id"]) as sub:
        turn_id = await start()
        current: str | None = None
        while True:
            event = await sub.get()
            data = event.data
            if event.type == "token" and data["turn_id"] == turn_id:
                if data["message_id"] != current:
                    if current is not None:
                        click.echo()
                    current = data["message_id"]
                    click.echo(f"{_speaker(data['bot_id'], names)}: ", nl=False)
                click.echo(data["text"], nl=False)
                sys.stdout.flush()
            elif event.type == "turn" and data["id"] == turn_id and data["status"] in ("completed", "failed"):
                if current is not None:
                    click.echo()
                if data["status"] == "failed":
                    click.echo(f"(the turn failed: {data['error']}; retry with the web app or "
                               "send the message again)", err=True)  # fmt: skip
                    return 1
                return 0
            elif event.type == "closed":
                return 1
