// agentkit page: plain DOM calls, no framework. Every string from the server is put in the page
// with textContent (never innerHTML): on-screen text read from a video is data, not markup.
"use strict";

const $ = (id) => document.getElementById(id);
let token = "";
let sources = [];
const thumbs = new Map();   // "source/t" -> object URL of a fetched thumbnail

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function mmss(t) {
  t = Math.max(0, Math.round(Number(t) || 0));
  const h = Math.floor(t / 3600), m = Math.floor((t % 3600) / 60), s = t % 60;
  const two = (n) => String(n).padStart(2, "0");
  return h ? `${h}:${two(m)}:${two(s)}` : `${two(m)}:${two(s)}`;
}

async function api(path, options = {}) {
  const headers = Object.assign({ Authorization: `Bearer ${token}` }, options.headers || {});
  const response = await fetch(path, Object.assign({}, options, { headers }));
  if (response.status === 401) {
    sessionStorage.removeItem("agentkit-token");
    showLogin("the token was refused");
    throw new Error("the token was refused");
  }
  if (!response.ok) {
    let detail = `${response.status} ${response.statusText}`;
    try { detail = (await response.json()).detail || detail; } catch (e) { /* not JSON */ }
    throw new Error(detail);
  }
  return response;
}

function showError(err) { $("error").textContent = err ? String(err.message || err) : ""; }

function showLogin(message) {
  $("app").hidden = true;
  $("login").hidden = false;
  $("status").textContent = message || "not connected";
}

async function connect() {
  try {
    const info = await (await api("/v1/info")).json();
    $("login").hidden = true;
    $("app").hidden = false;
    $("status").textContent = `connected: ${info.store}${info.read_only ? " (read-only)" : ""}`;
    $("index-form").hidden = !info.index_allowed;
    $("upload-form").hidden = !(info.uploads && !info.read_only);
    if (!info.index_allowed && !info.uploads) $("index-status").textContent = "indexing is off on this server";
    if (info.threads && !sessionStorage.getItem("agentkit-thread")) {
      sessionStorage.setItem("agentkit-thread", `page-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`);
    }
    await loadSources();
  } catch (err) {
    showError(err);
  }
}

async function loadSources(select) {
  sources = await (await api("/v1/sources")).json();
  const box = $("source");
  const keep = select || box.value;
  box.replaceChildren(el("option", "", "every source"));
  box.firstChild.value = "";
  for (const s of sources) {
    const option = el("option", "", `${s.name || s.source} (${mmss(s.coverage.duration || 0)})`);
    option.value = s.source;
    box.appendChild(option);
  }
  box.value = sources.some((s) => s.source === keep) ? keep : (sources.length === 1 ? sources[0].source : "");
  describeSource();
}

function describeSource() {
  const s = sources.find((x) => x.source === $("source").value);
  if (!s) { $("source-info").textContent = `${sources.length} source(s) in memory`; return; }
  const seen = s.coverage.seen.map(([a, b]) => `${mmss(a)}-${mmss(b)}`).join(", ") || "nothing yet";
  $("source-info").textContent = `id ${s.source}; seen ${seen}${s.coverage.complete ? " (complete)" : ""}`;
}

async function thumbnail(source, t) {
  const key = `${source}/${t.toFixed(1)}`;
  if (!thumbs.has(key)) {
    const blob = await (await api(`/v1/frames/${encodeURIComponent(source)}/${t.toFixed(1)}.jpg`)).blob();
    thumbs.set(key, URL.createObjectURL(blob));
  }
  return thumbs.get(key);
}

function durationOf(answer, source) {
  const cov = (answer.coverage || []).find((c) => c.source === source);
  const known = sources.find((s) => s.source === source);
  return (cov && cov.duration) || (known && known.coverage.duration) || 0;
}

function drawTimelines(answer) {
  const box = $("timelines");
  box.replaceChildren();
  const bySource = new Map();
  for (const e of answer.evidence || []) {
    if (!bySource.has(e.source)) bySource.set(e.source, []);
    bySource.get(e.source).push(e);
  }
  for (const [source, items] of bySource) {
    const duration = durationOf(answer, source) || Math.max(...items.map((e) => e.t1), 1);
    const known = sources.find((s) => s.source === source);
    box.appendChild(el("div", "timeline-label muted", `${(known && known.name) || source}: 00:00 - ${mmss(duration)}`));
    const line = el("div", "timeline");
    line.title = "red: evidence; grey: what memory has seen";
    const cov = (answer.coverage || []).find((c) => c.source === source);
    for (const [a, b] of (cov && cov.seen) || []) {
      const seen = el("div", "seen");
      seen.style.left = `${(100 * a) / duration}%`;
      seen.style.width = `${(100 * (b - a)) / duration}%`;
      line.appendChild(seen);
    }
    for (const e of items) {
      const mark = el("div", "mark");
      mark.style.left = `${(100 * e.t0) / duration}%`;
      mark.style.width = `${(100 * Math.max(0, e.t1 - e.t0)) / duration}%`;
      mark.title = `${mmss(e.t0)}-${mmss(e.t1)} ${e.why || ""}`;
      line.appendChild(mark);
    }
    box.appendChild(line);
  }
}

function drawEvidence(answer) {
  const box = $("evidence");
  box.replaceChildren();
  const items = answer.evidence || [];
  if (!items.length) box.appendChild(el("p", "muted", "no evidence"));
  for (const e of items) {
    const card = el("div", "card evidence");
    const img = el("img", "thumb");
    img.alt = `frame at ${mmss((e.t0 + e.t1) / 2)}`;
    card.appendChild(img);
    card.appendChild(el("div", "when", `${mmss(e.t0)}-${mmss(e.t1)}  score ${Number(e.score).toFixed(2)}`));
    if (e.why) card.appendChild(el("div", "why", e.why));
    if (e.labels && e.labels.length) card.appendChild(el("div", "labels", `looks like: ${e.labels.join(", ")}`));
    if (e.text) card.appendChild(el("div", "seen-text", `on screen: ${e.text}`));
    box.appendChild(card);
    const known = sources.find((s) => s.source === e.source);
    if (known && known.frames) {
      thumbnail(e.source, (e.t0 + e.t1) / 2).then((url) => { img.src = url; }).catch((err) => { img.alt = String(err.message || err); });
    } else {
      img.alt = "no thumbnail: the indexed file is not available";
    }
  }
}

function drawSteps(answer) {
  // The plan the controller followed, what each step did, and the claims it looked at again,
  // whichever of them the answer carries.
  const list = $("steps");
  list.replaceChildren();
  const lines = [];
  const plan = answer.plan;
  if (plan && typeof plan === "object") {
    const empty = (v) => v === null || v === "" || (Array.isArray(v) && v.length === 0);
    const parts = Object.entries(plan).filter(([k, v]) => k !== "question" && !empty(v));
    lines.push(`plan: ${parts.map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`).join(", ")}`);
  } else if (typeof plan === "string" && plan) {
    lines.push(`plan: ${plan}`);
  }
  for (const key of ["steps", "trace"]) {
    for (const v of Array.isArray(answer[key]) ? answer[key] : []) lines.push(typeof v === "string" ? v : JSON.stringify(v));
  }
  for (const c of Array.isArray(answer.checks) ? answer.checks : []) {
    lines.push(`looked again at ${mmss(c.t0)}-${mmss(c.t1)}: ${c.action}${c.why ? ` (${c.why})` : ""}`);
  }
  for (const line of lines) list.appendChild(el("li", "", line));
  $("steps-box").hidden = lines.length === 0;
  const notices = Array.isArray(answer.notices) ? answer.notices : [];
  $("notices").textContent = notices.join(" ");
  $("notices").hidden = notices.length === 0;
}

function showAnswer(answer) {
  $("answer").hidden = false;
  $("answer-text").textContent = answer.text;
  const pct = Math.round(100 * answer.confidence);
  $("confidence").textContent = `${pct}%`;
  $("confidence-bar").style.width = `${pct}%`;
  $("abstained").hidden = !answer.abstained;
  $("kind").textContent = answer.kind ? `(${answer.kind})` : "";
  $("answer-json").textContent = JSON.stringify(answer, null, 2);
  drawTimelines(answer);
  drawEvidence(answer);
  drawSteps(answer);
}

async function ask(event) {
  event.preventDefault();
  showError(null);
  const body = { question: $("question").value };
  if ($("source").value) body.source = $("source").value;
  const thread = sessionStorage.getItem("agentkit-thread");
  if (thread) body.thread = thread;
  $("ask-button").disabled = true;
  $("answer").setAttribute("aria-busy", "true");
  try {
    const response = await api("/v1/ask", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    showAnswer(await response.json());
  } catch (err) {
    showError(err);
  } finally {
    $("ask-button").disabled = false;
    $("answer").removeAttribute("aria-busy");
  }
}

function showJob(job) {
  const bar = $("index-progress");
  bar.hidden = false;
  bar.value = job.fraction;
  let text = `${job.state}: ${mmss(job.t)}${job.duration ? ` of ${mmss(job.duration)}` : ""}`;
  if (job.state === "done") text = `done: ${job.n_records} segments (${job.n_new} new)`;
  if (job.state === "failed") text = `failed: ${job.error}`;
  $("index-status").textContent = text;
}

async function follow(job) {
  // Server-sent events, read through fetch so the token goes in a header.
  showJob(job);
  const response = await api(`/v1/jobs/${job.id}/events`);
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let last = job;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const data = block.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
      if (data) { last = JSON.parse(data); showJob(last); }
    }
  }
  if (last.state === "done") await loadSources(last.source);
}

async function startIndex(path) {
  const response = await api("/v1/index", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ path }) });
  await follow(await response.json());
}

async function indexPath(event) {
  event.preventDefault();
  showError(null);
  try { await startIndex($("index-path").value.trim()); } catch (err) { showError(err); $("index-status").textContent = ""; }
}

async function upload(event) {
  event.preventDefault();
  showError(null);
  const file = $("upload-file").files[0];
  if (!file) return;
  try {
    $("index-status").textContent = `uploading ${file.name}`;
    const response = await api(`/v1/uploads?name=${encodeURIComponent(file.name)}`, { method: "POST", body: file });
    await startIndex((await response.json()).path);
  } catch (err) {
    showError(err);
  }
}

function start() {
  const fromUrl = new URLSearchParams(location.hash.slice(1)).get("token");
  if (fromUrl) {
    sessionStorage.setItem("agentkit-token", fromUrl);
    history.replaceState(null, "", location.pathname);  // keep the token out of the address bar
  }
  token = sessionStorage.getItem("agentkit-token") || "";
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    token = $("token").value.trim();
    sessionStorage.setItem("agentkit-token", token);
    connect();
  });
  $("ask-form").addEventListener("submit", ask);
  $("index-form").addEventListener("submit", indexPath);
  $("upload-form").addEventListener("submit", upload);
  $("source").addEventListener("change", describeSource);
  if (token) connect(); else showLogin();
}

document.addEventListener("DOMContentLoaded", start);
