// The labelling UI: one item at a time from GET /api/next, labels by button or key, skip and undo, progress from
// GET /api/stats. Writes carry the bearer token (from #token=... in the URL, or typed once; kept in localStorage)
// and an idempotency key, so a retried submission is recorded once.
"use strict";

// mine: the items this page labelled or skipped, newest last: undo takes back this labeller's own last action, never
// another labeller's.
const state = { config: null, queue: [], current: null, busy: false, keys: new Map(), mine: [] };
const $ = (id) => document.getElementById(id);

function token() {
  const fromHash = new URLSearchParams(location.hash.slice(1)).get("token");
  if (fromHash) {
    localStorage.setItem("syllabus-label-token", fromHash);
    history.replaceState(null, "", location.pathname);
  }
  return localStorage.getItem("syllabus-label-token");
}

function newKey() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function api(path, body) {
  const init = body === undefined ? {} : {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: "Bearer " + (token() || "") },
    body: JSON.stringify(body),
  };
  // A write is retried with the same idempotency key when the network fails; the server records it once.
  for (let attempt = 0; ; attempt++) {
    try {
      const response = await fetch(path, init);
      const json = await response.json();
      if (!response.ok) {
        if (response.status === 401) $("token").classList.add("shown");
        throw Object.assign(new Error(json.error || response.statusText), { status: response.status });
      }
      return json;
    } catch (e) {
      if (e.status || attempt >= 2) throw e;
      await new Promise((r) => setTimeout(r, 300 * (attempt + 1)));
    }
  }
}

function say(text, error) {
  $("message").textContent = text;
  $("message").className = error ? "error" : "";
}

function showStats(s) {
  const target = s.budget ?? s.total;
  $("counts").textContent = `${s.labelled} labelled` + (s.budget != null ? ` of a budget of ${s.budget}` : ` of ${s.total}`)
    + ` · ${s.pending} pending · ${s.skipped} skipped` + (s.budgetExhausted ? " · budget spent" : "");
  $("bar").firstElementChild.style.width = target > 0 ? `${Math.min(100, (100 * s.labelled) / target)}%` : "0";
  $("counts").dataset.labelled = s.labelled;
}

function drawImage(item) {
  const [channels, height, width] = state.config.imageShape;
  const values = state.config.imageColumns.map((c) => Number(item.features[c]));
  const finite = values.filter(Number.isFinite);
  const min = Math.min(...finite), max = Math.max(...finite);
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  const scale = Math.max(1, Math.floor(280 / Math.max(width, height)));
  canvas.style.width = `${width * scale}px`;
  canvas.style.height = `${height * scale}px`;
  const context = canvas.getContext("2d");
  const image = context.createImageData(width, height);
  const plane = width * height;
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) {
      const v = values[(channels === 3 ? c : 0) * plane + i];
      image.data[i * 4 + c] = Number.isFinite(v) && max > min ? Math.round((255 * (v - min)) / (max - min)) : 0;
    }
    image.data[i * 4 + 3] = 255;
  }
  context.putImageData(image, 0, 0);
  return canvas;
}

function drawTable(item) {
  const table = document.createElement("table");
  for (const column of state.config.featureColumns) {
    const row = table.insertRow();
    row.insertCell().outerHTML = "<th></th>";
    row.cells[0].textContent = column;
    row.insertCell().textContent = item.features[column] ?? "(missing)";
  }
  return table;
}

function show() {
  const item = state.current;
  $("view").replaceChildren();
  $("prediction").replaceChildren();
  document.querySelectorAll("#labels button").forEach((b) => b.classList.toggle("predicted", !!item && b.dataset.label === item.predicted));
  if (!item) {
    $("item-id").textContent = "";
    $("view").textContent = "Nothing pending.";
    return;
  }
  $("item-id").textContent = `item ${item.id}` + (item.rank != null ? ` · rank ${item.rank}` : "") + (item.score != null ? ` · score ${item.score.toFixed(4)}` : "");
  $("view").append(state.config.imageShape ? drawImage(item) : drawTable(item));
  if (item.predicted != null) {
    const line = document.createElement("div");
    line.id = "predicted";
    line.innerHTML = "Model: <b></b> <span></span>";
    line.querySelector("b").textContent = item.predicted;
    line.querySelector("span").textContent = item.confidence != null ? `(confidence ${(100 * item.confidence).toFixed(1)}%)` : "";
    $("prediction").append(line);
  }
  const top = Object.entries(item.probabilities || {}).sort((a, b) => b[1] - a[1]).slice(0, 3);
  for (const [label, p] of top) {
    const row = document.createElement("div");
    row.className = "p";
    row.innerHTML = '<span class="l"></span><span class="b"></span><span class="v"></span>';
    row.querySelector(".l").textContent = label;
    row.querySelector(".b").style.width = `${Math.round(120 * p)}px`;
    row.querySelector(".v").textContent = `${(100 * p).toFixed(1)}%`;
    $("prediction").append(row);
  }
}

async function refill() {
  const next = await api("/api/next?limit=20");
  state.queue = next.items;
  state.current = state.queue.shift() || null;
  show();
}

async function act(path, body, done) {
  if (state.busy) return;
  state.busy = true;
  document.body.dataset.busy = "true";
  try {
    const result = await api(path, { ...body, idempotencyKey: newKey() });
    showStats(result.stats);
    say(done(result));
    if (path === "/api/undo") {
      state.mine.pop();
      await refill();
    } else {
      state.mine.push(body.itemId);
      state.current = state.queue.shift() || null;
      if (!state.current) await refill(); else show();
    }
  } catch (e) {
    say(e.message, true);
  } finally {
    state.busy = false;
    document.body.dataset.busy = "false";
  }
}

const label = (value) => state.current && act("/api/submit", { itemId: state.current.id, label: value }, (r) => `labelled ${r.event.itemId} '${value}'`);
const skip = () => state.current && act("/api/skip", { itemId: state.current.id }, (r) => `skipped ${r.event.itemId}`);
const undo = () => state.mine.length === 0
  ? say("nothing of yours to undo on this page", true)
  : act("/api/undo", { itemId: state.mine[state.mine.length - 1] }, (r) => `undid the ${r.event.kind === "labelled" ? `label '${r.event.label}'` : "skip"} of ${r.event.itemId}`);

function shortcuts(labels) {
  // A one-character label is its own key (MNIST's "3" is the key 3); a longer one gets its position (1..9) and its
  // first letter, each when no other label holds it.
  const keys = new Map();
  labels.forEach((l) => { if (l.length === 1) keys.set(l.toLowerCase(), l); });
  labels.forEach((l, i) => { if (l.length > 1 && i < 9 && !keys.has(String(i + 1))) keys.set(String(i + 1), l); });
  labels.forEach((l) => {
    const first = l[0].toLowerCase();
    if (l.length > 1 && first !== " " && !keys.has(first)) keys.set(first, l);
  });
  return keys;
}

async function main() {
  token();
  $("token").addEventListener("submit", (e) => {
    e.preventDefault();
    localStorage.setItem("syllabus-label-token", $("token-input").value.trim());
    $("token").classList.remove("shown");
    say("token saved");
  });
  if (!token()) $("token").classList.add("shown");
  state.config = await api("/api/config");
  state.keys = shortcuts(state.config.labels);
  const keysOf = (l) => [...state.keys].filter(([, label]) => label === l).map(([k]) => k);
  for (const l of state.config.labels) {
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.label = l;
    button.textContent = l;
    if (keysOf(l).length > 0) {
      const kbd = document.createElement("kbd");
      kbd.textContent = keysOf(l).join(" / ");
      button.append(kbd);
    }
    button.addEventListener("click", () => label(l));
    $("labels").append(button);
  }
  $("skip").addEventListener("click", skip);
  $("undo").addEventListener("click", undo);
  $("help").textContent = "Keys: the key beside each label, Space to skip, Backspace or Ctrl+Z to undo.";
  document.addEventListener("keydown", (e) => {
    if (e.target instanceof HTMLInputElement) return;
    if (e.key === " ") { e.preventDefault(); skip(); return; }
    if (e.key === "Backspace" || (e.key === "z" && (e.ctrlKey || e.metaKey))) { e.preventDefault(); undo(); return; }
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const l = state.keys.get(e.key.toLowerCase());
    if (l !== undefined) { e.preventDefault(); label(l); }
  });
  showStats(await api("/api/stats"));
  await refill();
  document.body.dataset.busy = "false";
  document.body.dataset.ready = "true";
}

main().catch((e) => say(e.message, true));
