// What the user does in the open chat: send, stop, retry, respond and continue, and a
// message's own buttons (edit, delete, rewind, "why?", regenerate, choose an alternative).

import { get, patch, post, seg } from "./api.js";
import { $, notify } from "./dom.js";
import { nameOf, store } from "./store.js";
import { clearPhase, hasPhase } from "./phase.js";
import { askForReply, droppedWords, removeMessage, waitingProposals } from "./replies.js";
import { promptView } from "./transcript.js";
import { confirmDialog, modal } from "./widgets.js";
import { S, asItems, claimTurn, stateChanged, turnStatus } from "./chatstate.js";
import { applyMessage, reload, renderFailure } from "./chatview.js";

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
    const dropped = confirmed ? "" : droppedWords((await waitingProposals(message)).dropped);
    const ok = confirmed || await confirmDialog("Rewind the chat",
      "Rewind to before this message? This message, everything after it, and every change those turns made to the world will be undone (they stay in the event log, marked reverted)."
      + (dropped ? ` ${dropped}` : ""),
      "Rewind");
    if (!ok) return;
    try {
      const result = await post(`/api/chats/${seg(store.chatId)}/rewind`, { before_message_id: message.id });
      const n = (result && result.reverted_turn_ids || []).length;
      notify(`Rewound: ${n} turn${n === 1 ? "" : "s"} undone.`);
      S.failedTurn = null;
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
      await modal(`Why did ${nameOf(message.author)} say that?`, promptView(data, message.id), { wide: true });
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

/** "Respond" or "Continue" (§4.9): a turn with no new message from the user. */
export async function replyWithout(kind) {
  try {
    const turnId = await askForReply(store.chatId, kind);
    if (!S.endedTurns.has(turnId)) S.failedTurn = null;
    if (claimTurn(turnId) && !hasPhase()) {
      turnStatus(kind === "continue" ? "Continuing the reply…" : "Waiting for the model…");
    }
    renderFailure();
  } catch (exc) {
    notify(`Cannot ${kind === "continue" ? "continue" : "get a reply"}: ${exc.message}`, "error");
  }
}

export async function retry() {
  if (!S.failedTurn) return;
  const turnId = S.failedTurn.id;
  try {
    S.endedTurns.delete(turnId); // it ended failed; from now on the stream says how it runs
    await post(`/api/turns/${seg(turnId)}/retry`);
    if (!S.endedTurns.has(turnId)) S.failedTurn = null;
    if (claimTurn(turnId) && !hasPhase()) turnStatus("Trying again…");
    renderFailure();
  } catch (exc) {
    notify(`Cannot retry: ${exc.message}`, "error");
  }
}

export async function stop() {
  if (!S.activeTurn) return;
  let what = $("#stop-btn").dataset.phase === "updating_memories" ? "Skipping the memory update…" : "Stopping…";
  const waiting = S.live.queuedBesides(S.activeTurn); // they stay queued and run next, as they would have
  if (waiting) what += ` ${waiting === 1 ? "Your next message is" : `${waiting} more messages are`} answered after.`;
  // Said before asking: the answer comes once the turn's end is stored, usually after the
  // stream's `turn` event has ended the turn (and cleared this line) already.
  clearPhase();
  turnStatus(what);
  try {
    await post(`/api/turns/${seg(S.activeTurn)}/cancel`);
  } catch (exc) {
    if (S.activeTurn) turnStatus("");
    notify(`Cannot stop: ${exc.message}`, "error");
  }
}

export async function send() {
  const input = $("#composer-input");
  const text = input.value.trim();
  if (!text || !store.chatId) return;
  $("#send-btn").disabled = true;
  try {
    const result = await post(`/api/chats/${seg(store.chatId)}/messages`, { text });
    input.value = "";
    if (!S.endedTurns.has(result.turn_id)) S.failedTurn = null;
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

S.actions = actions; // the transcript's buttons (chatview.js) call these
S.retry = retry;
