// The review page: a person corrects a job's boxes (move, resize, add, delete) and saves the
// whole corrected set (PUT /v1/jobs/{id}/review). `shelfwatch labels export` turns saved
// reviews into a YOLO dataset, so corrections become training data.
import { $, ApiError, call, describe, el, get, loadImage, say, start } from "./common.js";

const canvas = $("#canvas");
const ctx = canvas.getContext("2d");
const HANDLE = 10;  // CSS px around a corner that grabs it
const state = { job: null, img: null, boxes: [], sel: -1, drag: null, undo: [], modelCount: 0 };

const scale = () => state.img.naturalWidth / state.job.photo.width;  // photo px → canvas px
const cssToPhoto = () => state.job.photo.width / canvas.getBoundingClientRect().width;

function draw() {
  if (!state.img) return;
  canvas.width = state.img.naturalWidth;
  canvas.height = state.img.naturalHeight;
  ctx.drawImage(state.img, 0, 0);
  const s = scale();
  const line = Math.max(1.5, canvas.width / 600);
  for (const [i, b] of state.boxes.entries()) {
    const [x1, y1, x2, y2] = b.box.map((v) => v * s);
    ctx.lineWidth = i === state.sel ? line * 2.5 : line;
    ctx.strokeStyle = i === state.sel ? "#ffbf47" : b.added ? "#00d0ff" : "#22dd55";
    ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
    if (i === state.sel) {
      ctx.fillStyle = "#ffbf47";
      for (const [hx, hy] of [[x1, y1], [x2, y1], [x1, y2], [x2, y2]]) ctx.fillRect(hx - line * 3, hy - line * 3, line * 6, line * 6);
    }
  }
  $("#count").textContent = state.boxes.length;
  const b = state.boxes[state.sel];
  say($("#selected"), b ? `box ${state.sel + 1} of ${state.boxes.length}: ${b.box.map((v) => Math.round(v)).join(", ")}`
    : `${state.boxes.length} boxes; none selected`);
}

function remember() {
  state.undo.push(JSON.stringify(state.boxes));
  if (state.undo.length > 100) state.undo.shift();
}

function clip(box) {
  const { width, height } = state.job.photo;
  let [x1, y1, x2, y2] = box;
  [x1, x2] = [Math.min(x1, x2), Math.max(x1, x2)];
  [y1, y2] = [Math.min(y1, y2), Math.max(y1, y2)];
  return [Math.max(0, x1), Math.max(0, y1), Math.min(width, x2), Math.min(height, y2)];
}

function at(ev) {
  const r = canvas.getBoundingClientRect();
  const k = cssToPhoto();
  return [(ev.clientX - r.left) * k, (ev.clientY - r.top) * k];
}

function hit(px, py) {
  const grab = HANDLE * cssToPhoto();
  const sel = state.boxes[state.sel];
  if (sel) {
    const [x1, y1, x2, y2] = sel.box;
    for (const [cx, cy, corner] of [[x1, y1, 0], [x2, y1, 1], [x1, y2, 2], [x2, y2, 3]]) {
      if (Math.abs(px - cx) <= grab && Math.abs(py - cy) <= grab) return { index: state.sel, corner };
    }
  }
  let best = -1;
  let area = Infinity;
  for (const [i, b] of state.boxes.entries()) {
    const [x1, y1, x2, y2] = b.box;
    const a = (x2 - x1) * (y2 - y1);
    if (px >= x1 && px <= x2 && py >= y1 && py <= y2 && a < area) { best = i; area = a; }
  }
  return best >= 0 ? { index: best, corner: null } : null;
}

canvas.addEventListener("pointerdown", (ev) => {
  if (!state.img) return;
  canvas.focus({ preventScroll: true });  // a scroll now would move the photo under the pointer
  canvas.setPointerCapture(ev.pointerId);
  const [px, py] = at(ev);
  const found = hit(px, py);
  remember();
  if (found) {
    state.sel = found.index;
    state.drag = { kind: found.corner === null ? "move" : "resize", corner: found.corner, from: [px, py],
      start: [...state.boxes[found.index].box] };
  } else {
    state.boxes.push({ class: "product", box: [px, py, px, py], added: true });
    state.sel = state.boxes.length - 1;
    state.drag = { kind: "draw", from: [px, py] };
  }
  draw();
});

canvas.addEventListener("pointermove", (ev) => {
  const d = state.drag;
  if (!d) return;
  const [px, py] = at(ev);
  const b = state.boxes[state.sel];
  if (d.kind === "move") {
    const [dx, dy] = [px - d.from[0], py - d.from[1]];
    b.box = [d.start[0] + dx, d.start[1] + dy, d.start[2] + dx, d.start[3] + dy];
  } else if (d.kind === "resize") {
    const box = [...d.start];
    box[d.corner % 2 === 0 ? 0 : 2] = px;
    box[d.corner < 2 ? 1 : 3] = py;
    b.box = box;
  } else {
    b.box = [d.from[0], d.from[1], px, py];
  }
  draw();
});

canvas.addEventListener("pointerup", () => {
  const d = state.drag;
  state.drag = null;
  if (!d) return;
  const b = state.boxes[state.sel];
  b.box = clip(b.box);
  if (b.box[2] - b.box[0] < 3 || b.box[3] - b.box[1] < 3) {  // a click, not a box
    if (d.kind === "draw") { state.boxes.splice(state.sel, 1); state.sel = -1; }
    state.undo.pop();
  }
  draw();
});

function addBox() {
  if (!state.img) return;
  remember();
  const { width, height } = state.job.photo;
  const sizes = state.boxes.map((b) => [b.box[2] - b.box[0], b.box[3] - b.box[1]]).sort((a, b) => a[0] - b[0]);
  const [w, h] = sizes.length ? sizes[Math.floor(sizes.length / 2)] : [width / 10, height / 6];
  state.boxes.push({ class: "product", box: clip([width / 2 - w / 2, height / 2 - h / 2, width / 2 + w / 2, height / 2 + h / 2]),
    added: true });
  state.sel = state.boxes.length - 1;
  draw();
}

function deleteSelected() {
  if (state.sel < 0) return;
  remember();
  state.boxes.splice(state.sel, 1);
  state.sel = Math.min(state.sel, state.boxes.length - 1);
  draw();
}

function undo() {
  if (!state.undo.length) return;
  state.boxes = JSON.parse(state.undo.pop());
  state.sel = -1;
  draw();
}

canvas.addEventListener("keydown", (ev) => {
  if (!state.img) return;
  const n = state.boxes.length;
  const step = ev.shiftKey ? 10 : 1;
  const b = state.boxes[state.sel];
  const arrows = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
  if ((ev.key === "n" || ev.key === "p") && n) {
    state.sel = ((state.sel < 0 && ev.key === "p" ? 0 : state.sel) + (ev.key === "n" ? 1 : -1) + n) % n;
  } else if (ev.key in arrows && b) {
    remember();
    const [dx, dy] = arrows[ev.key];
    b.box = ev.altKey ? clip([b.box[0], b.box[1], b.box[2] + dx, b.box[3] + dy])
      : clip([b.box[0] + dx, b.box[1] + dy, b.box[2] + dx, b.box[3] + dy]);
  } else if (ev.key === "Delete" || ev.key === "Backspace") deleteSelected();
  else if (ev.key === "a") addBox();
  else if (ev.key === "z" && (ev.ctrlKey || ev.metaKey)) undo();
  else if (ev.key === "Escape") state.sel = -1;
  else return;
  ev.preventDefault();
  draw();
});

$("#add").addEventListener("click", addBox);
$("#delete").addEventListener("click", deleteSelected);
$("#undo").addEventListener("click", undo);
$("#save").addEventListener("click", async () => {
  if (!state.job) return;
  $("#save").disabled = true;
  try {
    const body = { boxes: state.boxes.map((b) => ({ class: b.class, box: b.box.map((v) => Math.round(v * 10) / 10) })),
      model_version: state.job.model_version };
    const r = await call("PUT", `/v1/jobs/${state.job.id}/review`, { json: body });
    const c = r.body.changes;
    say($("#save-status"), `saved revision ${r.body.revision}: ${c.kept} kept, ${c.moved} moved, ${c.added} added, `
      + `${c.removed} removed`);
    $("#saved").textContent = `revision ${r.body.revision}, ${new Date(r.body.reviewed_at).toLocaleString()} by ${r.body.reviewed_by}`;
  } catch (err) {
    say($("#save-status"), err instanceof ApiError && err.status === 403 ? "saving needs a key with the submit scope"
      : describe(err), true);
  } finally {
    $("#save").disabled = false;
  }
});

async function open(jobId) {
  const job = await get(`/v1/jobs/${jobId}`);
  if (job.status !== "done") throw new Error(`job ${jobId} is ${job.status}; only finished jobs can be reviewed`);
  let boxes = job.detections.map((d) => ({ class: d.class, box: d.box }));
  $("#saved").textContent = "never";
  try {
    const review = await get(`/v1/jobs/${jobId}/review`);
    boxes = review.boxes.map((b) => ({ class: b.class, box: b.box }));
    $("#saved").textContent = `revision ${review.revision}, ${new Date(review.reviewed_at).toLocaleString()} by ${review.reviewed_by}`;
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 404)) throw err;
  }
  Object.assign(state, { job, boxes, sel: -1, undo: [], modelCount: job.detections.length });
  state.img = await loadImage(`/v1/jobs/${jobId}/photo`);
  $("#job-id").textContent = job.id;
  $("#model").textContent = job.model_version;
  $("#model-count").textContent = job.detections.length;
  say($("#save-status"), "");
  history.replaceState(null, "", `?job=${jobId}`);
  for (const b of document.querySelectorAll("#jobs button")) b.setAttribute("aria-pressed", String(b.dataset.job === jobId));
  draw();
}

await start("review");
const { items } = await get("/v1/jobs?status=done&limit=30");
$("#jobs").replaceChildren(...items.map((j) => el("li", {}, el("button", { type: "button", "data-job": j.id, "aria-pressed": "false",
  text: `${new Date(j.timings.queued_at).toLocaleString()} · ${j.store_id} · ${j.detection_count} boxes`,
  onclick: () => open(j.id).catch((err) => say($("#save-status"), describe(err), true)) }))));
const wanted = new URLSearchParams(location.search).get("job") || items[0]?.id;
if (wanted) await open(wanted).catch((err) => say($("#save-status"), describe(err), true));
else say($("#save-status"), "No finished job yet: submit a photo first.");
