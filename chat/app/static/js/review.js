// The review tray (§5.5) and the bundled-model banner, at the top of the state panel.
// Proposals of the model wait here when extraction_review is on: Accept / Reject each, or
// all. Keyboard: Tab to a proposal, A accepts, R rejects, ↑/↓ move between proposals.

import { get, post, seg } from "./api.js";
import { h, mount, notify } from "./dom.js";
import { nameOf, store } from "./store.js";
import { worldById } from "./worlds.js";

let review = null; // {enabled, backend}, asked once per page

async function reviewState() {
  if (!review) {
    try {
      review = await get("/api/review");
    } catch {
      review = { enabled: false, backend: "" };
    }
  }
  return review;
}

/** What the bundled model can and cannot do, and where to connect a real one. */
function banner(state) {
  if (state.backend !== "embedded") return null;
  return h("div", { class: "model-banner", role: "note", "aria-label": "About the bundled model" },
    h("strong", { text: "Bundled model (SmolLM2-135M). " }),
    h("span", { text: "It runs offline and writes short replies, but it often misreads what changed. " +
      "Its proposed memories and world changes wait for your review here; relationships also follow " +
      "the tone of your messages. For memory and relationships that really work, " }),
    h("a", { href: "#/settings", text: "connect a real model in Settings" }), ".");
}

const CLIP = 160; // characters of a proposal shown before "More"

/** `text` cut at a word boundary near `limit`, with "…"; the whole text when it fits. */
export function clipAtWord(text, limit = CLIP) {
  if (text.length <= limit) return text;
  const cut = text.slice(0, limit + 1);
  const space = cut.search(/\s\S*$/);
  return `${(space > limit / 2 ? cut.slice(0, space) : text.slice(0, limit)).replace(/[\s.,;:!?-]+$/, "")}…`;
}

async function decide(path, what, body) {
  try {
    await post(path, body);
    return true;
  } catch (exc) {
    notify(`Cannot ${what}: ${exc.message}`, "error");
    return false;
  }
}

/** The proposal's line, clipped with "…" and a More / Less toggle when long. */
function summaryView(p) {
  const text = h("span", { class: "summary", title: p.summary, text: clipAtWord(p.summary) });
  if (text.textContent === p.summary) return [text];
  const more = h("button", { type: "button", class: "link small", "aria-expanded": "false", text: "More" });
  more.addEventListener("click", () => {
    const open = more.getAttribute("aria-expanded") !== "true";
    more.setAttribute("aria-expanded", String(open));
    more.textContent = open ? "Less" : "More";
    text.textContent = open ? p.summary : clipAtWord(p.summary);
  });
  return [text, " ", more];
}

/** Edit a proposed memory's text, then accept it with that text (or cancel). */
function editMemory(p, li, refresh, draft = null) {
  const area = h("textarea", { class: "proposal-edit", rows: "3", maxlength: "4000",
    "aria-label": `Text of the memory ${p.payload.owner} keeps` });
  area.value = draft ? draft.text : p.payload.text || "";
  const save = h("button", { type: "submit", class: "small primary", text: "Accept edited" });
  const cancel = h("button", { type: "button", class: "small", text: "Cancel" });
  const form = h("form", { class: "proposal-edit-form", "aria-label": "Edit the proposed memory" },
    area, h("span", { class: "row" }, save, cancel));
  const shown = [...li.childNodes];
  cancel.addEventListener("click", () => {
    li.replaceChildren(...shown);
    li.focus();
  });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!area.value.trim()) {
      notify("A memory needs some text.", "error");
      return;
    }
    if (await decide(`/api/proposals/${seg(p.id)}/accept`, "accept the edited memory", { text: area.value })) refresh(p.id);
  });
  // whose memory it is stays in view while its text is edited ("Mara Quinn remembers:")
  const owner = p.payload.owner ? h("span", { class: "proposal-owner", text: `${nameOf(p.payload.owner)} remembers:` }) : null;
  li.replaceChildren(h("span", { class: "kind", text: "memory added" }), " ", owner, form);
  if (!draft || draft.focused) area.focus();
}

/** A proposal of an archived world's chat: read, never decided (the server refuses with 409). */
function readOnlyItem(p) {
  return h("li", { class: "proposal", tabindex: "0", dataset: { id: p.id, kind: p.kind }, "aria-label": p.summary },
    h("span", { class: "kind", text: p.kind.replace(/_/g, " ") }), " ", ...summaryView(p));
}

function item(p, refresh, draft) {
  const accept = h("button", { type: "button", class: "small primary", "aria-label": `Accept: ${p.summary}`,
    onclick: async () => { await decide(`/api/proposals/${seg(p.id)}/accept`, "accept"); refresh(p.id); } }, "Accept");
  const reject = h("button", { type: "button", class: "small", "aria-label": `Reject: ${p.summary}`,
    onclick: async () => { await decide(`/api/proposals/${seg(p.id)}/reject`, "reject"); refresh(p.id); } }, "Reject");
  const edit = p.kind === "memory_added" && p.payload && typeof p.payload.text === "string"
    ? h("button", { type: "button", class: "small", "aria-label": `Edit, then accept: ${p.summary}`, text: "Edit" })
    : null;
  const li = h("li", { class: "proposal", tabindex: "0", dataset: { id: p.id, kind: p.kind },
    "aria-label": `${p.summary}. A accepts, R rejects`, "aria-keyshortcuts": "A R" },
    h("span", { class: "kind", text: p.kind.replace(/_/g, " ") }), " ",
    ...summaryView(p), h("span", { class: "row" }, accept, edit, reject));
  if (edit) edit.addEventListener("click", () => editMemory(p, li, refresh));
  if (edit && draft && draft.id === p.id) editMemory(p, li, refresh, draft);
  li.addEventListener("keydown", (ev) => {
    if (ev.target !== li) return;
    const key = ev.key.toLowerCase();
    if (key === "a") accept.click();
    else if (key === "r") reject.click();
    else if (ev.key === "ArrowDown") li.nextElementSibling?.focus();
    else if (ev.key === "ArrowUp") li.previousElementSibling?.focus();
    else return;
    ev.preventDefault();
  });
  return li;
}

/** Fill `container` with the banner and the chat's pending proposals (hidden when none). */
export async function renderReview(container) {
  const state = await reviewState();
  const chatId = store.chatId;
  let proposals = [];
  if (chatId) {
    try {
      proposals = await get(`/api/chats/${seg(chatId)}/proposals`);
    } catch {
      proposals = [];
    }
  }
  const again = (decidedId) => renderReview(container).then(() => {
    // keep the keyboard where it was: the next proposal, else the tray's first button
    const list = container.querySelectorAll(".proposal");
    const next = [...list].find((li) => li.dataset.id !== decidedId);
    (next || container.querySelector("button"))?.focus();
  });
  // The panel is drawn again on every change of state (a turn elsewhere): an edit in
  // progress and the list's scroll survive that.
  const open = container.querySelector(".proposal-edit-form");
  const draft = open ? { id: open.closest(".proposal")?.dataset.id, text: open.querySelector("textarea").value,
    focused: open.contains(document.activeElement) } : null;
  const scrolled = container.querySelector(".proposals")?.scrollTop || 0;
  const world = store.chat && chatId ? worldById(store.chat.world_id) : null;
  const tray = proposals.length && world && world.archived ? h("section", { class: "review-tray", "aria-label": "Proposed changes" },
    h("div", { class: "row" }, h("h3", { text: `Proposed changes (${proposals.length})` })),
    h("p", { class: "archived-note", role: "note" }, `The world ${world.name} is archived, so this chat is read-only: `
      + "these proposals can be read, not accepted or rejected. Restore the world (Worlds…) to decide them."),
    h("ul", { class: "proposals" }, proposals.map(readOnlyItem)))
    : proposals.length ? h("section", { class: "review-tray", "aria-label": "Proposed changes" },
    h("div", { class: "row" },
      h("h3", { text: `Proposed changes (${proposals.length})` }),
      h("button", { type: "button", class: "small primary", onclick: async () => {
        await decide(`/api/chats/${seg(chatId)}/proposals/accept`, "accept all"); again(); } }, "Accept all"),
      h("button", { type: "button", class: "small", onclick: async () => {
        await decide(`/api/chats/${seg(chatId)}/proposals/reject`, "reject all"); again(); } }, "Reject all")),
    h("ul", { class: "proposals" }, proposals.map((p) => item(p, again, draft)))) : null;
  mount(container, banner(state), tray);
  if (tray) tray.querySelector(".proposals").scrollTop = scrolled;
}
