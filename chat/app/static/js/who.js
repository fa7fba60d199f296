// Who changed an item or a relationship, in words (§6.4), for its history table and the
// affinity chart: "you", "model", "tone" (the sentiment nudge reading your words), or
// "set-up" — what Kith itself wrote, such as the demo world it creates for a newcomer.
// The demo's relationships were once shown as changed by "you", which they were not.

const TITLES = {
  you: "changed by you",
  model: "changed by the model",
  tone: "nudged by the tone of your message",
  "set-up": "set when the world was set up (the demo, an import), not by you or the model",
};

/** One word for the actor (`user`, `model`, `system`) and the event's `source`. */
export function whoChanged(actor, source = null) {
  if (actor === "user") return "you";
  if (actor === "model") return "model";
  return source === "sentiment" ? "tone" : "set-up";
}

/** A sentence saying the same, for a tooltip. */
export function whoTitle(word) {
  return TITLES[word] || word;
}
