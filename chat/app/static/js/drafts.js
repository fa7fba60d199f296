// What is being typed, sent when the typing pauses (POST /api/chats/{id}/draft): a server
// with an embedder on this machine embeds it at once, so the message sent as last drafted
// is recalled without its query being embedded while the reply waits (§13). A server that
// takes no drafts says so in its first answer; none are sent after that. One that is busy
// with a turn (the model has the cores) takes none: the same text is offered again a
// second later, until it is taken, changed or sent.

import { post, seg } from "./api.js";
import { store } from "./store.js";

const PAUSE_MS = 350;
const BUSY_RETRY_MS = 1000;
let timer = 0;
let taken = "";
let refused = false;

function offer(input) {
  const text = input.value.trim(); // exactly what send() would post
  const chatId = store.chatId;
  const key = `${chatId}\n${text}`;
  if (!text || !chatId || input.disabled || key === taken) return;
  post(`/api/chats/${seg(chatId)}/draft`, { text }).then(
    (answer) => {
      if (!answer || answer.drafts === false) refused = true;
      else if (answer.embedding) taken = key;
      else if (input.value.trim() === text) schedule(input, BUSY_RETRY_MS);
    },
    () => {}, // a draft is a hint: a refused one (too long, chat gone) changes nothing
  );
}

function schedule(input, delay) {
  if (refused) return;
  clearTimeout(timer);
  timer = setTimeout(() => offer(input), delay);
}

/** Call on every input event of the composer; the text is read when the typing pauses. */
export function draftChanged(input) {
  schedule(input, PAUSE_MS);
}
