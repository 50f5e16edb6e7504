// The store dashboard: each section's stock status against its levels (editable with an admin
// key), facings over time per aisle, and the store's activity log with audit thumbnails.
import { $, ApiError, call, describe, el, get, groupColour, imageUrl, say, start } from "./common.js";

const storeSelect = $("#store");

async function sections(store) {
  const { items } = await get(`/v1/stores/${encodeURIComponent(store)}/sections`);
  $("#sections").replaceChildren(...items.map((s) => {
    const critical = el("input", { type: "number", min: 0, value: s.critical ?? "", id: `critical-${s.aisle}`,
      "aria-label": `critical level of aisle ${s.aisle}` });
    const target = el("input", { type: "number", min: 0, value: s.target ?? "", id: `target-${s.aisle}`,
      "aria-label": `target level of aisle ${s.aisle}` });
    const note = el("span", { role: "status", "aria-live": "polite", class: "muted" });
    const save = el("button", { type: "button", text: "Save", "aria-label": `save the levels of aisle ${s.aisle}`,
      onclick: async () => {
        const body = {};
        if (critical.value !== "") body.critical = Number(critical.value);
        if (target.value !== "") body.target = Number(target.value);
        try {
          await call("PATCH", `/v1/stores/${encodeURIComponent(store)}/sections/${s.id}`, { json: body });
          say(note, "saved");
          await refresh();
        } catch (err) {
          say(note, err instanceof ApiError && err.status === 403 ? "needs an admin key" : describe(err), true);
        }
      } });
    return el("tr", { "data-aisle": s.aisle },
      el("th", { scope: "row", text: s.aisle }), el("td", { text: s.name || "" }),
      el("td", {}, el("span", { class: `status ${s.status}`, "data-testid": `status-${s.aisle}`, text: s.status })),
      el("td", {}, critical), el("td", {}, target), el("td", {}, save, " ", note));
  }));
  if (!items.length) $("#sections").replaceChildren(el("tr", {}, el("td", { colspan: 6, class: "muted",
    text: "No sections yet: an admin adds them (POST /v1/stores/{id}/sections or `shelfwatch stores section`)." })));
}

function chart(points) {
  const c = $("#history");
  const g = c.getContext("2d");
  g.clearRect(0, 0, c.width, c.height);
  const aisles = [...new Set(points.map((p) => p.aisle ?? "–"))];
  $("#history-legend").replaceChildren(...aisles.map((a, i) => el("span", {},
    el("span", { class: "swatch", "data-colour": i }), `aisle ${a}`)));
  for (const [i, sw] of [...document.querySelectorAll("#history-legend .swatch")].entries()) {
    sw.style.background = groupColour(i);
  }
  if (!points.length) {
    g.fillStyle = "#57606a";
    g.font = "14px system-ui";
    g.fillText("No finished audit yet.", 12, 24);
    return;
  }
  const times = points.map((p) => new Date(p.at).getTime());
  const t0 = Math.min(...times);
  const t1 = Math.max(...times, t0 + 1);
  const top = Math.max(...points.map((p) => p.facings || 0), 1) * 1.1;
  const pad = 40;
  const x = (t) => pad + ((t - t0) / (t1 - t0)) * (c.width - pad - 12);
  const y = (v) => c.height - 24 - (v / top) * (c.height - 40);
  g.strokeStyle = "#d0d7de";
  g.fillStyle = "#57606a";
  g.font = "12px system-ui";
  for (const v of [0, top / 2, top]) {
    g.beginPath(); g.moveTo(pad, y(v)); g.lineTo(c.width - 8, y(v)); g.stroke();
    g.fillText(String(Math.round(v)), 4, y(v) + 4);
  }
  g.fillText(new Date(t0).toLocaleString(), pad, c.height - 6);
  for (const [i, aisle] of aisles.entries()) {
    const mine = points.filter((p) => (p.aisle ?? "–") === aisle);
    g.strokeStyle = groupColour(i);
    g.lineWidth = 2;
    g.beginPath();
    for (const [k, p] of mine.entries()) {
      const px = x(new Date(p.at).getTime());
      const py = y(p.facings || 0);
      if (k) g.lineTo(px, py); else g.moveTo(px, py);
    }
    g.stroke();
    for (const p of mine) {
      g.fillStyle = { ok: "#1a7f37", low: "#9a6700", critical: "#cf222e" }[p.stock_status] || "#57606a";
      g.beginPath(); g.arc(x(new Date(p.at).getTime()), y(p.facings || 0), 4, 0, 7); g.fill();
    }
  }
}

function describeActivity(a) {
  const d = a.detail;
  switch (a.kind) {
    case "audit_done":
      return `Audit of aisle ${d.aisle ?? "–"} ${d.status}: ${d.facings} facings, ${d.missing_facings ?? 0} missing`
        + (d.stock_status ? `, stock ${d.stock_status}` : "");
    case "alert_raised": return `Alert: aisle ${d.aisle} critical (${d.facings} facings < ${d.critical})`;
    case "alert_cleared": return `Alert cleared: aisle ${d.aisle} now ${d.status}`;
    case "levels_changed":
      return `Levels of aisle ${d.aisle}: critical ${d.was.critical ?? "–"} → ${d.critical ?? "–"}, `
        + `target ${d.was.target ?? "–"} → ${d.target ?? "–"}`;
    default: return a.kind;
  }
}

async function thumbnail(auditId) {
  const audit = await get(`/v1/audits/${auditId}`);
  const job = audit.jobs.find((j) => j.status === "done") || audit.jobs[0];
  const url = await imageUrl(`/v1/jobs/${job.id}/photo?max_side=160`);
  return el("a", { href: `/app/inspector?job=${job.id}`, "aria-label": "open this audit's photo in the inspector" },
    el("img", { src: url, alt: `first photo of audit ${auditId.slice(0, 8)}` }));
}

async function activity(store) {
  const { items } = await get(`/v1/stores/${encodeURIComponent(store)}/activity?limit=20`);
  const rows = items.map((a) => {
    const li = el("li", { "data-kind": a.kind },
      el("span", { class: `status ${a.kind === "alert_raised" ? "critical" : a.kind === "alert_cleared" ? "ok" : "unknown"}`,
        text: a.kind.replace("_", " ") }), " ",
      el("time", { datetime: a.at, class: "muted", text: new Date(a.at).toLocaleString() }), " ",
      el("span", { text: describeActivity(a) }));
    if (a.kind === "audit_done") thumbnail(a.detail.audit_id).then((t) => li.prepend(t)).catch(() => {});
    return li;
  });
  $("#activity").replaceChildren(...rows);
  if (!rows.length) $("#activity").replaceChildren(el("li", { class: "muted", text: "Nothing yet." }));
}

async function refresh() {
  const store = storeSelect.value;
  if (!store) return;
  history.replaceState(null, "", `?store=${encodeURIComponent(store)}`);
  try {
    await Promise.all([sections(store), activity(store),
      get(`/v1/stores/${encodeURIComponent(store)}/stock`).then((r) => chart(r.items))]);
    say($("#status"), `updated ${new Date().toLocaleTimeString()}`);
  } catch (err) {
    say($("#status"), describe(err), true);
  }
}

await start("store");
const { items: stores } = await get("/v1/stores");
storeSelect.replaceChildren(...stores.map((s) => el("option", { value: s.id, text: s.name ? `${s.name} (${s.id})` : s.id })));
const wanted = new URLSearchParams(location.search).get("store");
if (wanted && stores.some((s) => s.id === wanted)) storeSelect.value = wanted;
if (!stores.length) say($("#status"), "No stores yet: an admin creates them (POST /v1/stores or `shelfwatch stores create`).");
storeSelect.addEventListener("change", refresh);
await refresh();
setInterval(refresh, 30000);
