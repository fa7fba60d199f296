// The part of a long chat that is on screen (§11.1): it opens at the end with the newest
// page, pulls older pages in when scrolled near the top (what is on screen stays where it
// is), and takes single messages from the stream in place: a new one is appended, an
// edit, a deletion or another alternative changes only its own <li>. The transcript is
// never fetched whole; the cost of an update does not depend on the chat's length.

import { get, seg } from "./api.js";
import { h } from "./dom.js";

export const FIRST_PAGE = 100;
export const OLDER_PAGE = 300;
const NEAR_TOP_PX = 400;

export class TranscriptWindow {
  /**
   * `list` is the <ol> of the transcript; `build(message)` makes a message's <li>;
   * `isTail(li)` tells the items kept after the messages (streaming replies, a failure).
   */
  constructor(list, build, isTail) {
    this.list = list;
    this.build = build;
    this.isTail = isTail;
    this.generation = 0;
    this.reset(null);
    list.addEventListener("scroll", () => this.maybeLoadOlder(), { passive: true });
  }

  reset(chatId) {
    this.chatId = chatId;
    this.messages = [];
    this.items = new Map(); // message id -> <li>
    this.hasOlder = false;
    this.loading = null;
    this.generation += 1;
  }

  /** Fetch the newest page of `chatId`; false when another chat was opened meanwhile. */
  async openNewest(chatId) {
    this.reset(chatId);
    const mine = this.generation;
    const page = (await get(`/api/chats/${seg(chatId)}/messages?limit=${FIRST_PAGE}`)) || [];
    if (mine !== this.generation) return false;
    this.messages = page;
    this.hasOlder = page.length === FIRST_PAGE;
    return true;
  }

  /** The <li> of every message, built afresh (used by a full render of the window), after
   * a "Load older messages" button while there are older ones (the keyboard's way up). */
  buildAll() {
    this.items = new Map(this.messages.map((m) => [m.id, this.build(m)]));
    this.button = h("li", { class: "older" }, h("button", {
      type: "button", class: "small", onclick: () => this.loadOlderNow(),
    }, "Load older messages"));
    this.button.hidden = !this.hasOlder;
    return [this.button, ...this.messages.map((m) => this.items.get(m.id))];
  }

  loadOlderNow() {
    if (!this.hasOlder || this.loading || !this.messages.length) return;
    this.loading = this.loadOlder().finally(() => {
      this.loading = null;
    });
  }

  last() {
    return this.messages[this.messages.length - 1] || null;
  }

  has(messageId) {
    return this.items.has(messageId);
  }

  /** Scrolled near the top with older messages left: load the page before the first. */
  maybeLoadOlder() {
    if (this.list.scrollTop <= NEAR_TOP_PX) this.loadOlderNow();
  }

  async loadOlder() {
    const mine = this.generation;
    const first = this.messages[0];
    const path = `/api/chats/${seg(this.chatId)}/messages?limit=${OLDER_PAGE}&before=${seg(first.id)}`;
    const page = ((await get(path)) || []).filter((m) => !this.items.has(m.id));
    if (mine !== this.generation) return;
    this.hasOlder = page.length >= OLDER_PAGE;
    if (this.button) this.button.hidden = !this.hasOlder;
    if (!page.length) return;
    const anchor = this.items.get(first.id);
    const height = this.list.scrollHeight;
    const top = this.list.scrollTop;
    const fragment = document.createDocumentFragment();
    for (const message of page) {
      const li = this.build(message);
      li.classList.add("paged");
      this.items.set(message.id, li);
      fragment.appendChild(li);
    }
    this.messages = page.concat(this.messages);
    this.list.insertBefore(fragment, anchor || this.button?.nextSibling || this.list.firstChild);
    const grown = this.list.scrollHeight - height;
    // What was shown stays put: the browser's scroll anchoring may have moved it already.
    if (Math.abs(this.list.scrollTop - (top + grown)) > 1) this.list.scrollTop = top + grown;
    this.list.dispatchEvent(new CustomEvent("kith:older", { detail: { count: page.length } }));
    if (this.list.scrollTop <= NEAR_TOP_PX) queueMicrotask(() => this.maybeLoadOlder());
  }

  /**
   * Apply one message as the stream or an action answered it; returns what changed:
   * "added", "replaced", "removed" or null (nothing on screen concerns it).
   */
  apply(message) {
    if (message.deleted) return this.remove(message.id) ? "removed" : null;
    const group = message.alt_group || message.id;
    const index = this.messages.findIndex((m) => m.id === message.id || (m.alt_group || m.id) === group);
    if (index >= 0) {
      const shown = this.messages[index];
      if (!message.chosen && shown.id !== message.id) {
        this.messages[index] = { ...shown, alternatives: message.alternatives }; // one more alternative
      } else if (!message.chosen) {
        return this.remove(message.id) ? "removed" : null;
      } else {
        this.messages[index] = message; // the same message changed, or another alternative shows
      }
      this.refresh(shown.id, this.messages[index], index);
      return "replaced";
    }
    if (!message.chosen) return null;
    const last = this.last();
    if (last && message.event_id !== undefined && last.event_id !== undefined && message.event_id < last.event_id) {
      return null; // an older message outside the loaded pages: it appears when paged in
    }
    this.messages.push(message);
    const li = this.build(message);
    this.items.set(message.id, li);
    this.list.insertBefore(li, this.firstTail());
    return "added";
  }

  /** Rebuild the <li> of one message (its data or its neighbours changed). */
  refresh(messageId, message = null, index = -1) {
    const at = index >= 0 ? index : this.messages.findIndex((m) => m.id === messageId);
    if (at < 0) return;
    const data = message || this.messages[at];
    const old = this.items.get(messageId);
    const li = this.build(data);
    const focused = old && old.contains(document.activeElement);
    if (old) {
      old.replaceWith(li);
      this.items.delete(messageId);
    } else {
      this.list.insertBefore(li, this.firstTail());
    }
    this.items.set(data.id, li);
    if (focused) li.querySelector(".msg-tools button")?.focus();
  }

  remove(messageId) {
    const at = this.messages.findIndex((m) => m.id === messageId);
    if (at < 0) return false;
    this.messages.splice(at, 1);
    this.items.get(messageId)?.remove();
    this.items.delete(messageId);
    return true;
  }

  firstTail() {
    for (let li = this.list.lastElementChild; li; li = li.previousElementSibling) {
      if (!this.isTail(li)) return li.nextElementSibling;
    }
    return this.list.firstElementChild;
  }
}

/** Tell whoever listens (the long-chat test, `kith bench ui`) how long a streamed message
 * took to be on screen: `ms` to the DOM change, `frame_ms` to the next frame drawn. */
export function announceDrawn(list, id, started, shown) {
  const ms = performance.now() - started;
  requestAnimationFrame(() => list.dispatchEvent(new CustomEvent("kith:drawn", {
    detail: { id, ms, frame_ms: performance.now() - started, shown },
  })));
}
