// Tiny inline SVG icons (no icon font, no emoji font needed offline).

import { s } from "./dom.js";

const PATHS = {
  history: ["M12 7v5l3 2", "M3.05 11a9 9 0 1 1 .5 4", "M3 4v7h7"],
  trash: ["M4 7h16", "M10 11v6", "M14 11v6", "M6 7l1 13h10l1-13", "M9 7V4h6v3"],
  pin: ["M9 4h6l-1 6 4 3v2H6v-2l4-3z", "M12 15v6"],
  close: ["M6 6l12 12", "M18 6L6 18"],
};

/** An icon by name; decorative (the button around it carries the label). */
export function icon(name) {
  return s("svg", { class: ["icon-svg", `icon-${name}`], viewBox: "0 0 24 24", "aria-hidden": "true", focusable: "false" },
    PATHS[name].map((d) => s("path", { d })));
}
