// Deleting a message, and the two ways to get a reply without writing one (§4.5, §4.9):
// "Respond" when your message (or an edit) is last, "Continue" to extend the last reply.
// Deleting a bot reply says what happens to the world its turn changed, and offers the
// rewind that would undo it; deleting the standing alternative lets the next one stand.

import { del, get, post, seg } from "./api.js";
import { h, notify } from "./dom.js";
import { nameOf } from "./store.js";
import { modal } from "./widgets.js";

// Not world changes: the transcript's own events, a turn's lifecycle, and the kinds the
// server keeps for the record only (chat/eventlog/projector.py LOG_ONLY_KINDS: a proposal
// waiting in the review tray has changed nothing yet; accepted, its change is its own event).
const NOT_WORLD = new Set(["message_posted", "message_edited", "message_deleted", "alternative_chosen",
  "turn_queued", "turn_started", "turn_completed", "turn_failed", "turns_reverted",
  "prompt_recorded", "proposal_dropped", "proposal_queued", "proposal_reviewed"]);
const WORDS = {
  memory_added: ["memory", "memories"], reflection_recorded: ["reflection", "reflections"],
  edge_changed: ["relationship change", "relationship changes"],
  entity_added: ["new entity", "new entities"], entity_updated: ["entity change", "entity changes"],
  world_fact_set: ["world fact", "world facts"], world_fact_deleted: ["world fact removed", "world facts removed"],
  scene_changed: ["scene change", "scene changes"],
};

/** "2 memories and 1 relationship change": what a turn changed in the world, in words. */
export function changeSummary(events) {
  const counts = new Map();
  for (const event of events) {
    if (NOT_WORLD.has(event.kind) || event.reverted) continue;
    const [one, many] = WORDS[event.kind] || ["other change", "other changes"];
    const key = `${one}\u0000${many}`;
    counts.set(key, (counts.get(key) || 0) + 1);
  }
  const parts = [...counts].map(([key, n]) => {
    const [one, many] = key.split("\u0000");
    return `${n} ${n === 1 ? one : many}`;
  });
  return parts.length < 2 ? parts.join("") : `${parts.slice(0, -1).join(", ")} and ${parts[parts.length - 1]}`;
}

async function turnChanges(turnId) {
  if (!turnId) return "";
  try {
    return changeSummary(await get(`/api/events?turn_id=${seg(turnId)}&limit=1000`));
  } catch {
    return "";
  }
}

const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;

/** The proposals waiting in the review tray that a rewind to before `message` would drop
 * (its turn's and every later one's), and how many of them are its own turn's. A pending
 * proposal has changed nothing yet, so the turn's summary of changes never counted them. */
export async function waitingProposals(message) {
  if (!message.turn_id || !message.chat_id) return { own: 0, dropped: 0 };
  let pending = [];
  try {
    pending = (await get(`/api/chats/${seg(message.chat_id)}/proposals`)) || [];
  } catch {
    return { own: 0, dropped: 0 };
  }
  const own = pending.filter((p) => p.turn_id === message.turn_id).length;
  const dropped = pending.filter((p) => p.turn_id === message.turn_id || p.event_id > message.event_id).length;
  return { own, dropped };
}

/** "3 proposed changes still waiting in the review tray will be dropped." for a rewind; "" for none. */
export function droppedWords(dropped) {
  if (!dropped) return "";
  return `${plural(dropped, "proposed change", "proposed changes")} still waiting in the review tray will be dropped.`;
}

/** What the Delete dialog says of the proposals of the message's turn that still wait. */
function waitingWords({ own, dropped }) {
  const them = own === 1 ? "it" : "them";
  const more = dropped - own;
  return `${plural(own, "proposed change", "proposed changes")} from its turn ${own === 1 ? "is" : "are"} still waiting`
    + ` in the review tray. Deleting the message leaves ${them} there to accept or reject; rewinding instead drops ${them}`
    + `${more > 0 ? `, and ${more} more from later turns` : ""}.`;
}

/**
 * Ask, then delete `message`. Resolves "deleted", "rewind" (the caller rewinds to
 * before the message) or "" (cancelled). `alternatives` are the reply's siblings.
 */
export async function deleteMessage(message, alternatives = []) {
  const who = nameOf(message.author);
  const lines = [h("p", { text: `Delete this message by ${who}?` })];
  if (alternatives.length > 1) {
    lines.push(h("p", { text: "It is one of several alternatives: the next one will stand in its place." }));
  }
  const [changes, waiting] = await Promise.all([message.author === "you" ? "" : turnChanges(message.turn_id),
    waitingProposals(message)]);
  const actions = [h("button", { type: "button", dataset: { result: "", autofocus: "" } }, "Cancel")];
  if (changes) {
    lines.push(h("p", { class: "warn", text: `Its turn also changed the world: ${changes}. Deleting the message keeps those changes.` }),
      h("p", { text: "To undo them too, rewind instead: that undoes this turn (your message with it) and every later turn." }));
  } else if (message.author !== "you" && message.turn_id) {
    lines.push(h("p", { class: "muted", text: "Its turn changed nothing else in the world." }));
  }
  if (waiting.own) {
    lines.push(h("p", { class: "warn proposals-waiting", text: waitingWords(waiting) }));
    if (!changes) lines.push(h("p", { text: "Rewinding undoes this turn (your message with it) and every later turn." }));
  }
  const rewind = changes || waiting.own;
  if (rewind) actions.push(h("button", { type: "button", dataset: { result: "rewind" } }, "Rewind instead"));
  actions.push(h("button", { type: "button", class: "danger", dataset: { result: "delete" } },
    rewind ? "Delete the message only" : "Delete"));
  const choice = await modal("Delete message", h("div", null, lines), { actions });
  if (choice === "delete") {
    await del(`/api/messages/${seg(message.id)}`);
    return "deleted";
  }
  return choice === "rewind" ? "rewind" : "";
}

/** Delete from the transcript: ask, delete, then `reload()`; or `rewind()` when the person
 * chose to undo the turn instead. Errors become a toast. */
export async function removeMessage(message, alternatives, { reload, rewind }) {
  try {
    const done = await deleteMessage(message, alternatives || []);
    if (done === "rewind") return rewind();
    if (done) await reload();
  } catch (exc) {
    notify(`Cannot delete: ${exc.message}`, "error");
  }
  return null;
}

/** Queue a "respond" or "continue" turn; resolves its turn id. */
export async function askForReply(chatId, kind) {
  const result = await post(`/api/chats/${seg(chatId)}/${kind === "continue" ? "continue" : "respond"}`);
  return result.turn_id;
}

/** Show "Respond" beside Send when the conversation waits for a bot: the last message is
 * yours (after an edit or a deleted reply) and no turn is running. */
export function showRespond(button, messages, busy) {
  const last = messages[messages.length - 1];
  button.hidden = Boolean(busy) || !last || last.author !== "you";
}
