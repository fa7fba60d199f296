// The conversation: transcript, composer, live replies token by token over SSE,
// stop, regenerate with alternatives, edit, delete, rewind, retry and "why?"
// (§4.2–§4.6, §8.4, §11.1).

import { get, patch, post, seg, uiWords } from "./api.js";
import { $, debounce, h, mount, notify } from "./dom.js";
import { chatById, loadChats, renderChats } from "./chatlist.js";
import { emit, loadBots, nameOf, store } from "./store.js";
import { clearPhase, hasPhase, showPhase } from "./phase.js";
import { openStream } from "./stream.js";
import { refocus } from "./msgparts.js";
import { askForReply, removeMessage, showRespond } from "./replies.js";
import { failureItem, messageItem, promptView, streamingItem } from "./transcript.js";
import { confirmDialog, modal } from "./widgets.js";

let stream = null;
let messages = [];
let alternatives = new Map(); // alt_group -> [message]
let activeTurn = null;
let failedTurn = null;
const pending = new Map(); // `${turn}:${author}` -> {li, text}
const PAGE = 100; // a long chat opens at its end; older messages load a page at a time
let shown = PAGE;
let loadingOlder = false;

const stateChanged = debounce(() => emit("state-changed", store.chatId), 250);

function turnStatus(text) {
  $("#turn-status").textContent = text || "";
}

function setActiveTurn(turnId) {
  activeTurn = turnId;
  $("#stop-btn").hidden = !turnId;
  showRespond($("#respond-btn"), messages, turnId);
  if (!turnId) {
    clearPhase();
    turnStatus("");
  }
}

export async function openChat(chatId) {
  if (stream) stream.close();
  stream = null;
  store.chatId = chatId;
  pending.clear();
  setActiveTurn(null);
  failedTurn = null;
  messages = [];
  shown = PAGE;
  showRespond($("#respond-btn"), messages, null);
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
  try {
    store.chat = await get(`/api/chats/${seg(chatId)}`);
  } catch {
    store.chat = chatById(chatId);
  }
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

/** Fetch the transcript (and alternatives) and render it. */
let reloads = 0;

export async function reload() {
  const chatId = store.chatId;
  if (!chatId) return;
  const mine = ++reloads; // only the newest reload renders
  try {
    const list = await get(`/api/chats/${seg(chatId)}/messages?limit=${shown}`);
    if (chatId !== store.chatId || mine !== reloads) return;
    messages = list || [];
    await loadAlternatives();
    if (mine !== reloads) return;
    for (const [key, entry] of pending) if (entry.done) pending.delete(key);
  } catch (exc) {
    notify(`Cannot load messages: ${exc.message}`, "error");
  }
  render();
}

/** Alternatives per alt group: from the transcript's `alternatives` (ids) when the server
 * gives them, else from GET /api/messages/{id}/alternatives for replies that may have some. */
async function loadAlternatives() {
  alternatives = new Map();
  const asItems = (list) => list.map((a) => (typeof a === "string" ? { id: a } : a));
  const lastBot = lastBotMessage();
  await Promise.all(messages.filter((m) => m.author !== "you").map(async (message) => {
    const group = message.alt_group || message.id;
    if (Array.isArray(message.alternatives)) {
      alternatives.set(group, asItems(message.alternatives));
    } else if (message === lastBot || message.alt_group !== message.id) {
      try {
        alternatives.set(group, asItems(await get(`/api/messages/${seg(message.id)}/alternatives`)));
      } catch {
        alternatives.set(group, []);
      }
    }
  }));
}

function lastBotMessage() {
  const last = messages[messages.length - 1];
  return last && last.author !== "you" ? last : null;
}

const actions = {
  edit: async (message, text) => {
    try {
      await patch(`/api/messages/${seg(message.id)}`, { text });
      await reload();
    } catch (exc) {
      notify(`Cannot edit: ${exc.message}`, "error");
      throw exc;
    }
  },
  remove: (message) => removeMessage(message, alternatives.get(message.alt_group || message.id),
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
      setActiveTurn(result.turn_id);
      turnStatus("Writing another reply…");
    } catch (exc) {
      notify(`Cannot regenerate: ${exc.message}`, "error");
    }
  },
  choose: async (messageId) => {
    try {
      await post(`/api/messages/${seg(messageId)}/choose`);
      await reload();
    } catch (exc) {
      notify(`Cannot choose that alternative: ${exc.message}`, "error");
    }
  },
};

function hasOlder() {
  return messages.length >= shown;
}

/** Load the page before the oldest shown message, keeping the view where it was. */
async function loadOlder() {
  if (loadingOlder || !hasOlder()) return;
  loadingOlder = true;
  const list = $("#transcript");
  const fromBottom = list.scrollHeight - list.scrollTop;
  shown += PAGE;
  try {
    await reload();
    list.scrollTop = list.scrollHeight - fromBottom;
  } finally {
    loadingOlder = false;
  }
}

function olderButton() {
  if (!hasOlder()) return null;
  return h("li", { class: "older" }, h("button", { type: "button", class: "small", onclick: loadOlder }, "Load older messages"));
}

function render() {
  const list = $("#transcript");
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  const focusedId = document.activeElement?.closest?.(".msg")?.dataset.id;
  const focusedTool = document.activeElement?.closest?.(".msg button")?.getAttribute("aria-label");
  const lastBot = lastBotMessage();
  const items = messages.map((m) => messageItem(m, actions, {
    canRegenerate: m === lastBot && !activeTurn,
    alternatives: alternatives.get(m.alt_group || m.id),
  }));
  if (!items.length) items.push(h("li", { class: "muted empty", text: "No messages yet. Say hello." }));
  mount(list, olderButton(), items, [...pending.values()].map((p) => p.li),
    failedTurn ? failureItem(failedTurn, retry) : null);
  if (focusedId) refocus(list, focusedId, focusedTool);
  if (atBottom || pending.size) list.scrollTop = list.scrollHeight;
  showRespond($("#respond-btn"), messages, activeTurn);
}

/** "Respond" or "Continue" (§4.9): a turn with no new message from the user. */
async function replyWithout(kind) {
  try {
    setActiveTurn(await askForReply(store.chatId, kind));
    failedTurn = null;
    turnStatus(kind === "continue" ? "Continuing the reply…" : "Waiting for the model…");
    render();
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
  if (data.turn_id && !activeTurn) setActiveTurn(data.turn_id);
  if (!hasPhase()) turnStatus(`${nameOf(data.author || data.bot_id)} is writing…`);
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
  // The streamed text stays until the stored message replaces it (no flicker).
  const entry = pending.get(`${message.turn_id || ""}:${message.author}`);
  if (entry) entry.done = true;
  reload();
}

function onTurn(data) {
  const turn = data.turn || data;
  if (turn.chat_id && turn.chat_id !== store.chatId) return;
  if (turn.status === "queued" || turn.status === "running") {
    if (activeTurn !== turn.id) clearPhase();
    setActiveTurn(turn.id);
    if (turn.status === "queued") turnStatus("Waiting for the model…");
    else showPhase(turn);
    if (turn.phase === "updating_memories") {
      for (const entry of pending.values()) entry.done = true; // the replies are in
      render();
    }
    return;
  }
  dropPending(turn.id);
  if (activeTurn === turn.id) setActiveTurn(null);
  failedTurn = turn.status === "failed" ? turn : null;
  if (turn.status === "failed") turnStatus(`The reply failed: ${uiWords(turn.error) || "no reason given"}`);
  reload();
  stateChanged();
}

async function resync() {
  pending.clear();
  setActiveTurn(null);
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
    render();
  } else if (turn.status === "queued" || turn.status === "running") {
    setActiveTurn(turn.id);
    try {
      showPhase(await get(`/api/turns/${seg(turn.id)}`));
    } catch {
      /* it finished meanwhile: its turn event says so */
    }
  }
}

async function retry() {
  if (!failedTurn) return;
  const turnId = failedTurn.id;
  try {
    await post(`/api/turns/${seg(turnId)}/retry`);
    failedTurn = null;
    setActiveTurn(turnId);
    turnStatus("Trying again…");
    render();
  } catch (exc) {
    notify(`Cannot retry: ${exc.message}`, "error");
  }
}

async function stop() {
  if (!activeTurn) return;
  const what = $("#stop-btn").dataset.phase === "updating_memories" ? "Skipping the memory update…" : "Stopping…";
  try {
    await post(`/api/turns/${seg(activeTurn)}/cancel`);
    clearPhase();
    turnStatus(what);
  } catch (exc) {
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
    failedTurn = null;
    setActiveTurn(result.turn_id);
    if (!hasPhase()) turnStatus("Waiting for the model…"); // the stream may be ahead of this answer
    if (result.message && !messages.some((m) => m.id === result.message.id)) messages.push(result.message);
    render();
  } catch (exc) {
    notify(`Not sent: ${exc.message}`, "error");
  } finally {
    $("#send-btn").disabled = false;
    input.focus();
  }
}

export function initChat() {
  const input = $("#composer-input");
  $("#transcript").addEventListener("scroll", (ev) => {
    if (ev.currentTarget.scrollTop < 40 && messages.length) loadOlder();
  }, { passive: true });
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
