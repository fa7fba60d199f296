// Live updates of one chat over server-sent events (§4.2 step 4): `token`,
// `message`, `turn` and `state`. EventSource cannot send an Authorization
// header, so with an access token the same stream is read through fetch.

import { seg, token } from "./api.js";

const KINDS = ["token", "message", "turn", "state"];

function parse(data) {
  try {
    return JSON.parse(data);
  } catch {
    return { text: data };
  }
}

/** Open the stream of chat `chatId`; `handlers` maps event kinds to functions. Returns {close}. */
export function openStream(chatId, handlers) {
  const path = `/api/chats/${seg(chatId)}/stream`;
  const dispatch = (kind, data) => {
    const fn = handlers[kind];
    if (fn) fn(parse(data));
  };
  if (!token()) return viaEventSource(path, dispatch, handlers);
  return viaFetch(path, dispatch, handlers);
}

function viaEventSource(path, dispatch, handlers) {
  const source = new EventSource(path);
  for (const kind of KINDS) source.addEventListener(kind, (ev) => dispatch(kind, ev.data));
  source.addEventListener("open", () => handlers.open && handlers.open());
  source.addEventListener("error", () => handlers.error && handlers.error());
  return { close: () => source.close() };
}

function viaFetch(path, dispatch, handlers) {
  const controller = new AbortController();
  let closed = false;
  let delay = 500;
  const run = async () => {
    while (!closed) {
      try {
        const response = await fetch(path, {
          headers: { Authorization: `Bearer ${token()}`, Accept: "text/event-stream" },
          signal: controller.signal,
        });
        if (!response.ok || !response.body) throw new Error(String(response.status));
        delay = 500;
        if (handlers.open) handlers.open();
        await readEvents(response.body, dispatch);
      } catch {
        if (closed) return;
        if (handlers.error) handlers.error();
      }
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 8000);
    }
  };
  run();
  return {
    close: () => {
      closed = true;
      controller.abort();
    },
  };
}

async function readEvents(body, dispatch) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replace(/\r\n?/g, "\n");
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let kind = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) kind = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      }
      if (data.length) dispatch(kind, data.join("\n"));
    }
  }
}
