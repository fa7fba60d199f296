// What is being typed, sent when the typing pauses (POST /api/chats/{id}/draft): a server
// with an embedder on this machine embeds it at once, so the message sent as last drafted
// is recalled without its query being embedded while the reply waits (§13). A server that
// takes no drafts says so in its first answer; none are sent after that.

import { post, seg } from "./api.js";
import { store } from "./store.js";

const PAUSE_MS = 350;
let timer = 0;
let last = "";
let refused = false;

/** Call on every input event of the composer; `text` is read when the typing pauses. */
export function draftChanged(input) {
  if (refused) return;
  clearTimeout(timer);
  timer = setTimeout(() => {
    const text = input.value.trim(); // exactly what send() would post
    const chatId = store.chatId;
    if (!text || !chatId || input.disabled || `${chatId}\n${text}` === last) return;
    last = `${chatId}\n${text}`;
    post(`/api/chats/${seg(chatId)}/draft`, { text }).then(
      (answer) => { if (answer && answer.drafts === false) refused = true; },
      () => {}, // a draft is a hint: a refused one (too long, chat gone) changes nothing
    );
  }, PAUSE_MS);
}
