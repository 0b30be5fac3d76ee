// watchd's live view. Record content is only ever set as text (textContent),
// never parsed as HTML. The stream is read with fetch, which can send the
// Authorization header; EventSource cannot.
"use strict";

const MAX_ROWS = 1000;
const BACKLOG = 500;
const LEVELS = ["debug", "info", "notice", "warning", "error", "critical"];
const $ = (id) => document.getElementById(id);

const view = {
  token: sessionStorage.getItem("watchd-token") || "",
  lastId: null,
  paused: false,
  controller: null,
  times: [], // [Date, level] of what was shown, for the chart
};

function headers() {
  return view.token ? { Authorization: `Bearer ${view.token}` } : {};
}

function say(id, text, kind) {
  const el = $(id);
  el.textContent = text;
  el.className = `${id} ${kind || ""}`.trim();
}

// -- access ------------------------------------------------------------------

async function open() {
  const answer = await fetch("/api/verify", { headers: headers() });
  if (answer.status === 401) {
    $("view").hidden = true;
    $("login").hidden = false;
    $("token").focus();
    if (view.token) $("login-error").textContent = "That token was refused.";
    return;
  }
  $("login").hidden = true;
  $("view").hidden = false;
  showVerdict(answer.ok ? await answer.json() : null);
  connect();
  setInterval(verify, 30000);
  setInterval(drawChart, 5000);
}

$("login").addEventListener("submit", (e) => {
  e.preventDefault();
  view.token = $("token").value.trim();
  sessionStorage.setItem("watchd-token", view.token);
  open();
});

async function verify() {
  try {
    const answer = await fetch("/api/verify", { headers: headers() });
    showVerdict(answer.ok ? await answer.json() : null);
  } catch {
    showVerdict(null);
  }
}

function showVerdict(body) {
  if (!body) return say("verdict", "integrity: unknown");
  const chained = (t) => (t.files || []).some((f) => f.status === "ok" || f.status === "broken");
  const checked = body.trails.filter(chained);
  if (!body.valid) {
    const where = body.trails.find((t) => t.valid === false);
    return say("verdict", `integrity: BROKEN at ${where.first_broken}`, "broken");
  }
  if (!checked.length) return say("verdict", "integrity: no chained trail");
  say("verdict", "integrity: chain valid", "ok");
}

// -- the stream ----------------------------------------------------------------

function query() {
  const params = new URLSearchParams({ raw: "1" });
  const action = $("f-action").value.trim();
  const container = $("f-container").value.trim();
  const level = $("f-level").value;
  const text = $("f-text").value.trim();
  if (action) params.set("action", action);
  if (container) params.append("filter", `container=${container}`);
  if (level) params.set("level", level);
  if (text) params.set("text", text);
  if (view.lastId === null) params.set("backlog", String(BACKLOG));
  return params;
}

async function connect() {
  if (view.controller) view.controller.abort();
  const controller = new AbortController();
  view.controller = controller;
  const sent = headers();
  if (view.lastId !== null) sent["Last-Event-ID"] = view.lastId;
  say("state", "connecting");
  let answer;
  try {
    answer = await fetch(`/api/events/stream?${query()}`, { headers: sent, signal: controller.signal });
  } catch {
    return retry(controller);
  }
  if (!answer.ok) {
    const body = await answer.json().catch(() => ({}));
    say("state", `refused: ${body.error || answer.status}`, "paused");
    return;
  }
  say("state", "live", "live");
  const reader = answer.body.getReader();
  const decoder = new TextDecoder();
  let buffered = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffered += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffered.indexOf("\n\n")) >= 0) {
        handle(buffered.slice(0, end));
        buffered = buffered.slice(end + 2);
      }
    }
  } catch {
    // aborted (pause, new filters) or the connection went
  }
  retry(controller);
}

function retry(controller) {
  if (view.controller !== controller || view.paused) return;
  say("state", "reconnecting");
  setTimeout(() => view.controller === controller && connect(), 1000);
}

function handle(block) {
  let id = null;
  let kind = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (line.startsWith("id: ")) id = line.slice(4);
    else if (line.startsWith("event: ")) kind = line.slice(7);
    else if (line.startsWith("data: ")) data.push(line.slice(6));
  }
  if (kind === "dropped") return; // the stream ends; retry() resumes from lastId
  if (!data.length) return;
  const { event, record } = JSON.parse(data.join("\n"));
  if (id !== null) view.lastId = id;
  addRow(event, record);
}

// -- the table -------------------------------------------------------------------

function cell(row, text, name) {
  const td = document.createElement("td");
  td.textContent = text == null ? "" : String(text);
  if (name) td.className = name;
  row.appendChild(td);
  return td;
}

function addRow(event, record) {
  const level = LEVELS.includes(event.level) ? event.level : "info";
  const row = document.createElement("tr");
  row.className = `level-${level}`;
  row.tabIndex = 0;
  cell(row, event.ts, "ts");
  cell(row, event.level || "info", "level");
  cell(row, event.source, "source");
  cell(row, event.action, "action");
  cell(row, event.container, "container");
  cell(row, event.detail, "detail");
  const integrity = (event.extra && event.extra.integrity) || "";
  cell(row, integrity, `integrity integrity-${integrity}`);
  row.addEventListener("click", () => openDetail(event, record));
  row.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      openDetail(event, record);
    }
  });
  const rows = $("rows");
  rows.insertBefore(row, rows.firstChild);
  while (rows.childElementCount > MAX_ROWS) rows.removeChild(rows.lastChild);
  $("count").textContent = `${rows.childElementCount} newest events`;
  const when = new Date(event.ts);
  if (!Number.isNaN(when.getTime())) view.times.push([when, level]);
  scheduleChart();
}

function openDetail(event, record) {
  $("detail-event").textContent = JSON.stringify(event, null, 2);
  $("detail-record").textContent = record == null ? "(not read from a file)" : record;
  $("detail").showModal();
}

// -- the chart: events per minute by level over the last hour ------------------------

let chartPending = false;
function scheduleChart() {
  if (chartPending) return;
  chartPending = true;
  setTimeout(() => {
    chartPending = false;
    drawChart();
  }, 250);
}

function drawChart() {
  const svg = $("chart");
  const now = Date.now();
  const hourAgo = now - 3600e3;
  view.times = view.times.filter(([when]) => when.getTime() >= hourAgo);
  const minutes = Array.from({ length: 60 }, () => ({}));
  for (const [when, level] of view.times) {
    const slot = Math.min(59, Math.floor((when.getTime() - hourAgo) / 60e3));
    minutes[slot][level] = (minutes[slot][level] || 0) + 1;
  }
  const most = Math.max(1, ...minutes.map((m) => Object.values(m).reduce((a, b) => a + b, 0)));
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  const ns = "http://www.w3.org/2000/svg";
  minutes.forEach((counts, slot) => {
    let y = 120;
    for (const level of LEVELS) {
      const n = counts[level] || 0;
      if (!n) continue;
      const h = (n / most) * 115;
      y -= h;
      const bar = document.createElementNS(ns, "rect");
      bar.setAttribute("x", String(slot * 10 + 1));
      bar.setAttribute("width", "8");
      bar.setAttribute("y", String(y));
      bar.setAttribute("height", String(h));
      bar.setAttribute("class", level);
      bar.setAttribute("data-count", String(n));
      const title = document.createElementNS(ns, "title");
      title.textContent = `${60 - slot} min ago: ${n} ${level}`;
      bar.appendChild(title);
      svg.appendChild(bar);
    }
  });
}

// -- pause, filters, keys ------------------------------------------------------------

function togglePause() {
  view.paused = !view.paused;
  $("pause").textContent = view.paused ? "Resume" : "Pause";
  $("pause").setAttribute("aria-pressed", String(view.paused));
  if (view.paused) {
    if (view.controller) view.controller.abort();
    view.controller = null;
    say("state", "paused", "paused");
  } else {
    connect(); // from the last event shown: what came meanwhile is sent first
  }
}
$("pause").addEventListener("click", togglePause);

let filterTimer = null;
function refilter() {
  clearTimeout(filterTimer);
  filterTimer = setTimeout(() => {
    view.lastId = null; // a new question: the held events that match, then live
    view.times = [];
    const rows = $("rows");
    while (rows.firstChild) rows.removeChild(rows.firstChild);
    $("count").textContent = "no events yet";
    drawChart();
    if (!view.paused) connect();
  }, 300);
}
for (const id of ["f-action", "f-container", "f-text"]) $(id).addEventListener("input", refilter);
$("f-level").addEventListener("change", refilter);
$("filters").addEventListener("submit", (e) => e.preventDefault());

document.addEventListener("keydown", (e) => {
  const typing = e.target instanceof HTMLInputElement || e.target instanceof HTMLSelectElement;
  if (typing || $("detail").open || e.ctrlKey || e.metaKey || e.altKey) return;
  if (e.key === "/") {
    e.preventDefault();
    $("f-text").focus();
  } else if (e.key === "p") {
    togglePause();
  }
});

open();
