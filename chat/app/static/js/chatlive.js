// The open chat's stream (SSE) as it arrives: tokens of the replies being written, stored
// messages taking their place, turns queued, running and ended; and catching up after a
// reconnect with the chat's last turn as the server has it.

import { get, seg, uiWords } from "./api.js";
import { $ } from "./dom.js";
import { nameOf, store } from "./store.js";
import { hasPhase, showPhase } from "./phase.js";
import { announceDrawn } from "./pages.js";
import { stopWords, streamingItem } from "./transcript.js";
import { S, forgetTurns, markTurn, pickActiveTurn, stateChanged, turnStatus } from "./chatstate.js";
import { applyMessage, refreshChapters, reload, render, renderFailure } from "./chatview.js";

function keyOf(data) {
  return `${data.turn_id || ""}:${data.author || data.bot_id || ""}`;
}

export function onToken(data) {
  if (data.chat_id && data.chat_id !== store.chatId) return;
  const key = keyOf(data);
  let entry = S.pending.get(key);
  if (!entry) {
    entry = streamingItem(data.author || data.bot_id || "bot");
    S.pending.set(key, entry);
    $("#transcript").querySelector(".empty")?.remove();
    $("#transcript").appendChild(entry.li);
  }
  entry.text.appendChild(document.createTextNode(data.text ?? data.token ?? data.delta ?? ""));
  if (data.turn_id && S.live.statusOf(data.turn_id) !== "running" && !S.endedTurns.has(data.turn_id)) {
    markTurn(data.turn_id, "running"); // its tokens flow: it runs
  }
  if (!hasPhase() && (!data.turn_id || data.turn_id === S.activeTurn)) {
    turnStatus(`${nameOf(data.author || data.bot_id)} is writing…`);
  }
  const list = $("#transcript");
  list.scrollTop = list.scrollHeight;
}

function dropPending(turnId, author) {
  for (const [key, entry] of S.pending) {
    if (key.startsWith(`${turnId || ""}:`) && (!author || key.endsWith(`:${author}`))) {
      entry.li.remove();
      S.pending.delete(key);
    }
  }
}

export function onMessage(data) {
  const message = data.message || data;
  if (message.chat_id && message.chat_id !== store.chatId) return;
  if (!message.id) { // another process appended (kith chat): no message to apply, fetch the end
    reload();
    return;
  }
  // The stored message takes the streamed text's place in the same frame (no flicker).
  const key = `${message.turn_id || ""}:${message.author}`;
  const started = performance.now();
  applyMessage(message);
  announceDrawn($("#transcript"), message.id, started, S.view ? S.view.messages.length : 0);
  const entry = S.pending.get(key);
  if (entry && S.view && S.view.has(message.id)) {
    entry.li.remove();
    S.pending.delete(key);
  } else if (entry) {
    entry.done = true;
  }
}

export function onTurn(data) {
  const turn = data.turn || data;
  if (turn.chat_id && turn.chat_id !== store.chatId) return;
  if (turn.status === "queued" || turn.status === "running") {
    S.endedTurns.delete(turn.id); // a retry runs a failed turn again
    markTurn(turn.id, turn.status, turn);
    if (S.activeTurn === turn.id) { // a turn queued behind the running one changes nothing shown
      if (turn.status === "queued") turnStatus("Waiting for the model…");
      else showPhase(turn);
    }
    if (turn.phase === "updating_memories") {
      for (const entry of S.pending.values()) entry.done = true; // the replies are in
      render();
    }
    return;
  }
  dropPending(turn.id);
  S.endedTurns.add(turn.id);
  if (S.endedTurns.size > 200) S.endedTurns.delete(S.endedTurns.values().next().value);
  S.live.end(turn.id);
  pickActiveTurn(); // a queued turn behind it becomes active and runs next
  S.failedTurn = turn.status === "failed" ? turn : null;
  if (turn.status === "failed") turnStatus(stopWords(turn) ? "Stopped." : `The reply failed: ${uiWords(turn.error) || "no reason given"}`);
  renderFailure();
  stateChanged();
  refreshChapters();
}

export async function resync() {
  S.pending.clear();
  forgetTurns();
  await reload();
  await checkLastTurn();
  stateChanged();
}

/** Show the chat's last turn as the server has it: a failed one (a message, a regenerate
 * or a retry alike) with its reason and Retry, a queued or running one as active.
 * `last_turn` of GET /api/chats/{id} names it even when no message points at it. */
export async function checkLastTurn() {
  const chatId = store.chatId;
  let turn = null;
  try {
    turn = (await get(`/api/chats/${seg(chatId)}`)).last_turn || null;
  } catch {
    return; /* the chat is gone or the server is away: the stream's error shows that */
  }
  if (!turn || chatId !== store.chatId) return;
  if (turn.status === "failed") {
    S.failedTurn = turn;
    renderFailure();
  } else if (turn.status === "queued" || turn.status === "running") {
    if (S.endedTurns.has(turn.id)) return; // the stream said it ended while this was asked
    markTurn(turn.id, S.live.statusOf(turn.id) || turn.status);
    if (S.activeTurn !== turn.id) return;
    try {
      const now = await get(`/api/turns/${seg(turn.id)}`);
      if (S.activeTurn === turn.id) showPhase(now);
    } catch {
      /* it finished meanwhile: its turn event says so */
    }
  }
}
