// Affinity (and trust) of one relationship over time as an SVG line chart
// (§5.2, §11.1), from GET /api/edges/{src}/{dst}/history.

import { s, when } from "./dom.js";
import { affinityColour } from "./graph.js";
import { whoChanged } from "./who.js";

const W = 400;
const H = 170;
const PAD = { left: 34, right: 20, top: 16, bottom: 24 };

/** An x-axis tick: the time of day when every point is from one day, else the date. */
function tickFormat(points) {
  const days = new Set(points.map((p) => new Date(p.created_at).toDateString()));
  const options = days.size <= 1 ? { hour: "2-digit", minute: "2-digit" } : { month: "short", day: "numeric" };
  return (iso) => {
    const date = new Date(iso);
    return Number.isNaN(date.getTime()) ? "" : date.toLocaleString(undefined, options);
  };
}

/** Draw `history` (oldest first: {event_id, affinity, trust, actor, created_at, label}). */
export function affinityChart(history, title) {
  const points = history || [];
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  // Zoom the value axis to the data (at least ±20, at most ±100) so small moves show.
  const peak = Math.max(0, ...points.flatMap((p) => [Math.abs(p.affinity), Math.abs(p.trust)]));
  const extent = Math.min(100, Math.max(20, Math.ceil((peak + 5) / 10) * 10));
  const x = (i) => PAD.left + (points.length <= 1 ? plotW / 2 : (plotW * i) / (points.length - 1));
  const y = (v) => PAD.top + plotH * (1 - (Math.max(-extent, Math.min(extent, v)) + extent) / (2 * extent));
  const last = points[points.length - 1];
  const svg = s("svg", {
    class: "chart", viewBox: `0 0 ${W} ${H}`, role: "img",
    "aria-label": points.length
      ? `${title}: affinity over ${points.length} changes, now ${last.affinity}; trust now ${last.trust}`
      : `${title}: no history yet`,
  });
  for (const v of [-extent, -extent / 2, 0, extent / 2, extent]) {
    svg.append(
      s("line", { class: ["grid", v === 0 && "zero"], x1: PAD.left, x2: W - PAD.right, y1: y(v), y2: y(v) }),
      s("text", { class: "axis", x: PAD.left - 4, y: y(v), dy: "0.35em", "text-anchor": "end" }, String(v)));
  }
  if (!points.length) {
    svg.append(s("text", { class: "axis", x: W / 2, y: H / 2, "text-anchor": "middle" }, "No changes yet"));
    return svg;
  }
  const path = (key) => points.map((p, i) => `${i ? "L" : "M"}${x(i).toFixed(1)},${y(p[key]).toFixed(1)}`).join(" ");
  svg.append(
    s("path", { class: "line-trust", d: path("trust") }),
    s("path", { class: "line-affinity", d: path("affinity") }));
  points.forEach((p, i) => {
    const tip = `${when(p.created_at)} (${whoChanged(p.actor, p.source)}): affinity ${p.affinity}, trust ${p.trust}, “${p.label}”`;
    svg.append(s("circle", { class: "pt", cx: x(i), cy: y(p.affinity), r: 3.5, fill: affinityColour(p.affinity) },
      s("title", null, tip)));
  });
  const step = Math.max(1, Math.ceil(points.length / 6));
  const tick = tickFormat(points);
  let lastTick = null;
  points.forEach((p, i) => {
    if ((i % step === 0 || i === points.length - 1) && tick(p.created_at) !== lastTick) {
      lastTick = tick(p.created_at);
      svg.append(s("text", { class: "axis x-tick", x: x(i), y: H - 8, "text-anchor": "middle" }, tick(p.created_at)));
    }
  });
  svg.append(
    s("line", { class: "line-affinity", x1: W - 150, x2: W - 135, y1: 6, y2: 6 }),
    s("text", { class: "axis", x: W - 131, y: 6, dy: "0.35em" }, "affinity"),
    s("line", { class: "line-trust", x1: W - 80, x2: W - 65, y1: 6, y2: 6 }),
    s("text", { class: "axis", x: W - 61, y: 6, dy: "0.35em" }, "trust"));
  return svg;
}
