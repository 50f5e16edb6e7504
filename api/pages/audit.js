// The phone audit page. Photos are taken with the camera, downscaled on the phone (a 12 MP
// photo need not cross a shop's Wi-Fi: MAX_SIDE below, measured in docs/benchmarks.md), kept
// in IndexedDB with the audit's Idempotency-Key, and sent as one audit. A reload resumes: a
// sent audit is polled again; one not yet accepted is sent again with the same key, and a
// failed upload is retried with that key until the API answers.
import { $, ApiError, call, describe, el, get, say, sleep, start } from "./common.js";

const MAX_SIDE = 1600;  // px on the long side; the detector sees at most 640 (accurate)
const QUALITY = 0.9;
const RETRYABLE = (err) => !(err instanceof ApiError) || err.status >= 500 || err.status === 429 || err.status === 408;

// --- the audit in progress, in IndexedDB (blobs survive a reload, unlike sessionStorage) ---
function db() {
  return new Promise((resolve, reject) => {
    const open = indexedDB.open("shelfwatch-audit", 1);
    open.onupgradeneeded = () => open.result.createObjectStore("audit");
    open.onsuccess = () => resolve(open.result);
    open.onerror = () => reject(open.error);
  });
}
async function idb(mode, fn) {
  const d = await db();
  return new Promise((resolve, reject) => {
    const tx = d.transaction("audit", mode);
    const req = fn(tx.objectStore("audit"));
    tx.oncomplete = () => resolve(req?.result);
    tx.onerror = () => reject(tx.error);
  });
}
const load = () => idb("readonly", (s) => s.get("current"));
const save = (audit) => idb("readwrite", (s) => s.put(audit, "current"));
const clear = () => idb("readwrite", (s) => s.delete("current"));

let audit = null;  // {key, store, aisle, photos: [{name, blob, bytes, width, height}], sent, auditId}

async function downscale(file) {
  const bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
  const r = Math.min(1, MAX_SIDE / Math.max(bitmap.width, bitmap.height));
  const canvas = document.createElement("canvas");
  canvas.width = Math.round(bitmap.width * r);
  canvas.height = Math.round(bitmap.height * r);
  canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", QUALITY));
  const keep = r === 1 && file.type === "image/jpeg" && file.size <= blob.size ? file : blob;
  return { name: file.name || "photo.jpg", blob: keep, bytes: file.size, width: canvas.width, height: canvas.height };
}

const kb = (n) => (n > 1e6 ? `${(n / 1e6).toFixed(1)} MB` : `${Math.round(n / 1e3)} KB`);

function renderDraft() {
  $("#photos").replaceChildren(...audit.photos.map((p, i) => el("li", {},
    el("img", { src: URL.createObjectURL(p.blob), alt: `photo ${i + 1}` }),
    el("span", { text: `Photo ${i + 1}: ${p.width}×${p.height}, ${kb(p.blob.size)} (taken ${kb(p.bytes)})` }),
    el("button", { type: "button", class: "secondary", "aria-label": `remove photo ${i + 1}`, text: "Remove",
      onclick: async () => { audit.photos.splice(i, 1); await save(audit); renderDraft(); } }))));
  $("#send").disabled = !audit.photos.length || !$("#store").value;
  $("#send").textContent = audit.photos.length ? `Send audit (${audit.photos.length} photo${audit.photos.length > 1 ? "s" : ""})` : "Send audit";
}

async function sections() {
  const store = $("#store").value;
  const options = [el("option", { value: "", text: "(no section)" })];
  if (store) {
    const { items } = await get(`/v1/stores/${encodeURIComponent(store)}/sections`);
    options.push(...items.map((s) => el("option", { value: s.aisle, text: s.name ? `${s.aisle}: ${s.name}` : s.aisle })));
  }
  $("#aisle").replaceChildren(...options);
  if (audit?.aisle) $("#aisle").value = audit.aisle;
}

// Send (or send again, same key) until the API accepts or refuses for good.
async function send() {
  $("#draft").classList.add("hidden");
  $("#progress").classList.remove("hidden");
  for (let attempt = 1; !audit.auditId; attempt++) {
    const form = new FormData();
    for (const p of audit.photos) form.append("photos", p.blob, p.name.replace(/\.[^.]*$/, "") + ".jpg");
    form.append("store_id", audit.store);
    if (audit.aisle) form.append("aisle", audit.aisle);
    form.append("captured_at", audit.capturedAt);
    say($("#audit-status"), attempt === 1 ? "uploading…" : `uploading again (attempt ${attempt})…`);
    try {
      const r = await call("POST", "/v1/audits", { form, headers: { "Idempotency-Key": audit.key } });
      audit.auditId = r.body.audit_id;
      await save(audit);
    } catch (err) {
      if (!RETRYABLE(err)) {
        say($("#audit-status"), `${describe(err)}. Change the photos and send again, or start a new audit.`, true);
        $("#again").classList.remove("hidden");
        return;
      }
      const wait = Math.min(2 ** attempt, 15);
      say($("#audit-status"), `upload failed (${describe(err)}); retrying in ${wait} s with the same key`, true);
      await sleep(wait * 1000);
    }
  }
  await follow();
}

async function follow() {
  $("#audit-id").textContent = audit.auditId.slice(0, 8);
  $("#progress").dataset.auditId = audit.auditId;
  for (;;) {
    let r;
    try {
      r = await call("GET", `/v1/audits/${audit.auditId}`);
    } catch (err) {
      say($("#audit-status"), `${describe(err)}; trying again`, true);
      await sleep(3000);
      continue;
    }
    const a = r.body;
    say($("#audit-status"), `${a.status}: ${a.progress.done} of ${a.progress.total} photos done`
      + (a.progress.failed ? `, ${a.progress.failed} failed` : ""));
    $("#jobs").replaceChildren(...a.jobs.map((j, i) => el("li", { "data-status": j.status },
      el("span", { class: `status ${j.status}`, text: j.status }),
      el("span", { text: ` Photo ${i + 1}` + (j.status === "done" ? `: ${j.detection_count} products`
        + (j.analytics_summary ? `, ${j.analytics_summary.gaps} gaps (${j.analytics_summary.missing_facings} missing)` : "")
        : j.failure ? `: ${j.failure.reason}` : "") }))));
    if (["done", "partial", "failed"].includes(a.status)) {
      $("#total").textContent = `${a.facings ?? 0} products in ${a.progress.total} photos`;
      $("#stock").replaceChildren(...(a.stock_status ? ["Stock: ", el("span", { class: `status ${a.stock_status}`,
        text: a.stock_status })] : []));
      $("#result").classList.remove("hidden");
      $("#again").classList.remove("hidden");
      await clear();
      return;
    }
    await sleep(Math.min(Math.max(r.retryAfter, 0.5), 3) * 1000);
  }
}

function fresh() {
  return { key: crypto.randomUUID(), store: $("#store").value, aisle: $("#aisle").value, photos: [], sent: false,
    auditId: null, capturedAt: null };
}

$("#take").addEventListener("click", () => $("#camera").click());
$("#camera").addEventListener("change", async (ev) => {
  say($("#draft-note"), "preparing…");
  for (const file of ev.target.files) audit.photos.push(await downscale(file));
  audit.capturedAt ||= new Date().toISOString();  // when the first photo was taken
  ev.target.value = "";
  await save(audit);
  renderDraft();
  say($("#draft-note"), `Photos are reduced to ${MAX_SIDE} px on this phone before they are sent.`);
});
$("#store").addEventListener("change", async () => { audit.store = $("#store").value; await sections(); await save(audit); renderDraft(); });
$("#aisle").addEventListener("change", async () => { audit.aisle = $("#aisle").value; await save(audit); });
$("#draft").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  audit.store = $("#store").value;
  audit.aisle = $("#aisle").value;
  audit.sent = true;
  audit.capturedAt ||= new Date().toISOString();
  await save(audit);
  await send();
});
$("#again").addEventListener("click", async () => {
  await clear();
  audit = fresh();
  $("#progress").classList.add("hidden");
  $("#result").classList.add("hidden");
  $("#again").classList.add("hidden");
  $("#draft").classList.remove("hidden");
  renderDraft();
});

await start("audit");
const { items: stores } = await get("/v1/stores");
const saved = await load();
$("#store").replaceChildren(...stores.map((s) => el("option", { value: s.id, text: s.name || s.id })));
if (!stores.length) say($("#draft-note"), "No stores yet: ask an admin to create your store.", true);
if (saved?.store && stores.some((s) => s.id === saved.store)) $("#store").value = saved.store;
audit = saved || fresh();
audit.store = $("#store").value;
await sections();
renderDraft();
if (audit.sent) {
  say($("#draft-note"), "resuming the audit you were sending");
  if (audit.auditId) { $("#draft").classList.add("hidden"); $("#progress").classList.remove("hidden"); await follow(); }
  else await send();
}
