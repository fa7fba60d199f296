// The open chat's live state, shared by the chat modules (chat.js, chatview.js,
// chatlive.js, chatactions.js): the stream, the loaded pages, which turn is active (Stop
// and Esc stop it), which reply offers Regenerate, the failed turn shown with Retry and
// the replies being streamed. One object, since a module cannot assign another's `let`.

import { $, debounce } from "./dom.js";
import { emit, store } from "./store.js";
import { clearPhase, showPhase } from "./phase.js";
import { LiveTurns } from "./liveturns.js";
import { showRespond } from "./replies.js";

export const S = {
  stream: null,
  view: null, // the loaded pages of the open chat (pages.js)
  regenerateOn: null, // id of the message that shows Regenerate
  activeTurn: null, // the turn Stop and Esc stop: S.live.active()
  live: new LiveTurns(),
  failedTurn: null,
  // Turns the stream said have ended. A request's answer can come after the stream's news
  // (a fast turn on a busy machine): a turn named by an answer is made active only if the
  // stream has not ended it already, or the page would wait on it for good.
  endedTurns: new Set(),
  pending: new Map(), // `${turn}:${author}` -> {li, text}
  actions: null, // what a message's buttons do, and Retry: set by chatactions.js
  retry: null,
};

export const stateChanged = debounce(() => emit("state-changed", store.chatId), 250);

export function turnStatus(text) {
  $("#turn-status").textContent = text || "";
}

/** Note the turn a request started, unless the stream ended it already; true if it is
 * now the active one (the caller then says what it waits for). */
export function claimTurn(turnId) {
  if (!turnId || S.endedTurns.has(turnId)) return false;
  markTurn(turnId, S.live.statusOf(turnId) || "queued");
  return S.activeTurn === turnId;
}

/** Record a live turn's status; the active turn follows. */
export function markTurn(turnId, status, news = null) {
  S.live.mark(turnId, status, news);
  pickActiveTurn();
}

export function forgetTurns() {
  S.live.clear();
  pickActiveTurn();
}

/** Show the active turn (the running one, else the next queued) when it changes. */
export function pickActiveTurn() {
  const next = S.live.active();
  if (next === S.activeTurn) return;
  S.activeTurn = next;
  $("#stop-btn").hidden = !next;
  clearPhase(); // the phase shown was the previous turn's
  turnStatus(next ? "Waiting for the model…" : "");
  const news = next ? S.live.runningNews(next) : null;
  if (news) showPhase(news); // it ran already (a phase of its own): say what it does
  showRespond($("#respond-btn"), S.view ? S.view.messages : [], next);
  syncRegenerate();
}

export const asItems = (list) => (list || []).map((a) => (typeof a === "string" ? { id: a } : a));

/** Regenerate is offered on the last reply when no turn runs; move it when that changes. */
export function syncRegenerate() {
  if (!S.view) return;
  const last = lastBotMessage();
  const wanted = last && !S.activeTurn ? last.id : null;
  if (wanted === S.regenerateOn) return;
  const before = S.regenerateOn;
  S.regenerateOn = wanted;
  if (before) S.view.refresh(before);
  if (wanted) S.view.refresh(wanted);
}

export function lastBotMessage() {
  const last = S.view && S.view.last();
  return last && last.author !== "you" ? last : null;
}

export function updateRespond() {
  showRespond($("#respond-btn"), S.view ? S.view.messages : [], S.activeTurn);
}
