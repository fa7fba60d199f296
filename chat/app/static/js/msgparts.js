// Parts of one message in the transcript (§11.1): roleplay *actions* in italics and
// **bold** (as text nodes, never markup), the author's avatar beside the bubble, and one tab stop
// per message with the arrow keys moving among its controls.

import { showImage } from "./api.js";
import { avatarSrc } from "./botform.js";
import { h } from "./dom.js";
import { nameOf, store } from "./store.js";

// "**bold**" first: read as an action it showed "*bold*" in italics, stray asterisks and all
const MARKS = /\*\*([^*\n]+)\*\*|\*([^*\n]+)\*/g;

/** The message text as nodes: "*waves*" becomes <em>waves</em>, "**now**" <strong>now</strong>,
 * everything else plain text. No HTML is parsed, so markup in a reply stays visible
 * text (§12.2). */
export function richText(text) {
  const nodes = [];
  const whole = String(text ?? "");
  let at = 0;
  for (const match of whole.matchAll(MARKS)) {
    const inner = match[1] ?? match[2];
    if (!inner.trim()) continue;
    if (match.index > at) nodes.push(document.createTextNode(whole.slice(at, match.index)));
    nodes.push(match[1] !== undefined ? h("strong", { class: "bold", text: inner }) : h("em", { class: "action", text: inner }));
    at = match.index + match[0].length;
  }
  if (at < whole.length) nodes.push(document.createTextNode(whole.slice(at)));
  return nodes;
}

function initialsOf(name) {
  const words = String(name || "?").trim().split(/\s+/).map((w) => w.replace(/[^\p{L}\p{N}]/gu, "")).filter(Boolean);
  return (words.length > 1 ? words[0][0] + words[1][0] : (words[0] || "?").slice(0, 1)).toUpperCase();
}

/** The author's picture beside a message: a bot's avatar, a lettered disc for you (or an
 * author without a picture). Decorative: the author's name is in the message head. */
export function avatarFor(author) {
  const bot = author === "you" ? null : store.bots.find((b) => b.id === author);
  const src = bot ? avatarSrc(bot) : null;
  if (!src) return h("span", { class: "msg-avatar lettered", "aria-hidden": "true", text: initialsOf(nameOf(author)) });
  return showImage(h("img", { class: "msg-avatar", alt: "", width: 32, height: 32, loading: "lazy" }), src);
}

const KEYS = new Set(["ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown", "Home", "End"]);

/**
 * One tab stop per message: the <li> itself is in the tab order and its buttons are
 * not; the arrow keys (and Home/End) move among them, Escape returns to the message.
 * Tab from anywhere inside goes on to the next message, so a long chat costs one Tab
 * per message on the way to the state panel.
 */
export function rovingControls(li) {
  li.tabIndex = 0;
  const controls = () => [...li.querySelectorAll("button")].filter((b) => !b.disabled && !b.closest(".msg-edit-box"));
  for (const button of li.querySelectorAll("button")) button.tabIndex = -1;
  li.addEventListener("keydown", (ev) => {
    if (ev.target.closest("textarea, input, .msg-edit-box")) return;
    if (ev.key === "Escape" && ev.target !== li) {
      ev.preventDefault();
      ev.stopPropagation();
      li.focus();
      return;
    }
    if (!KEYS.has(ev.key)) return;
    const list = controls();
    if (!list.length) return;
    ev.preventDefault();
    const at = list.indexOf(ev.target);
    let next;
    if (ev.key === "Home") next = 0;
    else if (ev.key === "End") next = list.length - 1;
    else if (ev.key === "ArrowLeft" || ev.key === "ArrowUp") next = at <= 0 ? list.length - 1 : at - 1;
    else next = at < 0 || at >= list.length - 1 ? 0 : at + 1;
    list[next].focus();
  });
  li.setAttribute("aria-keyshortcuts", "ArrowRight ArrowLeft");
  return li;
}

/** After a re-render, focus the same control of the same message (or the message). */
export function refocus(list, id, toolLabel) {
  const li = list.querySelector(`.msg[data-id="${CSS.escape(id)}"]`);
  if (!li) return;
  const same = toolLabel && [...li.querySelectorAll("button")].find((b) => b.getAttribute("aria-label") === toolLabel && !b.disabled);
  (same || li).focus();
}
