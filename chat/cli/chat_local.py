"""The terminal chat's own commands (§11.3): /help, /quit, /regen, /continue, /respond,
/rewind and /bot. They act on the chat here and are never sent to the bot as a message;
a line that starts with "//" sends the rest, slash included ("//shrug" says "/shrug")."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import click

from chat.errors import KithError
from chat.runtime.runtime import Runtime

HELP = """Commands (not sent to the bot):
  /help            this list
  /quit, /exit     leave (Ctrl-D too)
  /regen           write another reply in place of the last one
  /continue        let the bot go on with its last reply
  /respond         ask for a reply without writing a message
  /rewind          undo your last message and everything after it
  /bot ID          talk with another bot (its 1:1 chat)
Start a line with // to send a message that begins with a slash."""

QUIT = object()
"""What `run_command` returns for /quit."""

Follow = Callable[[Runtime, dict[str, Any], dict[str, str], Callable[[], Awaitable[str]]], Awaitable[int]]


def is_command(line: str) -> bool:
    """A local command: "/" and a letter. "//..." is a message that starts with a slash."""
    text = line.strip()
    return len(text) > 1 and text[0] == "/" and text[1].isalpha()


def header(chat: dict[str, Any], names: dict[str, str]) -> str:
    """"Fog over Saltmere — with Mara, Tobias", but not "Chat with Old Pell — with Old Pell"."""
    bots = [names.get(b, b) for b in chat["bot_ids"]]
    title = chat["title"]
    if all(name.lower() in title.lower() for name in bots):
        return title
    return f"{title} — with {', '.join(bots)}"


async def run_command(
    rt: Runtime,
    chat: dict[str, Any],
    names: dict[str, str],
    line: str,
    *,
    follow: Follow,
    choose_chat: Callable[[Runtime, str], Awaitable[dict[str, Any]]],
) -> Any:
    """Run one local command. Returns QUIT, a chat to switch to (for /bot), or None."""
    word, _, rest = line.strip().partition(" ")
    word = word.lower()
    try:
        if word in ("/quit", "/exit"):
            return QUIT
        if word == "/help":
            click.echo(HELP)
        elif word in ("/regen", "/regenerate"):
            await follow(rt, chat, names, lambda: rt.regenerate(chat["id"]))
        elif word == "/continue":
            await follow(rt, chat, names, lambda: rt.continue_reply(chat["id"]))
        elif word == "/respond":
            await follow(rt, chat, names, lambda: rt.respond(chat["id"]))
        elif word == "/rewind":
            await _rewind(rt, chat)
        elif word == "/bot":
            if not rest.strip():
                click.echo("usage: /bot ID (known: " + ", ".join(sorted(names)) + ")")
                return None
            switched = await choose_chat(rt, rest.strip())
            click.echo(header(switched, names))
            return switched
        else:
            click.echo(f"unknown command {word}; /help lists the commands (nothing was sent)")
    except KithError as exc:
        click.echo(f"({word}: {exc.message})", err=True)
    return None


async def _rewind(rt: Runtime, chat: dict[str, Any]) -> None:
    mine = [m for m in rt.transcript(chat["id"]) if m["author"] == "you"]
    if not mine:
        click.echo("nothing to rewind: you have not written anything in this chat")
        return
    last = mine[-1]
    reverted = await rt.rewind(chat["id"], last["id"])
    shown = last["text"] if len(last["text"]) <= 60 else last["text"][:59] + "…"
    click.echo(f"rewound: {len(reverted)} turn(s) undone, from your message “{shown}” on")
