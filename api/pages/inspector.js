// The inspector: upload a photo or pick a past job; its boxes on a canvas (colour per product
// group), rows and gaps, a client-side confidence filter, counts, model card and timings.
import { $, call, describe, el, fmt, get, groupColour, loadImage, say, sleep, start } from "./common.js";

const state = { job: null, img: null, models: null, conf: 0.25, focus: -1 };
const canvas = $("#canvas");
const ctx = canvas.getContext("2d");

function shown() {
  return (state.job?.detections || []).filter((d) => d.confidence >= state.conf);
}

function draw() {
  const { job, img } = state;
  if (!job || !img) return;
  canvas.width = img.naturalWidth;
  canvas.height = img.naturalHeight;
  const s = img.naturalWidth / job.photo.width;
  const line = Math.max(1.5, canvas.width / 500);
  ctx.drawImage(img, 0, 0);
  const analytics = job.analytics || { rows: [], gaps: [] };
  if ($("#show-rows").checked) {
    ctx.font = `${Math.round(line * 7)}px system-ui`;
    for (const row of analytics.rows) {
      const [x1, y1, x2, y2] = row.box.map((v) => v * s);
      ctx.fillStyle = row.index % 2 ? "rgba(10, 88, 202, .10)" : "rgba(255, 191, 71, .12)";
      ctx.fillRect(x1, y1, x2 - x1, y2 - y1);
      ctx.fillStyle = "rgba(27, 31, 35, .85)";
      ctx.fillRect(x1, y1, line * 26, line * 9);
      ctx.fillStyle = "#fff";
      ctx.fillText(`row ${row.index}`, x1 + line * 2, y1 + line * 7);
    }
  }
  ctx.lineWidth = line;
  for (const [i, d] of shown().entries()) {
    const [x1, y1, x2, y2] = d.box.map((v) => v * s);
    ctx.strokeStyle = groupColour(d.group);
    ctx.lineWidth = i === state.focus ? line * 2.5 : line;
    ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
  }
  if ($("#show-gaps").checked) {
    ctx.setLineDash([line * 4, line * 3]);
    for (const g of analytics.gaps) {
      const [x1, y1, x2, y2] = g.box.map((v) => v * s);
      ctx.fillStyle = "rgba(207, 34, 46, .28)";
      ctx.fillRect(x1, y1, x2 - x1, y2 - y1);
      ctx.strokeStyle = "#cf222e";
      ctx.lineWidth = line * 1.5;
      ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
    }
    ctx.setLineDash([]);
  }
  const all = job.detections?.length || 0;
  say($("#shown"), `${shown().length} of ${all} boxes shown (confidence ≥ ${state.conf.toFixed(2)}); `
    + "hover a box, or focus the photo and press N / P to step through them.");
}

function tip(d, x, y) {
  const t = $("#tip");
  if (!d) { t.classList.add("hidden"); return; }
  t.textContent = `confidence ${d.confidence.toFixed(2)}` + (d.row !== null && d.row !== undefined ? ` · row ${d.row}` : "")
    + (d.group !== null && d.group !== undefined ? ` · group ${d.group}` : "");
  t.style.left = `${x + 12}px`;
  t.style.top = `${y + 12}px`;
  t.classList.remove("hidden");
}

canvas.addEventListener("mousemove", (ev) => {
  if (!state.job || !state.img) return;
  const r = canvas.getBoundingClientRect();
  const k = state.job.photo.width / r.width;  // CSS px → photo px
  const px = (ev.clientX - r.left) * k;
  const py = (ev.clientY - r.top) * k;
  const under = shown().filter((d) => px >= d.box[0] && px <= d.box[2] && py >= d.box[1] && py <= d.box[3]);
  under.sort((a, b) => (a.box[2] - a.box[0]) * (a.box[3] - a.box[1]) - (b.box[2] - b.box[0]) * (b.box[3] - b.box[1]));
  tip(under[0], ev.clientX - r.left, ev.clientY - r.top);
});
canvas.addEventListener("mouseleave", () => tip(null));
canvas.addEventListener("keydown", (ev) => {
  const boxes = shown();
  if (!boxes.length || !["n", "p", "N", "P", "Escape"].includes(ev.key)) return;
  ev.preventDefault();
  if (ev.key === "Escape") { state.focus = -1; tip(null); draw(); return; }
  const step = ev.key.toLowerCase() === "n" ? 1 : -1;
  state.focus = (state.focus + step + boxes.length) % boxes.length;
  draw();
  const r = canvas.getBoundingClientRect();
  const k = r.width / state.job.photo.width;
  const d = boxes[state.focus];
  tip(d, d.box[0] * k, d.box[3] * k);
});

$("#conf").addEventListener("input", (ev) => {
  state.conf = Number(ev.target.value);
  $("#conf-value").textContent = state.conf.toFixed(2);
  state.focus = -1;
  draw();
});
$("#show-rows").addEventListener("change", draw);
$("#show-gaps").addEventListener("change", draw);

const ms = (v) => (v === null || v === undefined ? "–" : v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${v.toFixed(0)} ms`);
const span = (a, b) => (a && b ? new Date(b) - new Date(a) : null);

function figures(job) {
  $("#job-id").textContent = job.id;
  $("#job-status").replaceChildren(el("span", { class: `status ${job.status}`, text: job.status }),
    job.failure ? ` ${job.failure.reason}` : "");
  $("#count").textContent = job.detection_count ?? "–";
  const a = job.analytics;
  $("#rows").textContent = a ? a.rows.length : "–";
  $("#groups").textContent = a ? a.groups.length : "–";
  $("#gaps").textContent = a ? a.gaps.length : "–";
  $("#missing").textContent = a ? a.missing_facings : "–";
  const t = job.timings;
  $("#t-wait").textContent = ms(t.queue_wait_ms);
  $("#t-infer").textContent = ms(t.worker_ms?.detect_per_photo);
  $("#t-total").textContent = ms(span(t.queued_at, t.finished_at));
  const card = state.models?.items.find((m) => m.version === job.model_version);
  const rows = [["Version", job.model_version || "–"]];
  if (card) {
    rows.push(["Serves", card.serving.join(", ") || "no mode now"], ["Precision", card.precision || "–"],
      ["Input", card.input_size ? `${card.input_size} px` : "–"]);
    if (card.metrics) {
      rows.push(["mAP50", fmt(card.metrics.map50, 3)], ["Precision (val)", fmt(card.metrics.precision, 3)],
        ["Recall (val)", fmt(card.metrics.recall, 3)], ["Count error", fmt(card.metrics.count_error, 3)]);
    }
    rows.push(["Latency, 1 thread", card.latency_ms_1thread ? `${card.latency_ms_1thread} ms` : "–"]);
  }
  $("#model").replaceChildren(...rows.flatMap(([k, v]) => [el("dt", { text: k }),
    el("dd", { text: String(v), id: k === "Version" ? "model-version" : null })]));
}

async function show(jobId) {
  say($("#upload-status"), "");
  let job;
  for (;;) {
    const r = await call("GET", `/v1/jobs/${jobId}`);
    job = r.body;
    figures(job);
    if (job.status === "done" || job.status === "failed") break;
    await sleep(Math.min(Math.max(r.retryAfter, 0.3), 2) * 1000);
  }
  state.job = job;
  state.focus = -1;
  state.img = await loadImage(`/v1/jobs/${jobId}/photo`);
  draw();
  history.replaceState(null, "", `?job=${jobId}`);
  for (const b of document.querySelectorAll("#jobs button")) b.setAttribute("aria-pressed", String(b.dataset.job === jobId));
}

function latencyChart(jobs) {
  const c = $("#latency");
  const g = c.getContext("2d");
  g.clearRect(0, 0, c.width, c.height);
  const done = jobs.filter((j) => j.status === "done").slice(0, 20).reverse();
  if (!done.length) return;
  const bars = done.map((j) => [j.timings.queue_wait_ms || 0, span(j.timings.started_at, j.timings.finished_at) || 0]);
  const top = Math.max(...bars.map(([w, p]) => w + p), 1);
  const bw = c.width / bars.length;
  const h = c.height - 14;
  for (const [i, [w, p]] of bars.entries()) {
    const hw = (w / top) * h;
    const hp = (p / top) * h;
    g.fillStyle = "#d4a72c";
    g.fillRect(i * bw + 1, c.height - hw, bw - 2, hw);
    g.fillStyle = "#0a58ca";
    g.fillRect(i * bw + 1, c.height - hw - hp, bw - 2, hp);
  }
  g.fillStyle = "#57606a";
  g.font = "11px system-ui";
  g.fillText(`max ${ms(top)}`, 2, 11);
}

async function refreshJobs() {
  const { items } = await get("/v1/jobs?limit=20");
  latencyChart(items);
  $("#jobs").replaceChildren(...items.map((j) => el("li", {}, el("button", {
    type: "button", "data-job": j.id, "aria-pressed": String(state.job?.id === j.id),
    onclick: () => show(j.id).catch((err) => say($("#upload-status"), describe(err), true)),
    text: `${new Date(j.timings.queued_at).toLocaleString()} · ${j.store_id} · ${j.status}`
      + (j.detection_count !== undefined && j.detection_count !== null ? ` · ${j.detection_count} products` : ""),
  }))));
}

$("#upload").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const file = $("#file").files[0];
  if (!file) return;
  const form = new FormData();
  form.append("photos", file, file.name);
  form.append("store_id", $("#store").value.trim());
  form.append("mode", $("#mode").value);
  $("#analyse").disabled = true;
  say($("#upload-status"), "uploading…");
  try {
    const r = await call("POST", "/v1/audits", { form, headers: { "Idempotency-Key": crypto.randomUUID() } });
    say($("#upload-status"), "waiting for the farm…");
    await show(r.body.job_ids[0]);
    say($("#upload-status"), "done");
    await refreshJobs();
  } catch (err) {
    say($("#upload-status"), describe(err), true);
  } finally {
    $("#analyse").disabled = false;
  }
});

await start("inspector");
state.models = await get("/v1/models");
await refreshJobs();
const wanted = new URLSearchParams(location.search).get("job");
if (wanted) await show(wanted).catch((err) => say($("#upload-status"), describe(err), true));
