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
  window.addEventListener("resize", scheduleChart);
}

// The newest held events, in the page itself when it needs no token: drawn before
// anything is asked, so the first paint has them; the stream goes on after the last.
function drawHeld() {
  const island = $("held");
  if (!island) return false;
  for (const { id, event, record } of JSON.parse(island.textContent)) {
    addRow(event, record);
    view.lastId = id;
  }
  $("view").hidden = false;
  drawChart();
  return true;
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

function cell(row, text, name, label) {
  const td = document.createElement("td");
  td.textContent = text == null ? "" : String(text);
  if (name) td.className = name;
  if (label && td.textContent) td.dataset.label = label; // named where the head is not shown
  row.appendChild(td);
  return td;
}

const pad = (n) => String(n).padStart(2, "0");
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

// One form for every time, local: 14:03:07 today, Dec 06 14:03:07 another day (the
// record's own stamp, in whichever of its forms, is the cell's title).
function shownTime(when) {
  const clock = `${pad(when.getHours())}:${pad(when.getMinutes())}:${pad(when.getSeconds())}`;
  const today = new Date();
  if (when.toDateString() === today.toDateString()) return clock;
  const day = `${MONTHS[when.getMonth()]} ${pad(when.getDate())}`;
  return when.getFullYear() === today.getFullYear() ? `${day} ${clock}` : `${when.getFullYear()} ${day} ${clock}`;
}

function timeCell(row, ts) {
  const td = document.createElement("td");
  td.className = "ts";
  const when = new Date(ts);
  if (Number.isNaN(when.getTime())) {
    td.textContent = ts; // not a time JavaScript reads: shown as written
  } else {
    const shown = document.createElement("time");
    shown.dateTime = when.toISOString();
    shown.title = ts;
    shown.textContent = shownTime(when);
    td.appendChild(shown);
  }
  row.appendChild(td);
  return when;
}

// Where an event is from: its ito worktree, else its file's name (the path is the title).
function fromCell(row, event) {
  const origin = event.origin || "";
  const td = cell(row, event.worktree || origin.split("/").pop() || event.source, "from", "from");
  td.title = event.worktree ? `worktree ${event.worktree}` : origin;
}

function addRow(event, record) {
  const level = LEVELS.includes(event.level) ? event.level : "info";
  const row = document.createElement("tr");
  row.className = `level-${level}`;
  row.tabIndex = 0;
  const when = timeCell(row, event.ts);
  cell(row, event.level || "info", "level");
  fromCell(row, event);
  cell(row, event.action, "action");
  cell(row, event.container, "container", "container");
  cell(row, event.actor, "actor", "actor");
  cell(row, event.dest, "dest", "dest");
  cell(row, event.detail, "detail");
  const integrity = (event.extra && event.extra.integrity) || "";
  cell(row, integrity, `integrity integrity-${integrity}`, "integrity");
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

const SVG = "http://www.w3.org/2000/svg";

function svgNode(parent, name, attributes, text) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  if (text !== undefined) node.textContent = text;
  parent.appendChild(node);
  return node;
}

// A whole number of events per step on the count axis: 1, 2, 5, 10, 20, 50, ...
function niceTop(most) {
  for (let step = 1; ; step *= 10) {
    for (const top of [step, 2 * step, 5 * step]) if (top >= most) return top;
  }
}

function drawChart() {
  const svg = $("chart");
  const now = Date.now();
  const hourAgo = now - 3600e3;
  view.times = view.times.filter(([when]) => when.getTime() >= hourAgo);
  const minutes = Array.from({ length: 60 }, () => ({}));
  const totals = {};
  for (const [when, level] of view.times) {
    const slot = Math.min(59, Math.floor((when.getTime() - hourAgo) / 60e3));
    minutes[slot][level] = (minutes[slot][level] || 0) + 1;
    totals[level] = (totals[level] || 0) + 1;
  }
  const top = niceTop(Math.max(1, ...minutes.map((m) => Object.values(m).reduce((a, b) => a + b, 0))));
  // Drawn in the pixels it has, so its text is never stretched; again when the window is.
  const width = Math.max(svg.clientWidth || 600, 200);
  const height = 150;
  const left = 34, right = 8, topGap = 8, bottom = 22;
  const plotW = width - left - right, plotH = height - topGap - bottom;
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  const axis = svgNode(svg, "g", { class: "axis" });
  for (const value of [0, top / 2, top]) {
    const y = topGap + plotH - (value / top) * plotH;
    svgNode(axis, "line", { x1: left, x2: width - right, y1: y, y2: y, class: value ? "grid" : "base" });
    if (Number.isInteger(value)) svgNode(axis, "text", { x: left - 5, y: y + 4, "text-anchor": "end" }, String(value));
  }
  for (const ago of [60, 45, 30, 15, 0]) {
    const x = left + ((60 - ago) / 60) * plotW;
    const anchor = ago === 60 ? "start" : ago === 0 ? "end" : "middle";
    svgNode(axis, "text", { x, y: height - 6, "text-anchor": anchor }, ago ? `−${ago} min` : "now");
  }
  const slotW = plotW / 60;
  minutes.forEach((counts, slot) => {
    let y = topGap + plotH;
    for (const level of LEVELS) {
      const n = counts[level] || 0;
      if (!n) continue;
      const h = (n / top) * plotH;
      y -= h;
      const bar = svgNode(svg, "rect", {
        x: left + slot * slotW + 0.5, width: Math.max(slotW - 1, 1), y, height: h, class: level, "data-count": n,
      });
      svgNode(bar, "title", {}, `${60 - slot} min ago: ${n} ${level}`);
    }
  });
  const legend = $("legend");
  while (legend.firstChild) legend.removeChild(legend.firstChild);
  for (const level of LEVELS) {
    if (!totals[level]) continue;
    const item = document.createElement("li");
    item.className = level;
    item.textContent = `${level} ${totals[level]}`;
    legend.appendChild(item);
  }
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

drawHeld();
open();
