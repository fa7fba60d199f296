// The conversation (§4.2–§4.6, §8.4, §11.1): opening a chat and wiring the composer. The
// rest lives beside it: chatstate.js (the shared live state and the active turn),
// chatview.js (the transcript on screen), chatlive.js (the stream's events) and
// chatactions.js (send, stop, retry, and each message's buttons).

import { get, seg } from "./api.js";
import { $, h, mount, notify } from "./dom.js";
import { chatById, loadChats, renderChats } from "./chatlist.js";
import { emit, loadBots, nameOf, on, store } from "./store.js";
import { openStream } from "./stream.js";
import { S, forgetTurns, stateChanged, updateRespond } from "./chatstate.js";
import { reload, transcriptView } from "./chatview.js";
import { checkLastTurn, onMessage, onToken, onTurn, resync } from "./chatlive.js";
import { replyWithout, send, stop } from "./chatactions.js";
import { draftChanged } from "./drafts.js";
import { worldById } from "./worlds.js";

/** An archived world's chat is read-only (the server refuses every change with 409): say so
 * where the composer is, and take the composer and the message buttons away. Run when a
 * chat opens and when the worlds change (restoring the world of the open chat). */
function showArchived() {
  const world = store.chat ? worldById(store.chat.world_id) : null;
  const archived = world && world.archived ? world : null;
  $("#view-chat").classList.toggle("chat-archived", Boolean(archived));
  $("#archived-note")?.remove();
  if (!store.chat) return;
  $("#chat-meta").textContent = `with ${(store.chat.bot_ids || []).map(nameOf).join(", ")}${archived ? " · archived world, read-only" : ""}`;
  const input = $("#composer-input");
  input.dataset.placeholder ??= input.placeholder;
  input.placeholder = archived ? "Read-only: this chat's world is archived" : input.dataset.placeholder;
  input.disabled = Boolean(archived);
  $("#send-btn").disabled = Boolean(archived);
  if (archived) {
    $("#composer").before(h("p", { id: "archived-note", class: "archived-note", role: "status" },
      `The world ${archived.name} is archived, so this chat is read-only: it can be read and exported. `
      + "Restore the world (Worlds…) to write or change anything here."));
  }
}

export async function openChat(chatId) {
  if (S.stream) S.stream.close();
  S.stream = null;
  store.chatId = chatId;
  S.pending.clear();
  forgetTurns();
  S.failedTurn = null;
  transcriptView().reset(chatId);
  S.regenerateOn = null;
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
    showArchived();
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
  showArchived();
  emit("chat-opened", store.chat);
  let opened = false;
  S.stream = openStream(chatId, {
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

export function initChat() {
  const input = $("#composer-input");
  $("#composer").addEventListener("submit", (ev) => {
    ev.preventDefault();
    send();
  });
  input.addEventListener("input", () => draftChanged(input));
  input.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      send();
    }
  });
  $("#stop-btn").addEventListener("click", stop);
  on("world-changed", showArchived);
  $("#respond-btn").addEventListener("click", () => replyWithout("respond"));
  document.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape" && S.activeTurn && !document.querySelector("dialog[open]") && !$("#view-chat").hidden) {
      ev.preventDefault();
      stop();
    }
  });
}

export { loadChats, loadBots };
