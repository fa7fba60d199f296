// The conversation: transcript, composer, live replies token by token over SSE,
// stop, regenerate with alternatives, edit, delete, rewind, retry and "why?"
// (§4.2–§4.6, §8.4, §11.1).

import { get, patch, post, seg, uiWords } from "./api.js";
import { $, debounce, h, mount, notify } from "./dom.js";
import { chatById, loadChats, renderChats } from "./chatlist.js";
import { emit, loadBots, nameOf, store } from "./store.js";
import { clearPhase, hasPhase, showPhase } from "./phase.js";
import { openStream } from "./stream.js";
import { LiveTurns } from "./liveturns.js";
import { announceDrawn, TranscriptWindow } from "./pages.js";
import { refocus } from "./msgparts.js";
import { askForReply, removeMessage, showRespond } from "./replies.js";
import { loadChapters, placeChapters } from "./chapters.js";
import { failureItem, messageItem, promptView, streamingItem } from "./transcript.js";
import { confirmDialog, modal } from "./widgets.js";

let stream = null;
let view = null; // the loaded pages of the open chat (pages.js)
let regenerateOn = null; // id of the message that shows Regenerate
let activeTurn = null; // the turn Stop and Esc stop: live.active()
const live = new LiveTurns();
let failedTurn = null;
// Turns the stream said have ended. A request's answer can come after the stream's news
// (a fast turn on a busy machine): a turn named by an answer is made active only if the
// stream has not ended it already, or the page would wait on it for good.
const endedTurns = new Set();
const pending = new Map(); // `${turn}:${author}` -> {li, text}

const stateChanged = debounce(() => emit("state-changed", store.chatId), 250);

function turnStatus(text) {
  $("#turn-status").textContent = text || "";
}

/** Note the turn a request started, unless the stream ended it already; true if it is
 * now the active one (the caller then says what it waits for). */
function claimTurn(turnId) {
  if (!turnId || endedTurns.has(turnId)) return false;
  markTurn(turnId, live.statusOf(turnId) || "queued");
  return activeTurn === turnId;
}

/** Record a live turn's status; the active turn follows. */
function markTurn(turnId, status, news = null) {
  live.mark(turnId, status, news);
  pickActiveTurn();
}

function forgetTurns() {
  live.clear();
  pickActiveTurn();
}

/** Show the active turn (the running one, else the next queued) when it changes. */
function pickActiveTurn() {
  const next = live.active();
  if (next === activeTurn) return;
  activeTurn = next;
  $("#stop-btn").hidden = !next;
  clearPhase(); // the phase shown was the previous turn's
  turnStatus(next ? "Waiting for the model…" : "");
  const news = next ? live.runningNews(next) : null;
  if (news) showPhase(news); // it ran already (a phase of its own): say what it does
  showRespond($("#respond-btn"), view ? view.messages : [], next);
  syncRegenerate();
}

const asItems = (list) => (list || []).map((a) => (typeof a === "string" ? { id: a } : a));

function buildItem(m) {
  return messageItem(m, actions, {
    canRegenerate: m.id === regenerateOn,
    alternatives: asItems(m.alternatives),
  });
}

function transcriptView() {
  if (!view) {
    view = new TranscriptWindow($("#transcript"), buildItem,
      (li) => li.classList.contains("streaming") || li.classList.contains("turn-failed"));
    $("#transcript").addEventListener("kith:older", () => placeChapters($("#transcript"), store.chatId, view.messages));
  }
  return view;
}

/** Regenerate is offered on the last reply when no turn runs; move it when that changes. */
function syncRegenerate() {
  if (!view) return;
  const last = lastBotMessage();
  const wanted = last && !activeTurn ? last.id : null;
  if (wanted === regenerateOn) return;
  const before = regenerateOn;
  regenerateOn = wanted;
  if (before) view.refresh(before);
  if (wanted) view.refresh(wanted);
}

export async function openChat(chatId) {
  if (stream) stream.close();
  stream = null;
  store.chatId = chatId;
  pending.clear();
  forgetTurns();
  failedTurn = null;
  transcriptView().reset(chatId);
  regenerateOn = null;
  updateRespond();
  renderChats();
  const input = $("#composer-input");
  if (!chatId) {
    store.chat = null;
    $("#chat-title").textContent = "No chat selected";
    $("#chat-meta").textContent = "Pick a chat on the left, or start a new one.";
    mount($("#transcript"));
    input.disabled = true;
    $("#send-btn").disabled = true;
    emit("chat-opened", null);
    return;
  }
  let chat;
  try {
    chat = await get(`/api/chats/${seg(chatId)}`);
  } catch {
    chat = chatById(chatId);
  }
  if (store.chatId !== chatId) return; // another chat was opened meanwhile: it owns the view
  store.chat = chat;
  if (!store.chat) {
    notify(`No chat with id ${chatId}`, "error");
    return;
  }
  $("#chat-title").textContent = store.chat.title;
  $("#chat-meta").textContent = `with ${(store.chat.bot_ids || []).map(nameOf).join(", ")}`;
  input.disabled = false;
  $("#send-btn").disabled = false;
  emit("chat-opened", store.chat);
  let opened = false;
  stream = openStream(chatId, {
    token: onToken, message: onMessage, turn: onTurn, state: stateChanged,
    open: () => {
      $("#transcript").classList.remove("offline");
      if (opened) resync(); // a reconnect: catch up on what happened meanwhile
      opened = true;
    },
    error: () => $("#transcript").classList.add("offline"),
  });
  await reload();
  await checkLastTurn();
}

/** Fetch the newest page of the transcript and render it: on opening, after a rewind and
 * after a reconnect. Single messages never come this way (see `onMessage`). */
let reloads = 0;

export async function reload() {
  const chatId = store.chatId;
  if (!chatId) return;
  const mine = ++reloads; // only the newest reload renders
  try {
    const [fresh] = await Promise.all([transcriptView().openNewest(chatId), loadChapters(chatId)]);
    if (!fresh || chatId !== store.chatId || mine !== reloads) return;
    for (const [key, entry] of pending) if (entry.done) pending.delete(key);
  } catch (exc) {
    notify(`Cannot load messages: ${exc.message}`, "error");
  }
  render();
  const list = $("#transcript");
  list.scrollTop = list.scrollHeight; // a chat opens at its end
  view.maybeLoadOlder(); // a first page shorter than the screen
}

function lastBotMessage() {
  const last = view && view.last();
  return last && last.author !== "you" ? last : null;
}

/** A message as the server now has it (an action's answer or the stream): in place. */
function applyMessage(message) {
  if (!view || !message || (message.chat_id && message.chat_id !== store.chatId)) return;
  const list = $("#transcript");
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  if (view.apply(message) === "added") list.querySelector(".empty")?.remove();
  syncRegenerate();
  updateRespond();
  if (!view.messages.length && !list.querySelector(".msg, .empty")) render();
  if (atBottom) list.scrollTop = list.scrollHeight;
}

const actions = {
  edit: async (message, text) => {
    try {
      applyMessage(await patch(`/api/messages/${seg(message.id)}`, { text }));
    } catch (exc) {
      notify(`Cannot edit: ${exc.message}`, "error");
      throw exc;
    }
  },
  remove: (message) => removeMessage(message, asItems(message.alternatives),
    { reload, rewind: () => actions.rewind(message, true) }),
  extend: () => replyWithout("continue"),
  rewind: async (message, confirmed = false) => {
    const ok = confirmed || await confirmDialog("Rewind the chat",
      "Rewind to before this message? This message, everything after it, and every change those turns made to the world will be undone (they stay in the event log, marked reverted).",
      "Rewind");
    if (!ok) return;
    try {
      const result = await post(`/api/chats/${seg(store.chatId)}/rewind`, { before_message_id: message.id });
      const n = (result && result.reverted_turn_ids || []).length;
      notify(`Rewound: ${n} turn${n === 1 ? "" : "s"} undone.`);
      failedTurn = null;
      await reload();
      stateChanged();
      $("#composer-input").focus();
    } catch (exc) {
      notify(`Cannot rewind: ${exc.message}`, "error");
    }
  },
  why: async (message) => {
    try {
      const data = await get(`/api/turns/${seg(message.turn_id)}/prompt`);
      await modal(`Why did ${nameOf(message.author)} say that?`, promptView(data), { wide: true });
    } catch (exc) {
      notify(`Cannot load the prompt: ${exc.message}`, "error");
    }
  },
  regenerate: async () => {
    try {
      const result = await post(`/api/chats/${seg(store.chatId)}/regenerate`);
      if (claimTurn(result.turn_id) && !hasPhase()) turnStatus("Writing another reply…");
    } catch (exc) {
      notify(`Cannot regenerate: ${exc.message}`, "error");
    }
  },
  choose: async (messageId) => {
    try {
      applyMessage(await post(`/api/messages/${seg(messageId)}/choose`));
    } catch (exc) {
      notify(`Cannot choose that alternative: ${exc.message}`, "error");
    }
  },
};

/** Draw the loaded pages whole (opening, rewind); single changes go through `applyMessage`. */
function render() {
  const list = $("#transcript");
  const focusedId = document.activeElement?.closest?.(".msg")?.dataset.id;
  const focusedTool = document.activeElement?.closest?.(".msg button")?.getAttribute("aria-label");
  const last = lastBotMessage();
  regenerateOn = last && !activeTurn ? last.id : null;
  const items = view ? view.buildAll() : [];
  if (!view || !view.messages.length) items.push(h("li", { class: "muted empty", text: "No messages yet. Say hello." }));
  mount(list, items, [...pending.values()].map((p) => p.li),
    failedTurn ? failureItem(failedTurn, retry) : null);
  placeChapters(list, store.chatId, view ? view.messages : []);
  if (focusedId) refocus(list, focusedId, focusedTool);
  if (pending.size) list.scrollTop = list.scrollHeight;
  updateRespond();
}

/** A turn may have written a chapter (§5.7): fetch them again and place them. */
async function refreshChapters() {
  const chatId = store.chatId;
  if (chatId && await loadChapters(chatId) && chatId === store.chatId && view) {
    placeChapters($("#transcript"), chatId, view.messages);
  }
}

function updateRespond() {
  showRespond($("#respond-btn"), view ? view.messages : [], activeTurn);
}

/** Show or clear the failure banner at the end, leaving the messages alone. */
function renderFailure() {
  const list = $("#transcript");
  list.querySelector(".turn-failed")?.remove();
  if (failedTurn) list.appendChild(failureItem(failedTurn, retry));
}

/** "Respond" or "Continue" (§4.9): a turn with no new message from the user. */
async function replyWithout(kind) {
  try {
    const turnId = await askForReply(store.chatId, kind);
    if (!endedTurns.has(turnId)) failedTurn = null;
    if (claimTurn(turnId) && !hasPhase()) {
      turnStatus(kind === "continue" ? "Continuing the reply…" : "Waiting for the model…");
    }
    renderFailure();
  } catch (exc) {
    notify(`Cannot ${kind === "continue" ? "continue" : "get a reply"}: ${exc.message}`, "error");
  }
}

function keyOf(data) {
  return `${data.turn_id || ""}:${data.author || data.bot_id || ""}`;
}

function onToken(data) {
  if (data.chat_id && data.chat_id !== store.chatId) return;
  const key = keyOf(data);
  let entry = pending.get(key);
  if (!entry) {
    entry = streamingItem(data.author || data.bot_id || "bot");
    pending.set(key, entry);
    $("#transcript").querySelector(".empty")?.remove();
    $("#transcript").appendChild(entry.li);
  }
  entry.text.appendChild(document.createTextNode(data.text ?? data.token ?? data.delta ?? ""));
  if (data.turn_id && live.statusOf(data.turn_id) !== "running" && !endedTurns.has(data.turn_id)) {
    markTurn(data.turn_id, "running"); // its tokens flow: it runs
  }
  if (!hasPhase() && (!data.turn_id || data.turn_id === activeTurn)) {
    turnStatus(`${nameOf(data.author || data.bot_id)} is writing…`);
  }
  const list = $("#transcript");
  list.scrollTop = list.scrollHeight;
}

function dropPending(turnId, author) {
  for (const [key, entry] of pending) {
    if (key.startsWith(`${turnId || ""}:`) && (!author || key.endsWith(`:${author}`))) {
      entry.li.remove();
      pending.delete(key);
    }
  }
}

function onMessage(data) {
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
  announceDrawn($("#transcript"), message.id, started, view ? view.messages.length : 0);
  const entry = pending.get(key);
  if (entry && view && view.has(message.id)) {
    entry.li.remove();
    pending.delete(key);
  } else if (entry) {
    entry.done = true;
  }
}

function onTurn(data) {
  const turn = data.turn || data;
  if (turn.chat_id && turn.chat_id !== store.chatId) return;
  if (turn.status === "queued" || turn.status === "running") {
    endedTurns.delete(turn.id); // a retry runs a failed turn again
    markTurn(turn.id, turn.status, turn);
    if (activeTurn === turn.id) { // a turn queued behind the running one changes nothing shown
      if (turn.status === "queued") turnStatus("Waiting for the model…");
      else showPhase(turn);
    }
    if (turn.phase === "updating_memories") {
      for (const entry of pending.values()) entry.done = true; // the replies are in
      render();
    }
    return;
  }
  dropPending(turn.id);
  endedTurns.add(turn.id);
  if (endedTurns.size > 200) endedTurns.delete(endedTurns.values().next().value);
  live.end(turn.id);
  pickActiveTurn(); // a queued turn behind it becomes active and runs next
  failedTurn = turn.status === "failed" ? turn : null;
  if (turn.status === "failed") turnStatus(`The reply failed: ${uiWords(turn.error) || "no reason given"}`);
  renderFailure();
  stateChanged();
  refreshChapters();
}

async function resync() {
  pending.clear();
  forgetTurns();
  await reload();
  await checkLastTurn();
  stateChanged();
}

/** Show the chat's last turn as the server has it: a failed one (a message, a regenerate
 * or a retry alike) with its reason and Retry, a queued or running one as active.
 * `last_turn` of GET /api/chats/{id} names it even when no message points at it. */
async function checkLastTurn() {
  const chatId = store.chatId;
  let turn = null;
  try {
    turn = (await get(`/api/chats/${seg(chatId)}`)).last_turn || null;
  } catch {
    return; /* the chat is gone or the server is away: the stream's error shows that */
  }
  if (!turn || chatId !== store.chatId) return;
  if (turn.status === "failed") {
    failedTurn = turn;
    renderFailure();
  } else if (turn.status === "queued" || turn.status === "running") {
    if (endedTurns.has(turn.id)) return; // the stream said it ended while this was asked
    markTurn(turn.id, live.statusOf(turn.id) || turn.status);
    if (activeTurn !== turn.id) return;
    try {
      const now = await get(`/api/turns/${seg(turn.id)}`);
      if (activeTurn === turn.id) showPhase(now);
    } catch {
      /* it finished meanwhile: its turn event says so */
    }
  }
}

async function retry() {
  if (!failedTurn) return;
  const turnId = failedTurn.id;
  try {
    endedTurns.delete(turnId); // it ended failed; from now on the stream says how it runs
    await post(`/api/turns/${seg(turnId)}/retry`);
    if (!endedTurns.has(turnId)) failedTurn = null;
    if (claimTurn(turnId) && !hasPhase()) turnStatus("Trying again…");
    renderFailure();
  } catch (exc) {
    notify(`Cannot retry: ${exc.message}`, "error");
  }
}

async function stop() {
  if (!activeTurn) return;
  let what = $("#stop-btn").dataset.phase === "updating_memories" ? "Skipping the memory update…" : "Stopping…";
  const waiting = live.queuedBesides(activeTurn); // they stay queued and run next, as they would have
  if (waiting) what += ` ${waiting === 1 ? "Your next message is" : `${waiting} more messages are`} answered after.`;
  // Said before asking: the answer comes once the turn's end is stored, usually after the
  // stream's `turn` event has ended the turn (and cleared this line) already.
  clearPhase();
  turnStatus(what);
  try {
    await post(`/api/turns/${seg(activeTurn)}/cancel`);
  } catch (exc) {
    if (activeTurn) turnStatus("");
    notify(`Cannot stop: ${exc.message}`, "error");
  }
}

async function send() {
  const input = $("#composer-input");
  const text = input.value.trim();
  if (!text || !store.chatId) return;
  $("#send-btn").disabled = true;
  try {
    const result = await post(`/api/chats/${seg(store.chatId)}/messages`, { text });
    input.value = "";
    if (!endedTurns.has(result.turn_id)) failedTurn = null;
    if (claimTurn(result.turn_id) && !hasPhase()) turnStatus("Waiting for the model…"); // the stream may be ahead of this answer
    renderFailure();
    applyMessage(result.message);
    const list = $("#transcript");
    list.scrollTop = list.scrollHeight;
  } catch (exc) {
    notify(`Not sent: ${exc.message}`, "error");
  } finally {
    $("#send-btn").disabled = false;
    input.focus();
  }
}

export function initChat() {
  const input = $("#composer-input");
  $("#composer").addEventListener("submit", (ev) => {
    ev.preventDefault();
    send();
  });
  input.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      send();
    }
  });
  $("#stop-btn").addEventListener("click", stop);
  $("#respond-btn").addEventListener("click", () => replyWithout("respond"));
  document.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape" && activeTurn && !document.querySelector("dialog[open]") && !$("#view-chat").hidden) {
      ev.preventDefault();
      stop();
    }
  });
}

export { loadChats, loadBots };
