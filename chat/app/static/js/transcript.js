// One message in the transcript, with its actions: alternatives (‹ 1/3 ›),
// regenerate, "why did it say that?", edit, delete and rewind (§4.4–§4.6, §8.4).
// Text goes in with textContent only (§12.2).

import { uiWords } from "./api.js";
import { h, when } from "./dom.js";
import { avatarFor, richText, rovingControls } from "./msgparts.js";
import { nameOf, on, store } from "./store.js";

function tool(label, text, onclick, extra = {}) {
  return h("button", { type: "button", class: "tool", "aria-label": label, title: label, onclick, ...extra }, text);
}

/**
 * Build the <li> of a message. `actions` has the callbacks: edit, remove,
 * rewind, why, regenerate, choose(messageId); `opts` says whether this is the
 * last bot reply (regenerate) and what alternatives the message has.
 */
export function messageItem(message, actions, opts = {}) {
  const mine = message.author === "you";
  const author = nameOf(message.author);
  const text = h("div", { class: "msg-text" }, richText(message.text));
  const tools = h("div", { class: "msg-tools", role: "toolbar", "aria-label": `Actions for message by ${author}` });
  const head = h("div", { class: "msg-head" },
    h("span", { class: "author", text: author }),
    h("time", { datetime: message.created_at || "", text: when(message.created_at) }),
    message.edited ? h("span", { class: "badge", text: "edited" }) : null,
    message.stopped ? h("span", { class: "badge stopped", title: "You stopped this reply; it ends where it was stopped", text: "stopped" }) : null);
  const li = h("li", {
    class: ["msg", mine ? "msg-you" : "msg-bot", message.edited && "edited", message.stopped && "stopped"],
    dataset: { id: message.id, author: message.author },
  }, avatarFor(message.author), head, text, tools);

  const alts = opts.alternatives || [];
  if (alts.length > 1) {
    const index = Math.max(0, alts.findIndex((a) => a.id === message.id));
    const prev = tool("Previous alternative", "‹", () => actions.choose(alts[index - 1].id), { disabled: index === 0 });
    const next = tool("Next alternative", "›", () => actions.choose(alts[index + 1].id), { disabled: index === alts.length - 1 });
    head.append(h("span", { class: "alt-switch", role: "group", "aria-label": `Alternative ${index + 1} of ${alts.length}` },
      prev, h("span", { class: "alt-count", text: `${index + 1}/${alts.length}` }), next));
  }
  if (opts.canRegenerate) tools.append(tool("Regenerate this reply", "↻ Regenerate", actions.regenerate));
  if (opts.canRegenerate && actions.extend) tools.append(tool("Continue this reply", "⇥ Continue", actions.extend));
  if (!mine && message.turn_id) tools.append(tool("Why did it say that?", "Why?", () => actions.why(message)));
  tools.append(
    tool(`Edit message by ${author}`, "Edit", () => startEdit(li, text, message, actions.edit)),
    tool(`Delete message by ${author}`, "Delete", () => actions.remove(message)),
    tool("Rewind to before this message", "⟲ Rewind", () => actions.rewind(message)),
  );
  return rovingControls(li);
}

function startEdit(li, textEl, message, save) {
  if (li.querySelector(".msg-edit")) return;
  const area = h("textarea", { class: "msg-edit", rows: 3, "aria-label": "Edit message text", value: message.text });
  const ok = h("button", { type: "button", class: "primary small" }, "Save");
  const cancel = h("button", { type: "button", class: "small" }, "Cancel");
  const box = h("div", { class: "msg-edit-box" }, area, h("div", { class: "row" }, ok, cancel,
    h("span", { class: "muted hint", text: "Enter saves · Shift+Enter new line · Esc cancels" })));
  textEl.hidden = true;
  textEl.after(box);
  const close = () => {
    box.remove();
    textEl.hidden = false;
    li.focus();
  };
  const commit = async () => {
    if (area.value === message.text) return close();
    ok.disabled = true;
    try {
      await save(message, area.value);
    } catch {
      ok.disabled = false;
      area.focus();
    }
  };
  ok.addEventListener("click", commit);
  cancel.addEventListener("click", close);
  area.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape") {
      ev.preventDefault();
      ev.stopPropagation();
      close();
    } else if (ev.key === "Enter" && !ev.shiftKey) {
      ev.preventDefault();
      commit();
    }
  });
  area.focus();
}

/** The placeholder of a reply that is still streaming in. */
export function streamingItem(author) {
  const text = h("div", { class: "msg-text" });
  const li = h("li", { class: ["msg", "msg-bot", "streaming"], dataset: { author }, "aria-busy": "true" },
    avatarFor(author),
    h("div", { class: "msg-head" },
      h("span", { class: "author", text: nameOf(author) }),
      h("span", { class: "badge typing", text: "writing…" })),
    text);
  return { li, text };
}

/** A turn the person stopped before any reply was stored (a stop after some words keeps
 * them, and the turn completes): "Stopped before Mara wrote anything.", not a failure
 * that repeats "Stopped. stopped by the user". Null for any other failed turn. */
export function stopWords(turn) {
  if (!turn || !/^(generation )?stopped by the user/i.test(turn.error || "")) return null;
  const bots = (store.chat && store.chat.bot_ids) || [];
  return `Stopped before ${bots.length === 1 ? nameOf(bots[0]) : "anyone"} wrote anything.`;
}

/** The banner of a failed turn: its reason (a stop's own words) and a Retry button. */
export function failureItem(turn, onRetry) {
  const stopped = stopWords(turn);
  const retry = h("button", { type: "button", class: "primary small", onclick: onRetry }, "Retry");
  if (stopped) {
    return h("li", { class: ["turn-failed", "turn-stopped"], role: "status", dataset: { turn: turn.id } },
      h("span", { class: "reason", text: stopped }), " ", retry);
  }
  return h("li", { class: "turn-failed", role: "alert", dataset: { turn: turn.id } },
    h("strong", { text: turn.cancelled || /cancel|stop/i.test(turn.error || "") ? "Stopped. " : "The reply failed. " }),
    h("span", { class: "reason", text: uiWords(turn.error) || "no reason given" }), " ", retry);
}

/** Render the prompt(s) behind a turn for the "why?" dialog. With `messageId`, the
 * prompt that wrote that message comes alone, and the turn's other prompts (another
 * bot's reply in a group chat) wait folded below it: "Why did Mara say that?" once opened
 * on Tobias's prompt. */
export function promptView(data, messageId = null) {
  const prompts = Array.isArray(data) ? data : (data && (data.prompts || data.items)) || [data];
  const mine = messageId ? prompts.filter((p) => p && p.message_id === messageId) : [];
  if (!mine.length) return h("div", { class: "prompts" }, prompts.map(promptSection));
  const others = prompts.filter((p) => !mine.includes(p));
  return h("div", { class: "prompts" }, mine.map(promptSection),
    others.length ? h("details", { class: "other-prompts" },
      h("summary", { text: `Other prompts of this turn (${others.length})` }), others.map(promptSection)) : null);
}

/** A prompt's purpose in words: the dialog read "bot Tobias Wren · purpose reply". */
const PROMPT_PURPOSES = {
  reply: "reply prompt", extraction: "extraction prompt", chapter: "chapter prompt", reflection: "reflection prompt",
};

function promptSection(p) {
  if (!p || !Array.isArray(p.messages)) {
    return h("pre", { class: "json", text: JSON.stringify(p, null, 2) });
  }
  const what = PROMPT_PURPOSES[p.purpose] || p.purpose || "prompt";
  const meta = [
    p.bot_id ? `${nameOf(p.bot_id)}'s ${what}` : what,
    p.token_count ? `${p.token_count.toLocaleString("en")} tokens` : null,
    p.lore && p.lore.length ? `lore: ${p.lore.join(", ")}` : null,
  ].filter(Boolean).join(" · ");
  return h("section", { class: "prompt" },
    h("h3", { text: meta || "prompt" }),
    recalledList(p),
    p.messages.map((m) => h("div", { class: ["prompt-msg", `role-${m.role}`] },
      h("div", { class: "role", text: m.role }),
      h("pre", { class: "content", text: m.content }))));
}

/** The memories a prompt recalled, by their words (§8.4): what "why?" is asked for. */
function recalledList(p) {
  const recalled = Array.isArray(p.recalled) ? p.recalled : [];
  if (!recalled.length) {
    return p.purpose === "reply" ? h("p", { class: "muted recalled-none", text: "No memory was recalled for this reply." }) : null;
  }
  const who = p.bot_id ? nameOf(p.bot_id) : "The bot";
  return h("section", { class: "recalled", "aria-label": "Recalled memories" },
    h("h4", { text: `${who} recalled ${recalled.length} memor${recalled.length === 1 ? "y" : "ies"}` }),
    h("ul", {}, recalled.map((m) => h("li", { dataset: { id: m.id } },
      m.forgotten
        ? h("span", { class: "muted", text: "(a memory deleted since)" })
        : [h("span", { class: "recalled-text", text: m.text }),
          h("span", { class: "muted recalled-meta", text: ` — ${m.kind}${m.superseded_by ? ", superseded since" : ""}` })]))),
    h("p", { class: "muted hint", text: "As they read now; the prompt below holds the words the model was given." }));
}

/** "You" are named by the persona (§3.6): a new name shows at once in the open transcript
 * (the head, the lettered avatar, the tools' labels), not only after a reload. */
function renameYou() {
  const name = nameOf("you");
  for (const li of document.querySelectorAll("#transcript li.msg-you")) {
    const author = li.querySelector(".msg-head .author");
    if (!author || author.textContent === name) continue;
    author.textContent = name;
    li.querySelector(".msg-avatar")?.replaceWith(avatarFor("you"));
    li.querySelector(".msg-tools")?.setAttribute("aria-label", `Actions for message by ${name}`);
    for (const label of ["Edit message by ", "Delete message by "]) {
      const button = li.querySelector(`.msg-tools button[aria-label^="${label}"]`);
      button?.setAttribute("aria-label", `${label}${name}`);
      button?.setAttribute("title", `${label}${name}`);
    }
  }
}

on("persona", renameYou);
