// What every page shares: the API key (kept in this browser tab's session), the one way to
// call the public API, errors shown as the API words them, and the header.
const KEY = "shelfwatch.apiKey";

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
  }
}

export function apiKey() { return sessionStorage.getItem(KEY); }

// fetch() through the public API with the key; JSON or problem+json back; throws ApiError.
export async function call(method, path, { json, form, headers = {}, signal } = {}) {
  const init = { method, signal, headers: { Authorization: `Bearer ${apiKey()}`, ...headers } };
  if (json !== undefined) { init.body = JSON.stringify(json); init.headers["Content-Type"] = "application/json"; }
  if (form !== undefined) init.body = form;
  const resp = await fetch(path, init);
  const type = resp.headers.get("Content-Type") || "";
  const body = type.includes("json") ? await resp.json() : null;
  if (!resp.ok) throw new ApiError(resp.status, body);
  return { status: resp.status, body, retryAfter: Number(resp.headers.get("Retry-After") || 0) };
}

export const get = (path) => call("GET", path).then((r) => r.body);

// An image the API serves behind the key, as an object URL an <img> or a canvas can use.
export async function imageUrl(path) {
  const resp = await fetch(path, { headers: { Authorization: `Bearer ${apiKey()}` } });
  if (!resp.ok) throw new ApiError(resp.status, await resp.json().catch(() => null));
  return URL.createObjectURL(await resp.blob());
}

export async function loadImage(path) {
  const url = await imageUrl(path);
  const img = new Image();
  img.src = url;
  await img.decode();
  return img;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const $ = (sel, root = document) => root.querySelector(sel);
export const fmt = (x, digits = 0) => (x === null || x === undefined ? "–" : Number(x).toFixed(digits));

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

export function say(node, message, isError = false) {
  node.textContent = message;
  node.classList.toggle("error", isError);
}

export function describe(err) {
  if (err instanceof ApiError) {
    const fields = (err.problem.errors || []).map((e) => e.message).join("; ");
    return `${err.problem.title || "Error"} (${err.status}): ${fields || err.message}`;
  }
  return `Cannot reach the API: ${err.message}`;
}

// Group, row and status colours: distinct hues, readable on a photo.
export function groupColour(group) {
  if (group === null || group === undefined) return "hsl(140 80% 45%)";
  return `hsl(${(group * 137.508) % 360} 85% 50%)`;
}

const PAGES = [["inspector", "Inspector"], ["store", "Store dashboard"], ["audit", "Audit (phone)"],
  ["review", "Review"]];

// The header, and the key form until a key that the API accepts is given. Resolves when ready.
export async function start(page) {
  const header = el("header", {},
    el("span", { class: "brand", text: "ShelfWatch" }),
    el("nav", { "aria-label": "pages" }, ...PAGES.map(([p, title]) =>
      el("a", { href: `/app/${p}`, "aria-current": p === page ? "page" : null, text: title }))),
    el("button", { class: "secondary", type: "button", id: "forget-key", text: "Forget key",
      onclick: () => { sessionStorage.removeItem(KEY); location.reload(); } }));
  document.body.prepend(header);
  const main = $("main");
  while (true) {
    if (apiKey()) {
      try {
        await get("/v1/models");  // any key that may read; a submit-only key gets 403 and is still a key
      } catch (err) {
        if (!(err instanceof ApiError) || (err.status !== 401 && err.status !== 403)) throw err;
        if (err.status === 401) {
          sessionStorage.removeItem(KEY);
          sessionStorage.setItem(KEY + ".rejected", "1");
        }
      }
      if (apiKey()) {
        sessionStorage.removeItem(KEY + ".rejected");
        $("#forget-key").classList.remove("hidden");
        return;
      }
    }
    $("#forget-key").classList.add("hidden");
    await askForKey(main);
  }
}

function askForKey(main) {
  return new Promise((resolve) => {
    main.hidden = true;
    const note = el("p", { class: "error", role: "alert" });
    if (sessionStorage.getItem(KEY + ".rejected")) say(note, "That key was refused (unknown, revoked or expired).", true);
    const input = el("input", { type: "password", id: "api-key", name: "api-key", autocomplete: "off", required: true,
      size: 40 });
    const form = el("form", { class: "key-form panel", "aria-labelledby": "key-title" },
      el("h1", { id: "key-title", text: "Your API key" }),
      el("p", { class: "muted", text: "Kept in this browser tab until you close it or press Forget key; sent only "
        + "to this server, as Authorization: Bearer." }),
      el("label", { for: "api-key", text: "API key" }), input, " ",
      el("button", { type: "submit", text: "Use this key" }), note);
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      sessionStorage.setItem(KEY, input.value.trim());
      form.remove();
      main.hidden = false;
      resolve();
    });
    document.body.insertBefore(form, main);
    input.focus();
  });
}
