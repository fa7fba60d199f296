// The review tray (§5.5) and the bundled-model banner, at the top of the state panel.
// Proposals of the model wait here when extraction_review is on: Accept / Reject each, or
// all. Keyboard: Tab to a proposal, A accepts, R rejects, ↑/↓ move between proposals.

import { get, post, seg } from "./api.js";
import { h, mount, notify } from "./dom.js";
import { store } from "./store.js";

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

async function decide(path, what) {
  try {
    await post(path);
  } catch (exc) {
    notify(`Cannot ${what}: ${exc.message}`, "error");
  }
}

function item(p, refresh) {
  const accept = h("button", { type: "button", class: "small primary", "aria-label": `Accept: ${p.summary}`,
    onclick: async () => { await decide(`/api/proposals/${seg(p.id)}/accept`, "accept"); refresh(p.id); } }, "Accept");
  const reject = h("button", { type: "button", class: "small", "aria-label": `Reject: ${p.summary}`,
    onclick: async () => { await decide(`/api/proposals/${seg(p.id)}/reject`, "reject"); refresh(p.id); } }, "Reject");
  const li = h("li", { class: "proposal", tabindex: "0", dataset: { id: p.id, kind: p.kind },
    "aria-label": `${p.summary}. A accepts, R rejects`, "aria-keyshortcuts": "A R" },
    h("span", { class: "kind", text: p.kind.replace(/_/g, " ") }), " ",
    h("span", { class: "summary", text: p.summary }), h("span", { class: "row" }, accept, reject));
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
  const tray = proposals.length ? h("section", { class: "review-tray", "aria-label": "Proposed changes" },
    h("div", { class: "row" },
      h("h3", { text: `Proposed changes (${proposals.length})` }),
      h("button", { type: "button", class: "small primary", onclick: async () => {
        await decide(`/api/chats/${seg(chatId)}/proposals/accept`, "accept all"); again(); } }, "Accept all"),
      h("button", { type: "button", class: "small", onclick: async () => {
        await decide(`/api/chats/${seg(chatId)}/proposals/reject`, "reject all"); again(); } }, "Reject all")),
    h("ul", { class: "proposals" }, proposals.map((p) => item(p, again)))) : null;
  mount(container, banner(state), tray);
}
