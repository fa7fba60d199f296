// The "Snapshots" section of the settings page (§10.4–§10.5): every snapshot
// (periodic ones are pruned by the retention rule, manual ones are kept until
// deleted), a button to take a manual one now, and delete for manual ones.

import { del, get, post, seg } from "./api.js";
import { h, mount, notify, when } from "./dom.js";
import { icon } from "./icons.js";
import { confirmDialog } from "./widgets.js";

/** 1234567 -> "1.2 MB". */
export function size(bytes) {
  const n = Number(bytes) || 0;
  if (n < 1024) return `${n} B`;
  const units = ["KB", "MB", "GB"];
  let value = n / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

function row(snap, reload) {
  const remove = snap.kind === "manual"
    ? h("button", {
      type: "button", class: "icon danger-text", title: "Delete", "aria-label": `Delete snapshot ${snap.name}`,
      onclick: async () => {
        if (!(await confirmDialog("Delete snapshot", `Delete the manual snapshot “${snap.name}”? The event log is not touched.`, "Delete"))) return;
        try {
          await del(`/api/snapshots/${seg(snap.name)}`);
          notify("Snapshot deleted.");
        } catch (exc) {
          notify(`Cannot delete: ${exc.message}`, "error");
        }
        await reload();
      },
    }, icon("trash"))
    : null;
  return h("tr", { dataset: { name: snap.name, kind: snap.kind } },
    h("td", null, h("code", { text: snap.name })),
    h("td", { text: snap.kind }),
    h("td", { class: "num", text: String(snap.last_event_id ?? "") }),
    h("td", { class: "num", text: size(snap.size_bytes) }),
    h("td", null, h("time", { datetime: snap.created_at || "", text: when(snap.created_at) })),
    h("td", { class: "actions" }, remove));
}

/** Fill `box` with the snapshot list and the "Take snapshot" button. */
export async function renderSnapshots(box) {
  const reload = () => renderSnapshots(box);
  let list;
  try {
    list = (await get("/api/snapshots")) || [];
  } catch (exc) {
    mount(box, h("h2", { text: "Snapshots" }), h("p", { class: "error", text: `Cannot load snapshots: ${exc.message}` }));
    return;
  }
  const take = h("button", { type: "button", class: "primary small" }, "Take snapshot");
  take.addEventListener("click", async () => {
    take.disabled = true;
    try {
      const snap = await post("/api/snapshots");
      notify(`Snapshot taken at event ${snap.last_event_id}.`);
    } catch (exc) {
      notify(`Cannot take a snapshot: ${exc.message}`, "error");
    }
    await reload();
    const again = box.querySelector("button.primary");
    if (again) again.focus();
  });
  const table = list.length
    ? h("table", { class: "events snapshots-table", "aria-label": "Snapshots" },
      h("thead", null, h("tr", null, ["Name", "Kind", "Last event", "Size", "Created", ""].map((t) => h("th", { scope: "col", text: t })))),
      h("tbody", null, list.map((snap) => row(snap, reload))))
    : h("p", { class: "muted", text: "No snapshots yet." });
  mount(box,
    h("div", { class: "pane-head" }, h("h2", { text: "Snapshots" }), take),
    h("p", { class: "muted hint", text: "A snapshot lets Kith start fast without replaying the whole event log. Periodic ones are pruned automatically; manual ones are kept until you delete them." }),
    table);
}
