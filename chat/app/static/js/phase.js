// What the running turn is doing, and for how long (§4.3): "Mara Quinn is writing… 4 s",
// "Updating memories… 12 s". The Stop button says what it stops. Driven by the `phase`,
// `phase_bot` and `phase_since` fields of the SSE `turn` events.

import { $ } from "./dom.js";
import { nameOf } from "./store.js";

const LABELS = {
  writing: (bot) => `${bot ? nameOf(bot) : "The bot"} is writing…`,
  updating_memories: () => "Updating memories…",
  summarising: () => "Summarising older messages…",
};
const STOPS = {
  writing: ["Stop writing", "Stop this reply: the text so far is kept, marked stopped, and can be continued or regenerated"],
  updating_memories: ["Skip memory update", "Stop updating memories: the replies stay; this turn changes no memories or relationships"],
  summarising: ["Stop summarising", "Stop summarising: the chat stays as it is"],
};

let timer = null;
let current = null; // {phase, bot, started: ms on this clock}

function paint() {
  if (!current) return;
  const seconds = Math.max(0, Math.round((Date.now() - current.started) / 1000));
  $("#turn-status").textContent = `${LABELS[current.phase](current.bot)} ${seconds} s`;
}

/** Show a turn's phase (or clear it when it has none); elapsed time counts from the
 * server's `phase_since`, so a reload or a second tab shows the same time. */
export function showPhase(turn) {
  const phase = turn && LABELS[turn.phase] ? turn.phase : null;
  const stop = $("#stop-btn");
  if (!phase) {
    clearPhase();
    return false;
  }
  const key = `${turn.id}:${phase}:${turn.phase_bot || ""}`;
  if (!current || current.key !== key) {
    const server = Date.parse(turn.phase_since || "");
    // local-first: the server's clock is this machine's; never count from the future
    current = { key, phase, bot: turn.phase_bot, started: Number.isFinite(server) ? Math.min(server, Date.now()) : Date.now() };
  }
  const [label, title] = STOPS[phase];
  stop.textContent = label;
  stop.title = title;
  stop.setAttribute("aria-label", title);
  stop.dataset.phase = phase;
  paint();
  if (!timer) timer = setInterval(paint, 1000);
  return true;
}

export function clearPhase() {
  current = null;
  if (timer) clearInterval(timer);
  timer = null;
  const stop = $("#stop-btn");
  stop.textContent = "Stop";
  stop.title = "Stop this turn";
  stop.removeAttribute("aria-label");
  delete stop.dataset.phase;
}

export function hasPhase() {
  return Boolean(current);
}
