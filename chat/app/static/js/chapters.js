// Chapters in the transcript (§5.7): each summary of an older stretch of the chat shows as
// a collapsible "Chapter 2 · 40 messages" block just above the first message of its
// stretch, when that message is on screen, and can be edited there (a pinned manual
// edit, §6: the model never writes over it). The chapters of the open chat are fetched
// on opening and after each turn; placing them again costs nothing but a lookup per
// chapter. Text goes in with textContent only (§12.2).

import { get, patch, seg } from "./api.js";
import { h, notify } from "./dom.js";

let chatId = null;
let chapters = []; // of the open chat, in transcript order
let loads = 0;
let last = null; // the arguments of the last placing, to place again after an edit

/** Fetch the chapters of `id` (the open chat); they are placed by `placeChapters`. */
export async function loadChapters(id) {
  const mine = ++loads;
  let found = [];
  try {
    found = (await get(`/api/chats/${seg(id)}/chapters`)) || [];
  } catch {
    found = []; // the chat is gone or the server is away: the transcript says so
  }
  if (mine !== loads) return false;
  chatId = id;
  chapters = found;
  return true;
}

/** Put each chapter's block above the first message of its stretch that is on screen;
 * blocks of chapters that are gone (a rewind) are removed. `messages` are the loaded
 * ones, oldest first, with their `event_id`. */
export function placeChapters(list, id, messages) {
  last = [list, id, messages];
  const wanted = id === chatId ? chapters : [];
  const keep = new Set();
  wanted.forEach((chapter, index) => {
    const first = messages.find((m) => m.event_id >= chapter.first_event_id && m.event_id <= chapter.last_event_id);
    const anchor = first && list.querySelector(`li.msg[data-id="${CSS.escape(first.id)}"]`);
    if (!anchor) return;
    keep.add(chapter.id);
    const li = list.querySelector(`li.chapter[data-chapter="${CSS.escape(chapter.id)}"]`);
    if (li && li.querySelector(".chapter-edit")) { // being edited: leave it where it is
      if (li.nextElementSibling !== anchor) anchor.before(li);
      return;
    }
    const fresh = chapterItem(chapter, index + 1);
    if (li && li.dataset.text === fresh.dataset.text && li.nextElementSibling === anchor) return;
    const open = li ? li.querySelector("details").open : false;
    fresh.querySelector("details").open = open;
    li?.remove();
    anchor.before(fresh);
  });
  for (const li of list.querySelectorAll("li.chapter")) {
    if (!keep.has(li.dataset.chapter)) li.remove();
  }
}

function chapterItem(chapter, number) {
  const label = `Chapter ${number} · ${chapter.message_count} message${chapter.message_count === 1 ? "" : "s"}`;
  const text = h("p", { class: "chapter-text", text: chapter.text });
  const edit = h("button", { type: "button", class: "small", "aria-label": `Edit chapter ${number}` }, "Edit");
  const box = h("details", { class: "chapter-box" },
    h("summary", {}, h("span", { class: "chapter-title", text: label }),
      chapter.pinned ? h("span", { class: "badge", title: "You edited this chapter; the model leaves it as it is", text: "edited" }) : null),
    text, h("div", { class: "row" }, edit));
  const li = h("li", {
    class: "chapter",
    dataset: { chapter: chapter.id, text: `${chapter.pinned ? 1 : 0}${chapter.text}` },
    title: "A summary of older messages that no longer fit the prompt",
  }, box);
  edit.addEventListener("click", () => startEdit(li, text, chapter));
  return li;
}

function startEdit(li, textEl, chapter) {
  if (li.querySelector(".chapter-edit")) return;
  const area = h("textarea", { class: "chapter-edit", rows: 4, "aria-label": "Edit chapter text", value: chapter.text });
  const ok = h("button", { type: "button", class: "primary small" }, "Save");
  const cancel = h("button", { type: "button", class: "small" }, "Cancel");
  const box = h("div", { class: "msg-edit-box" }, area, h("div", { class: "row" }, ok, cancel));
  textEl.hidden = true;
  textEl.after(box);
  const close = () => {
    box.remove();
    textEl.hidden = false;
  };
  const save = async () => {
    if (area.value === chapter.text) return close();
    ok.disabled = true;
    try {
      const updated = await patch(`/api/chapters/${seg(chapter.id)}`, { text: area.value });
      chapters = chapters.map((c) => (c.id === updated.id ? updated : c));
      notify("Chapter saved; the model will not rewrite it.");
      close();
      if (last) placeChapters(...last);
    } catch (exc) {
      notify(`Cannot save the chapter: ${exc.message}`, "error");
      ok.disabled = false;
      area.focus();
    }
  };
  ok.addEventListener("click", save);
  cancel.addEventListener("click", close);
  area.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape") {
      ev.preventDefault();
      ev.stopPropagation();
      close();
    }
  });
  area.focus();
}
