// The open chat's transcript on screen: its loaded pages (pages.js), drawn whole on
// opening, after a rewind or a reconnect, and one message at a time as they change; the
// chapters among them and the failed turn's banner at the end.

import { $, h, mount, notify } from "./dom.js";
import { store } from "./store.js";
import { TranscriptWindow } from "./pages.js";
import { refocus } from "./msgparts.js";
import { loadChapters, placeChapters } from "./chapters.js";
import { failureItem, messageItem } from "./transcript.js";
import { S, asItems, lastBotMessage, syncRegenerate, updateRespond } from "./chatstate.js";

function buildItem(m) {
  return messageItem(m, S.actions, {
    canRegenerate: m.id === S.regenerateOn,
    alternatives: asItems(m.alternatives),
  });
}

export function transcriptView() {
  if (!S.view) {
    S.view = new TranscriptWindow($("#transcript"), buildItem,
      (li) => li.classList.contains("streaming") || li.classList.contains("turn-failed"));
    $("#transcript").addEventListener("kith:older", () => placeChapters($("#transcript"), store.chatId, S.view.messages));
  }
  return S.view;
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
    for (const [key, entry] of S.pending) if (entry.done) S.pending.delete(key);
  } catch (exc) {
    notify(`Cannot load messages: ${exc.message}`, "error");
  }
  render();
  const list = $("#transcript");
  list.scrollTop = list.scrollHeight; // a chat opens at its end
  S.view.maybeLoadOlder(); // a first page shorter than the screen
}

/** A message as the server now has it (an action's answer or the stream): in place. */
export function applyMessage(message) {
  if (!S.view || !message || (message.chat_id && message.chat_id !== store.chatId)) return;
  const list = $("#transcript");
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  if (S.view.apply(message) === "added") list.querySelector(".empty")?.remove();
  syncRegenerate();
  updateRespond();
  if (!S.view.messages.length && !list.querySelector(".msg, .empty")) render();
  if (atBottom) list.scrollTop = list.scrollHeight;
}

/** Draw the loaded pages whole (opening, rewind); single changes go through `applyMessage`. */
export function render() {
  const list = $("#transcript");
  const focusedId = document.activeElement?.closest?.(".msg")?.dataset.id;
  const focusedTool = document.activeElement?.closest?.(".msg button")?.getAttribute("aria-label");
  const last = lastBotMessage();
  S.regenerateOn = last && !S.activeTurn ? last.id : null;
  const items = S.view ? S.view.buildAll() : [];
  if (!S.view || !S.view.messages.length) items.push(h("li", { class: "muted empty", text: "No messages yet. Say hello." }));
  mount(list, items, [...S.pending.values()].map((p) => p.li),
    S.failedTurn ? failureItem(S.failedTurn, S.retry) : null);
  placeChapters(list, store.chatId, S.view ? S.view.messages : []);
  if (focusedId) refocus(list, focusedId, focusedTool);
  if (S.pending.size) list.scrollTop = list.scrollHeight;
  updateRespond();
}

/** A turn may have written a chapter (§5.7): fetch them again and place them. */
export async function refreshChapters() {
  const chatId = store.chatId;
  if (chatId && await loadChapters(chatId) && chatId === store.chatId && S.view) {
    placeChapters($("#transcript"), chatId, S.view.messages);
  }
}

/** Show or clear the failure banner at the end, leaving the messages alone. */
export function renderFailure() {
  const list = $("#transcript");
  list.querySelector(".turn-failed")?.remove();
  if (S.failedTurn) list.appendChild(failureItem(S.failedTurn, S.retry));
}
