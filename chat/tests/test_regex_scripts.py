"""Card regex scripts (§3.4.1) as SillyTavern runs them, applied to what the model reads."""

from __future__ import annotations

import sqlite3
from typing import Any

from chat.tests.test_prompt_budget import assemble, msg
from chat.turns.regex_scripts import AI_OUTPUT, USER_INPUT, apply_scripts


def script(find: str, replace: str, **extra: Any) -> dict[str, Any]:
    return {"scriptName": "s", "findRegex": find, "replaceString": replace, "trimStrings": [],
            "placement": [USER_INPUT, AI_OUTPUT], "disabled": False, "markdownOnly": False,
            "promptOnly": False, "minDepth": None, "maxDepth": None, **extra}


def test_groups_match_and_the_g_flag() -> None:
    assert apply_scripts("a1 b2", [script(r"/(\w)(\d)/g", "$2$1")], USER_INPUT) == "1a 2b"
    assert apply_scripts("a1 b2", [script(r"/(\w)(\d)/", "$2$1")], USER_INPUT) == "1a b2"
    assert apply_scripts("hi there", [script("/there/", "[{{match}}]")], AI_OUTPUT) == "hi [there]"
    assert apply_scripts("x", [script("/x/", "$3")], AI_OUTPUT) == ""  # a missing group is empty


def test_trim_strings_macros_placement_and_depth() -> None:
    trim = script(r"/<(.*?)>/g", "($1)", trimStrings=["!"])
    assert apply_scripts("<hey!>", [trim], USER_INPUT) == "(hey)"
    named = script("/NAME/", "{{char}}")
    assert apply_scripts("NAME", [named], AI_OUTPUT, expand=lambda t: t.replace("{{char}}", "Pell")) == "Pell"
    only_ai = script("/a/", "b", placement=[AI_OUTPUT])
    assert apply_scripts("a", [only_ai], USER_INPUT) == "a"
    deep = script("/a/", "b", minDepth=2)
    assert apply_scripts("a", [deep], USER_INPUT, depth=0) == "a"
    assert apply_scripts("a", [deep], USER_INPUT, depth=3) == "b"


def test_a_catastrophic_script_gives_up_and_leaves_the_text() -> None:
    text = "a" * 5000 + "!"
    out = apply_scripts(text, [script(r"/^(a|a?)+$/", "x")], USER_INPUT)
    assert out in (text, "x")


def test_the_prompt_reads_the_scripted_history_but_the_transcript_is_untouched(conn: sqlite3.Connection) -> None:
    card = {"spec": "chara_card_v2", "extensions": {"regex_scripts": [
        script(r"/\*\*(.+?)\*\*/g", "$1", promptOnly=True),
        script("/SECRET/g", "[hidden]", markdownOnly=True),  # display only: not run for the prompt
        script("/Mara/", "M.", disabled=True),
    ]}}
    history = [msg(1, "you", "Is the **lamp** lit? SECRET"), msg(2, "mara", "Mara says **no**.")]
    prompt = assemble(conn, history, [], 4000, card=card)
    assert [m.content for m in prompt.messages[1:] if m.role != "system"] == ["Is the lamp lit? SECRET", "Mara says no."]
    assert history[0]["text"] == "Is the **lamp** lit? SECRET"
