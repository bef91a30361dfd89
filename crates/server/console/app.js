// The veritrail console (docs/CONSOLE.md). Everything it shows comes from
// the HTTP API with the session cookie; every string from the server is
// put on the page as text (never as HTML), so stored events cannot run
// script. No framework, no CDN: this file is compiled into the server.

import { verifyEntry, Invalid } from "/console/verify.js";
import { verifyWithCore, preload } from "/console/core.js";

let me = null; // {name, role, logs, csrf, token_id}
let logs = []; // [{name, size, origin, verifier_key}]
let stream = null; // the live tail's EventSource

// ------------------------------------------------------------ helpers

/** Creates an element; string children become text nodes. */
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "class") e.className = v;
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function show(...nodes) {
  const main = document.getElementById("main");
  main.replaceChildren(...nodes);
}

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function api(path, { method = "GET", body, raw = false } = {}) {
  const headers = {};
  if (method !== "GET" && me) headers["X-CSRF-Token"] = me.csrf;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const r = await fetch(path, {
    method,
    headers,
    credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!r.ok) {
    let code = "error";
    let msg = `${r.status} ${r.statusText}`;
    try {
      const j = await r.json();
      code = j.error?.code ?? code;
      msg = j.error?.message ?? msg;
    } catch (_) {}
    if (r.status === 401 && path !== "/console/session") signedOut();
    throw new ApiError(r.status, code, msg);
  }
  if (raw) return new Uint8Array(await r.arrayBuffer());
  if (r.status === 204) return null;
  const type = r.headers.get("content-type") || "";
  return type.includes("json") ? r.json() : r.text();
}

function errorBox(e) {
  return el("p", { class: "error", role: "alert" }, e instanceof Error ? e.message : String(e));
}

function params() {
  const h = location.hash.slice(1) || "/events";
  const [path, query] = h.split("?");
  return { parts: path.split("/").filter(Boolean), q: new URLSearchParams(query || "") };
}

function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

function actorOf(ev) {
  const a = ev.actor;
  return typeof a === "string" ? a : a?.id ?? "";
}

function hostOf(ev) {
  return ev.source?.host ?? ev.source?.app ?? "";
}

/** The logs this session may read, and the one a page shows: `?log=`, else
 * `default`, else the first that is not a system log. */
function pickLog(q) {
  const readable = logs.filter((l) => me.role === "auditor" || me.logs.includes(l.name));
  const preferred = readable.find((l) => l.name === "default") || readable.find((l) => !l.name.startsWith("_")) || readable[0];
  return { readable, log: q.get("log") || preferred?.name || "default" };
}

/** A `<select name="log">` of `list` with `log` selected. */
function logSelect(list, log, attrs = {}) {
  return el("select", { name: "log", ...attrs }, list.map((l) => el("option", { value: l.name, selected: l.name === log }, l.name)));
}

function targetOf(ev) {
  const t = ev.target;
  return typeof t === "string" ? t : t?.id ?? "";
}

// ------------------------------------------------------------ sign-in

function signedOut() {
  me = null;
  if (stream) stream.close();
  document.getElementById("nav").hidden = true;
  document.getElementById("signout").hidden = true;
  document.getElementById("who").textContent = "";
  const input = el("input", { id: "token", type: "password", autocomplete: "off", placeholder: "vt_…" });
  const msg = el("p", { class: "error", role: "alert" });
  const form = el(
    "form",
    { class: "signin", id: "signin" },
    el("h2", {}, "Sign in"),
    el("p", { class: "muted" }, "With a reader, auditor or admin token. The token is sent once; the browser then holds a session cookie that scripts cannot read."),
    el("label", { for: "token" }, "Token"),
    input,
    el("button", { type: "submit" }, "Sign in"),
    msg,
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      me = await api("/console/session", { method: "POST", body: { token: input.value } });
      input.value = "";
      await start();
    } catch (err) {
      msg.textContent = err.message;
    }
  });
  show(form);
}

async function start() {
  document.getElementById("nav").hidden = false;
  document.getElementById("signout").hidden = false;
  document.getElementById("who").textContent = `${me.name || me.token_id} (${me.role})`;
  for (const a of document.querySelectorAll("[data-admin]")) a.hidden = me.role !== "admin";
  const l = await api("/v1/logs");
  logs = l.logs;
  if (me.role !== "admin") preload();
  route();
}

// ------------------------------------------------------------ events

const FILTERS = ["actor", "action", "outcome", "source", "target", "since", "until", "q"];

async function eventsPage(q) {
  if (stream) {
    stream.close();
    stream = null;
  }
  if (me.role === "admin") {
    show(el("p", { class: "muted" }, "Admin tokens manage logs and tokens; they do not read entries. Sign in with an auditor or reader token to see events."));
    return;
  }
  const { readable, log } = pickLog(q);
  const form = el("form", { class: "filters", id: "filters" });
  const logSel = logSelect(readable, log, { id: "f-log" });
  form.append(el("label", {}, "log", logSel));
  for (const f of FILTERS) {
    const ph = { since: "2026-01-01T00:00:00Z", until: "RFC 3339", action: "auth.*", outcome: "failure", q: "words" }[f] || "";
    form.append(el("label", {}, f === "q" ? "text" : f, el("input", { name: f, id: `f-${f}`, value: q.get(f) || "", placeholder: ph, size: f === "q" ? 18 : 12 })));
  }
  form.append(el("button", { type: "submit" }, "Search"));
  const liveBtn = el("button", { type: "button", id: "live" }, "Live tail");
  form.append(liveBtn);
  const timelineBtn = el("button", { type: "button", id: "timeline", title: "These events grouped by actor, each in time order, with pauses marked" }, "Timeline");
  form.append(timelineBtn);
  timelineBtn.addEventListener("click", () => {
    const p = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (v) p.set(k, v);
    go(`#/timeline?${p}`);
  });
  const exportBtn = el("button", { type: "button", id: "export", title: "An evidence bundle of every matching entry, each with its proof" }, "Export bundle");
  form.append(exportBtn);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const p = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (v) p.set(k, v);
    go(`#/events?${p}`);
  });
  const status = el("p", { class: "muted", id: "status" });
  const tbody = el("tbody", { id: "events" });
  const table = el(
    "table",
    {},
    el("thead", {}, el("tr", {}, ["#", "received", "action", "actor", "outcome", "source", "target", "message"].map((h) => el("th", {}, h)))),
    tbody,
  );
  const pager = el("div", { class: "pager" });
  const exported = el("p", { id: "export-result", class: "muted" });
  show(form, exported, status, table, pager);
  exportBtn.addEventListener("click", () => exportBundle(log, q, exported));

  const query = new URLSearchParams();
  for (const f of FILTERS) if (q.get(f)) query.set(f, q.get(f));
  query.set("limit", q.get("limit") || "50");
  if (q.get("cursor")) query.set("cursor", q.get("cursor"));

  const row = (e) => {
    const ev = e.event;
    const oc = ev.outcome ?? "";
    return el(
      "tr",
      { class: "row", "data-index": e.index, onclick: () => go(`#/event/${encodeURIComponent(log)}/${e.index}`) },
      el("td", {}, String(e.index)),
      el("td", {}, ev.received_at ?? ""),
      el("td", {}, ev.action ?? ""),
      el("td", {},
        el("a", { href: `#/events?log=${encodeURIComponent(log)}&actor=${encodeURIComponent(actorOf(ev))}`, onclick: (x) => x.stopPropagation() }, actorOf(ev)),
        actorOf(ev) ? [" ", el("a", { class: "tl", title: `timeline of ${actorOf(ev)}`, href: `#/timeline?log=${encodeURIComponent(log)}&actor=${encodeURIComponent(actorOf(ev))}`, onclick: (x) => x.stopPropagation() }, "⏱")] : null,
      ),
      el("td", { class: oc }, oc),
      el("td", {}, hostOf(ev)),
      el("td", {}, targetOf(ev)),
      el("td", {}, ev.message ?? ""),
    );
  };
  const t0 = performance.now();
  try {
    const r = await api(`/v1/logs/${encodeURIComponent(log)}/events?${query}`);
    tbody.replaceChildren(...r.events.map(row));
    status.textContent = `${r.events.length} events (the index covers ${r.indexed_through} entries of ${log}); ${Math.round(performance.now() - t0)} ms`;
    status.dataset.ms = String(performance.now() - t0);
    if (r.next_cursor !== null && r.next_cursor !== undefined) {
      const p = new URLSearchParams(q);
      p.set("log", log);
      p.set("cursor", String(r.next_cursor));
      pager.append(el("a", { href: `#/events?${p}`, id: "next" }, "Next page →"));
    }
  } catch (e) {
    status.replaceWith(errorBox(e));
  }
  liveBtn.addEventListener("click", () => {
    if (stream) {
      stream.close();
      stream = null;
      liveBtn.textContent = "Live tail";
      return;
    }
    const p = new URLSearchParams(query);
    p.delete("limit");
    p.delete("cursor");
    const last = tbody.lastElementChild?.dataset.index;
    if (last !== undefined) p.set("from", String(Number(last) + 1));
    stream = new EventSource(`/v1/logs/${encodeURIComponent(log)}/stream?${p}`);
    liveBtn.textContent = "Stop";
    liveBtn.classList.add("live");
    stream.addEventListener("entry", (m) => {
      try {
        tbody.append(row(JSON.parse(m.data)));
        status.textContent = `live: up to entry ${m.lastEventId}`;
      } catch (_) {}
    });
    // The server cut a consumer that fell behind: resume where it stopped
    // (EventSource reconnects with Last-Event-ID by itself).
    stream.addEventListener("cut", () => {
      status.textContent = "live tail: fell behind, resuming…";
    });
    stream.onerror = () => {
      status.textContent = "live tail: reconnecting…";
    };
  });
}

// ------------------------------------------------------------ timelines

/** `+5s`, `+2m03s`, `+1h59m`, `+3d04h` (as `veritrail query --timeline`). */
function delta(secs) {
  const s = Math.max(0, Math.floor(secs));
  const p2 = (n) => String(n).padStart(2, "0");
  if (s < 60) return `+${s}s`;
  if (s < 3600) return `+${Math.floor(s / 60)}m${p2(s % 60)}s`;
  if (s < 86400) return `+${Math.floor(s / 3600)}h${p2(Math.floor(s / 60) % 60)}m`;
  return `+${Math.floor(s / 86400)}d${p2(Math.floor(s / 3600) % 24)}h`;
}

/** `15m`, `2h`, `30s`, `1d` in seconds (NaN otherwise). */
function seconds(text) {
  const m = /^(\d+)(s|m|h|d)$/.exec(text.trim());
  return m ? Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[m[2]] : NaN;
}

const TIMELINE_MAX = 5000;

// Per-actor timelines, as `veritrail query --timeline` prints them: the
// events the filters select, grouped by actor, each actor's in time order
// (the event's own time, else when it was received), with the pauses
// longer than `gap` marked and failures flagged.
async function timelinePage(q) {
  if (me.role === "admin") {
    show(el("p", { class: "muted" }, "Admin tokens do not read entries: sign in with an auditor or reader token."));
    return;
  }
  const { readable, log } = pickLog(q);
  const gapText = q.get("gap") || "15m";
  const gap = seconds(gapText);
  const form = el("form", { class: "filters", id: "timeline-filters" });
  form.append(el("label", {}, "log", logSelect(readable, log)));
  for (const f of FILTERS) form.append(el("label", {}, f === "q" ? "text" : f, el("input", { name: f, value: q.get(f) || "", size: f === "since" || f === "until" ? 22 : 12 })));
  form.append(el("label", {}, "gap", el("input", { name: "gap", value: gapText, size: 5, title: "mark pauses longer than this (30s, 15m, 2h, 1d)" })));
  form.append(el("button", { type: "submit" }, "Show"));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const p = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (v) p.set(k, v);
    go(`#/timeline?${p}`);
  });
  const status = el("p", { class: "muted", id: "timeline-status" });
  const out = el("div", { id: "timelines" });
  show(el("h2", {}, q.get("actor") ? `Timeline of ${q.get("actor")}` : "Timelines by actor"), form, status, out);
  if (Number.isNaN(gap)) {
    status.replaceWith(errorBox(`gap ${JSON.stringify(gapText)}: use e.g. 30s, 15m, 2h or 1d`));
    return;
  }
  const query = new URLSearchParams();
  for (const f of FILTERS) if (q.get(f)) query.set(f, q.get(f));
  query.set("limit", "1000");
  const t0 = performance.now();
  const rows = [];
  let cursor = null;
  let through = 0;
  do {
    if (cursor !== null) query.set("cursor", String(cursor));
    const r = await api(`/v1/logs/${encodeURIComponent(log)}/events?${query}`);
    rows.push(...r.events);
    through = r.indexed_through;
    cursor = r.next_cursor ?? null;
  } while (cursor !== null && rows.length < TIMELINE_MAX);
  const groups = new Map();
  for (const e of rows) {
    const a = actorOf(e.event) || "(no actor)";
    const t = Date.parse(e.event.time ?? "") || Date.parse(e.event.received_at ?? "") || null;
    if (!groups.has(a)) groups.set(a, []);
    groups.get(a).push({ e, t });
  }
  const order = [...groups.entries()].map(([a, evs]) => {
    evs.sort((x, y) => (x.t ?? 0) - (y.t ?? 0) || x.e.index - y.e.index);
    return [a, evs];
  });
  order.sort((x, y) => (x[1][0].t ?? 0) - (y[1][0].t ?? 0) || (x[0] < y[0] ? -1 : 1));
  const when = (t) => (t === null ? "—" : new Date(t).toISOString().replace("T", " ").replace(/\.(\d{3})Z$/, ".$1Z"));
  for (const [actor, evs] of order) {
    const failures = evs.filter((x) => x.e.event.outcome === "failure").length;
    const body = el("tbody");
    let prev = null;
    for (const { e, t } of evs) {
      let d = "";
      if (prev !== null && t !== null) {
        const secs = (t - prev) / 1000;
        if (secs > gap) body.append(el("tr", { class: "gap" }, el("td", { colspan: 8 }, `… ${delta(secs).slice(1)} without activity …`)));
        d = delta(secs);
      }
      if (t !== null) prev = t;
      const ev = e.event;
      const failed = ev.outcome === "failure";
      body.append(
        el("tr", { class: failed ? "row failed" : "row", "data-index": e.index, onclick: () => go(`#/event/${encodeURIComponent(log)}/${e.index}`) },
          el("td", { class: "mark" }, failed ? "!" : ""),
          el("td", {}, when(t)),
          el("td", { class: "delta" }, d),
          el("td", {}, ev.action ?? ""),
          el("td", { class: ev.outcome ?? "" }, ev.outcome ?? ""),
          el("td", {}, targetOf(ev)),
          el("td", {}, `#${e.index}`),
          el("td", {}, ev.message ?? ""),
        ),
      );
    }
    out.append(
      el("section", { class: "timeline", "data-actor": actor },
        el("h3", {}, `${actor}: ${evs.length} event${evs.length === 1 ? "" : "s"}, ${failures} failure${failures === 1 ? "" : "s"}, ${when(evs[0].t)} .. ${when(evs[evs.length - 1].t)}`),
        el("table", {}, body),
      ),
    );
  }
  const more = cursor !== null ? ` — stopped at ${TIMELINE_MAX}: narrow the filters (a time range, one actor) to see the rest` : "";
  status.textContent = `${rows.length} events by ${order.length} actor${order.length === 1 ? "" : "s"} (the index covers ${through} entries of ${log})${more}; ${Math.round(performance.now() - t0)} ms`;
  if (!rows.length) out.append(el("p", { class: "muted" }, "No events match."));
}

// ------------------------------------------------------------ one event

async function eventPage(log, index) {
  const badge = el("div", { class: "badge wait", id: "badge" }, "verifying in the browser…");
  const entry = el("pre", { id: "entry" });
  const details = el("dl", { class: "kv", id: "details" });
  show(
    el("p", {}, el("a", { href: `#/events?log=${encodeURIComponent(log)}` }, "← events")),
    el("h2", {}, `Entry ${index} of log ${log}`),
    badge,
    el("h3", {}, "Stored entry (exact bytes)"),
    entry,
    el("h3", {}, "Proof"),
    details,
  );
  try {
    const info = logs.find((l) => l.name === log);
    if (!info) throw new Error(`no log ${log}`);
    const [raw, ev, inclusion] = await Promise.all([
      api(`/v1/logs/${encodeURIComponent(log)}/events/${index}/raw`, { raw: true }),
      api(`/v1/logs/${encodeURIComponent(log)}/events/${index}`),
      api(`/v1/logs/${encodeURIComponent(log)}/proof/inclusion?index=${index}`),
    ]);
    entry.textContent = new TextDecoder().decode(raw);
    const kv = (k, v) => [el("dt", {}, k), el("dd", {}, v)];
    details.append(
      ...kv("leaf hash (stated by the server)", ev.leaf_hash),
      ...kv("tree size", String(inclusion.tree_size)),
      ...kv("log key", info.verifier_key),
      ...kv("inclusion proof", inclusion.proof.join(" ")),
      ...kv("checkpoint", el("pre", {}, inclusion.checkpoint)),
    );
    // Checked twice, by two verifiers that share no code: the independent
    // WebCrypto one (verify.js) and veritrail-core compiled to WebAssembly.
    // Green only when both verify.
    const t0 = performance.now();
    let v = null;
    let why = null;
    try {
      v = await verifyEntry({ index, raw, leafHash: ev.leaf_hash, inclusion, vkey: info.verifier_key });
    } catch (e) {
      why = `WebCrypto verifier: ${e instanceof Invalid ? e.message : "verification failed: " + e.message}`;
    }
    const ms = performance.now() - t0;
    const t1 = performance.now();
    let core;
    try {
      core = await verifyWithCore({ index, raw, leafHash: ev.leaf_hash, inclusion, vkey: info.verifier_key });
    } catch (e) {
      core = { ok: false, error: `could not run: ${e.message}` };
    }
    const coreMs = performance.now() - t1;
    badge.dataset.core = core.ok ? "true" : "false";
    badge.dataset.coreMs = String(coreMs);
    if (!core.ok) why = (why ? why + "; " : "") + `veritrail-core (WebAssembly): ${core.error}`;
    else if (v && (core.origin !== v.origin || BigInt(core.size) !== BigInt(v.size) || core.leaf_hash !== v.leaf)) {
      why = `the two verifiers disagree: ${core.origin}@${core.size} vs ${v.origin}@${v.size}`;
    }
    if (why === null) {
      const sig = v.signed === null ? " (this browser cannot check Ed25519: signature not checked by WebCrypto)" : `, signed by ${info.verifier_key.split("+").slice(0, 2).join("+")}`;
      const cos = v.cosigners.length ? `, cosigned by ${v.cosigners.join(", ")}` : "";
      badge.className = v.signed === null ? "badge wait" : "badge ok";
      badge.textContent = `✔ verified against checkpoint ${v.size} of log ${v.origin}${sig}${cos} — by WebCrypto and by veritrail-core in WebAssembly`;
      badge.dataset.verified = "true";
      badge.dataset.ms = String(ms);
      badge.title = `checked by the browser, independently of the server: WebCrypto in ${ms.toFixed(1)} ms, veritrail-core (WebAssembly) in ${coreMs.toFixed(1)} ms`;
    } else {
      badge.className = "badge bad";
      badge.textContent = `✘ NOT VERIFIED: ${why}`;
      badge.dataset.verified = "false";
    }
  } catch (e) {
    badge.className = "badge bad";
    badge.dataset.verified = "false";
    badge.textContent = `✘ could not check this entry: ${e.message}`;
  }
}

// An evidence bundle (docs/BUNDLE.md) of every entry the filters select,
// made by the server (and recorded in _system), saved as a file.
async function exportBundle(log, q, out) {
  const p = new URLSearchParams();
  for (const f of FILTERS) if (q.get(f)) p.set(f, q.get(f));
  out.className = "muted";
  out.textContent = "Exporting…";
  try {
    const r = await fetch(`/v1/logs/${encodeURIComponent(log)}/export?${p}`, { credentials: "same-origin" });
    if (!r.ok) {
      let msg = `${r.status} ${r.statusText}`;
      try {
        msg = (await r.json()).error?.message ?? msg;
      } catch (_) {}
      if (r.status === 401) signedOut();
      throw new Error(msg);
    }
    const blob = await r.blob();
    const name = /filename="([^"]+)"/.exec(r.headers.get("content-disposition") || "")?.[1] || `${log}.bundle`;
    const url = URL.createObjectURL(blob);
    const a = el("a", { href: url, download: name });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    out.textContent = `Saved ${name}: ${r.headers.get("x-veritrail-entries")} entries, each proven against the checkpoint at size ${r.headers.get("x-veritrail-tree-size")} (${blob.size} bytes). Check it anywhere with: veritrail verify-bundle ${name} --key <the log's key>`;
  } catch (e) {
    out.className = "error";
    out.textContent = `Export failed: ${e.message}`;
  }
}

// ------------------------------------------------------------ charts

const OUTCOME_COLOURS = { success: "#0a7d32", failure: "#b3261e", unknown: "#888", "": "#4a6fa5" };

function barChart(target, title, rows, colour) {
  const labels = rows.map((r) => { const v = r.value || "(none)"; return v.length > 18 ? v.slice(0, 17) + "…" : v; });
  const data = [rows.map((_, i) => i), rows.map((r) => r.count)];
  const width = Math.min(900, target.clientWidth || 900);
  return new uPlot(
    {
      title,
      width,
      height: 260,
      scales: { x: { time: false, range: [-0.5, Math.max(rows.length - 0.5, 0.5)] } },
      axes: [
        { splits: () => data[0], values: (_, splits) => splits.map((i) => labels[i] ?? ""), rotate: 0, size: 40 },
        {},
      ],
      series: [{}, { label: "count", fill: colour, stroke: colour, paths: uPlot.paths.bars({ size: [0.6, 60] }), points: { show: false } }],
      legend: { show: false },
      cursor: { drag: { x: false, y: false } },
    },
    data,
    target,
  );
}

function figureTable(id, rows, query, total) {
  return el(
    "details",
    {},
    el("summary", {}, `figures (${total} matching; query ${new URLSearchParams(query)})`),
    el("table", { id }, el("tbody", {}, rows.map((r) => el("tr", {}, el("td", {}, r.value || "(none)"), el("td", {}, String(r.count)))))),
  );
}

// ------------------------------------------------------------ report

// A period report (docs/COMPLIANCE.md "Period reports"), made by the server and
// opened as its own page (no scripts), or saved as JSON.
function reportPage(q) {
  if (me.role !== "auditor") {
    show(el("h2", {}, "Report"), el("p", { class: "muted" }, "Reports read a log and _system: sign in with an auditor token."));
    return;
  }
  const { readable, log } = pickLog(q);
  const month = new Date();
  const first = new Date(Date.UTC(month.getUTCFullYear(), month.getUTCMonth(), 1)).toISOString();
  const form = el("form", { class: "filters", id: "report-form" });
  form.append(el("label", {}, "log", logSelect(readable, log)));
  form.append(el("label", {}, "from", el("input", { name: "from", value: q.get("from") || first, size: 24 })));
  form.append(el("label", {}, "to", el("input", { name: "to", value: q.get("to") || "", placeholder: "now", size: 24 })));
  const links = el("p", { id: "report-links" });
  const update = () => {
    const p = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (v && k !== "log") p.set(k, v);
    const base = `/v1/logs/${encodeURIComponent(new FormData(form).get("log"))}/report`;
    links.replaceChildren(
      el("a", { id: "report-html", href: `${base}?format=html&${p}`, target: "_blank", rel: "noopener" }, "Open the report"),
      " · ",
      el("a", { id: "report-json", href: `${base}?format=json&${p}`, download: "report.json" }, "Save as JSON"),
      " · for PDF: print the report, or run ",
      el("code", {}, "veritrail report --format pdf"),
    );
  };
  form.addEventListener("input", update);
  form.addEventListener("submit", (e) => e.preventDefault());
  show(
    el("h2", {}, "Report"),
    el("p", { class: "muted" }, "Counts by action and outcome, authentication failures by source, privileged, account and file-integrity events, alerts and acknowledgements, review coverage, witnesses and timestamps, and the integrity checks — each with the query that reproduces it and the signed checkpoint it was counted against. Making a report is recorded in _system."),
    form,
    links,
  );
  update();
}

async function chartsPage(q) {
  if (me.role === "admin") {
    show(el("p", { class: "muted" }, "Charts count entries: sign in with an auditor or reader token."));
    return;
  }
  const { readable, log } = pickLog(q);
  const form = el("form", { class: "filters", id: "chart-filters" });
  form.append(el("label", {}, "log", logSelect(readable, log)));
  for (const f of ["since", "until", "source", "action"]) {
    form.append(el("label", {}, f, el("input", { name: f, value: q.get(f) || "", size: f === "since" || f === "until" ? 22 : 12 })));
  }
  form.append(el("button", { type: "submit" }, "Show"));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const p = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (v) p.set(k, v);
    go(`#/charts?${p}`);
  });
  const hourly = el("div", { id: "chart-hourly" });
  const sources = el("div", { id: "chart-sources" });
  const actors = el("div", { id: "chart-actors" });
  const note = el("p", { class: "muted", id: "chart-note" });
  show(el("h2", {}, "Charts"), form, note, hourly, sources, actors);
  const query = new URLSearchParams();
  for (const f of ["since", "until", "source", "action"]) if (q.get(f)) query.set(f, q.get(f));
  const s = await api(`/v1/logs/${encodeURIComponent(log)}/stats?${query}`);
  note.textContent = `${s.total} matching entries of ${log}, counted against tree size ${s.tree_size} (index covers ${s.indexed_through}). Drag across the hourly chart to narrow the time range.`;
  // Per hour, one series per outcome.
  const hours = [...new Set(s.per_hour.rows.map((r) => Date.parse(r.hour) / 1000))].sort((a, b) => a - b);
  const outcomes = [...new Set(s.per_hour.rows.map((r) => r.outcome))].sort();
  const counts = outcomes.map((o) => hours.map((h) => s.per_hour.rows.find((r) => r.outcome === o && Date.parse(r.hour) / 1000 === h)?.count ?? 0));
  // Stacked: each outcome is drawn as the running total up to it, tallest
  // first, so each band shows one outcome; the legend shows its own count.
  const running = counts.map((_, j) => hours.map((_, i) => counts.slice(0, j + 1).reduce((a, c) => a + c[i], 0)));
  const order = outcomes.map((_, j) => j).reverse();
  const data = [hours, ...order.map((j) => running[j])];
  const colour = (o) => OUTCOME_COLOURS[o] || "#4a6fa5";
  new uPlot(
    {
      title: "Events per hour by outcome",
      width: 900,
      height: 260,
      series: [
        {},
        ...order.map((j) => ({
          label: outcomes[j] || "(none)",
          stroke: colour(outcomes[j]),
          fill: colour(outcomes[j]),
          value: (u, v, si, i) => (i == null ? "--" : String(counts[j][i])),
          paths: uPlot.paths.bars({ size: [0.8, 40] }),
          points: { show: false },
        })),
      ],
      scales: { x: { time: true, range: hours.length ? [hours[0] - 3600, hours[hours.length - 1] + 3600] : undefined } },
      hooks: {
        setSelect: [
          (u) => {
            if (u.select.width < 5) return;
            const a = u.posToVal(u.select.left, "x");
            const b = u.posToVal(u.select.left + u.select.width, "x");
            const p = new URLSearchParams(q);
            p.set("log", log);
            p.set("since", new Date(Math.floor(a / 3600) * 3600 * 1000).toISOString());
            p.set("until", new Date(Math.ceil(b / 3600) * 3600 * 1000).toISOString());
            go(`#/charts?${p}`);
          },
        ],
      },
    },
    hours.length ? data : [[], ...outcomes.map(() => [])],
    hourly,
  );
  barChart(sources, "Failed logins by source", s.failed_logins_by_source.rows, "#b3261e");
  sources.append(figureTable("figures-sources", s.failed_logins_by_source.rows, s.failed_logins_by_source.query, s.failed_logins_by_source.total));
  barChart(actors, "Top actors", s.top_actors.rows, "#4a6fa5");
  actors.append(figureTable("figures-actors", s.top_actors.rows, s.top_actors.query, s.top_actors.total));
}

// ------------------------------------------------------------ integrity

async function integrityPage() {
  const r = await api("/v1/integrity");
  const ago = (s) => (s === null || s === undefined ? "—" : s < 120 ? `${s.toFixed(1)} s ago` : s < 7200 ? `${(s / 60).toFixed(0)} min ago` : `${(s / 3600).toFixed(1)} h ago`);
  const kv = (pairs) => el("dl", { class: "kv" }, pairs.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
  const parts = [el("h2", {}, "Integrity")];
  if (r.damaged !== undefined) {
    const v = r.last_verify;
    const verify = !v
      ? el("span", { class: "bad" }, "never run on this data directory: run veritrail verify")
      : v.unreadable
        ? el("span", { class: "bad" }, `its record is unreadable: ${v.unreadable}`)
        : el("span", { class: v.ok ? "ok" : "bad" }, `${v.ok ? "✔ OK" : "✘ FAILED"} at ${v.finished_at} (${v.scope}${v.key_pinned ? ", key pinned" : ", key not pinned"})`);
    const failed = (v?.results ?? []).filter((x) => !x.ok);
    const os = r.object_storage;
    parts.push(
      el("section", { id: "integrity-server" },
        kv([
          ["damaged logs", r.damaged.length ? el("span", { class: "bad" }, r.damaged.map((d) => `${d.log}: ${d.problem}`).join("; ")) : el("span", { class: "ok" }, "none")],
          ["last verify", el("span", { id: "integrity-verify" }, verify, failed.map((f) => el("div", { class: "bad" }, `${f.log}: ${f.message}`)))],
          ["object storage", os ? `${os.store} (durability ${os.durability}${os.node ? ", node " + os.node : ""}): ${os.objects} objects, ${os.checkpoints} checkpoints stored, ${os.errors} failed attempts` : "not configured (the logs live on this server's disk)"],
        ]),
      ),
    );
  }
  for (const l of r.logs) {
    const im = l.immutability;
    const flags = `${im.append_only_files} append-only (+a), ${im.immutable_files} immutable (+i), ${im.unflagged_files} without a flag${im.note ? ": " + im.note : ""}`;
    const cos = l.cosignatures;
    const w = l.witnesses;
    const witnessText = w
      ? `${w.witnessed_size} witnessed by a quorum of ${w.quorum}; ${w.lag_entries} entries behind the latest checkpoint`
      : cos.kept
        ? `not asked by this server; ${cos.kept} cosigned checkpoints kept`
        : "no witnesses configured (docs/TRUST.md)";
    const ts = l.timestamps;
    const tsText = ts.newest
      ? `${ts.kept} tokens kept; newest for checkpoint ${ts.newest.size} (${ts.newest.lag_entries} entries behind)` +
        (ts.newest.check.ok === true ? `: ✔ ${ts.newest.check.time} by ${ts.newest.check.tsa}` : ts.newest.check.ok === false ? `: ✘ ${ts.newest.check.problem}` : `: ${ts.newest.check.problem}`)
      : ts.authority
        ? `none kept yet from ${ts.authority}`
        : "no timestamp authority configured (docs/TRUST.md)";
    const up = l.object_storage;
    const storage = `${(l.disk.bytes / 1048576).toFixed(1)} MiB in ${l.disk.files} files` + (up ? `; bucket holds ${up.uploaded} entries, ${up.state}${up.problem ? ": " + up.problem : ""}` : "");
    const peers = w
      ? el("table", { class: "peers" },
          el("thead", {}, el("tr", {}, ["witness", "cosigned up to", "behind by", "last error"].map((h) => el("th", {}, h)))),
          el("tbody", {}, w.peers.map((p) => el("tr", {}, el("td", {}, p.name), el("td", {}, String(p.cosigned_size)), el("td", {}, `${p.lag_entries} entries`), el("td", { class: p.last_error ? "bad" : "" }, p.last_error ?? "")))),
        )
      : null;
    const history = el("table", { class: "history" },
      el("thead", {}, el("tr", {}, ["checkpoint size", "cosigned by", "timestamp token"].map((h) => el("th", {}, h)))),
      el("tbody", {}, [...l.checkpoints].reverse().map((c) =>
        el("tr", { "data-size": c.size },
          el("td", {}, String(c.size)),
          el("td", {}, c.cosigned_by.join(", ") || "—"),
          el("td", {}, c.timestamped ? el("a", { href: `/v1/logs/${encodeURIComponent(l.log)}/timestamps/${c.size}`, download: `${l.log}-${c.size}.tst` }, "token (DER)") : "—"),
        ))),
    );
    parts.push(
      el("section", { class: "log-integrity", "data-log": l.log, "data-size": l.size },
        el("h3", {}, `Log ${l.log}`),
        kv([
          ["origin", l.origin],
          ["key", el("code", {}, l.key)],
          ["latest checkpoint", `size ${l.size}, signed ${ago(l.checkpoint_age_seconds)}`],
          ["witnesses", witnessText],
          ["newest cosignatures", cos.newest_size === null ? "—" : `checkpoint ${cos.newest_size} (${cos.lag_entries} entries behind), kept ${ago(cos.newest_kept_seconds_ago)}`],
          ["timestamps", tsText],
          ["immutability", el("span", { class: im.unflagged_files ? "bad" : "ok" }, flags)],
          ["storage", storage],
        ]),
        peers,
        el("details", { open: true }, el("summary", {}, `the newest ${l.checkpoints.length} checkpoints`), history),
      ),
    );
  }
  show(...parts);
}

// ------------------------------------------------------------ alerts

async function alertsPage() {
  const body = el("tbody", { id: "alerts" });
  show(
    el("h2", {}, "Alerts"),
    el("p", { class: "muted" }, "Each alert is an alert.fired record in _system; acknowledging one records alert.acknowledged there, with your note."),
    el("table", {}, el("thead", {}, el("tr", {}, ["fired", "rule", "severity", "summary", "triggers", "acknowledged"].map((h) => el("th", {}, h)))), body),
  );
  try {
    const r = await api("/v1/alerts?limit=200");
    for (const a of r.alerts ?? []) {
      const ackCell = el("td", { class: "ack" });
      const fill = (k) => ackCell.replaceChildren(el("span", {}, `by ${k.by?.name || k.by?.token || "?"}: ${k.note}`));
      if (a.acknowledged) fill(a.acknowledged);
      else if (me.role === "auditor") {
        const note = el("input", { size: 24, placeholder: "what was done", "aria-label": "acknowledgement note" });
        const btn = el("button", { type: "submit" }, "Acknowledge");
        const err = el("span", { class: "error" });
        const f = el("form", { class: "ack-form" }, note, btn, err);
        f.addEventListener("submit", async (e) => {
          e.preventDefault();
          try {
            const done = await api(`/v1/alerts/${a.system_index}/ack`, { method: "POST", body: { note: note.value } });
            fill(done.acknowledgement);
          } catch (x) {
            err.textContent = x.message;
          }
        });
        ackCell.append(f);
      } else ackCell.append("no");
      const triggers = (a.triggers ?? []).slice(0, 5).map((t) =>
        el("a", { href: `#/event/${encodeURIComponent(t.log ?? "default")}/${t.index}` }, `${t.log ?? ""}#${t.index}`),
      );
      body.append(
        el(
          "tr",
          { "data-index": a.system_index },
          el("td", {}, a.fired_at ?? ""),
          el("td", {}, a.rule ?? ""),
          el("td", {}, a.severity ?? ""),
          el("td", {}, a.summary ?? ""),
          el("td", {}, triggers.flatMap((t, i) => (i ? [" ", t] : [t])), a.trigger_count > 5 ? ` … (${a.trigger_count})` : ""),
          ackCell,
        ),
      );
    }
    if (!body.children.length) body.append(el("tr", {}, el("td", { colspan: 6, class: "muted" }, "No alerts fired.")));
  } catch (e) {
    body.append(el("tr", {}, el("td", { colspan: 6 }, errorBox(e))));
  }
}

// ------------------------------------------------------------ reviews

async function reviewsPage() {
  if (me.role !== "auditor") {
    show(el("h2", {}, "Reviews"), el("p", { class: "muted" }, "Reviews are recorded and read with auditor tokens."));
    return;
  }
  const body = el("tbody", { id: "coverage" });
  const logSel = el("select", { id: "r-log" }, logs.map((l) => el("option", { value: l.name, selected: l.name === "default" }, l.name)));
  const note = el("textarea", { id: "r-note", rows: 3, cols: 60, placeholder: "What was reviewed, what was concluded" });
  const findings = el("input", { id: "r-findings", size: 60, placeholder: "findings, separated by ;" });
  const out = el("p", { id: "r-result" });
  const form = el(
    "form",
    { id: "review" },
    el("h3", {}, "Record a review up to the log's latest checkpoint"),
    el("p", {}, el("label", {}, "log ", logSel)),
    el("p", {}, note),
    el("p", {}, findings),
    el("button", { type: "submit" }, "Mark reviewed"),
    out,
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const f = findings.value.split(";").map((x) => x.trim()).filter(Boolean);
      const r = await api(`/v1/logs/${encodeURIComponent(logSel.value)}/reviews`, { method: "POST", body: { note: note.value, findings: f } });
      out.textContent = `Recorded: entries ${r.from}..${r.to} of ${r.log}, reviewed by ${r.reviewer} (a review.completed record in _system).`;
      note.value = "";
      findings.value = "";
      // The coverage is computed from _system's index, which follows
      // within a second or two.
      for (let k = 0; k < 10; k++) {
        await new Promise((ok) => setTimeout(ok, 1000));
        await list();
      }
    } catch (err) {
      out.replaceChildren(errorBox(err));
    }
  });
  async function list() {
    const r = await api("/v1/reviews");
    body.replaceChildren(
      ...r.logs.map((l) =>
        el(
          "tr",
          { "data-log": l.log },
          el("td", {}, l.log),
          el("td", {}, `${l.reviewed_entries} of ${l.size}`),
          el("td", {}, l.gaps.length ? l.gaps.map((g) => `${g.from}..${g.to}`).join(", ") : "none"),
          el("td", {}, l.last_review ?? "never"),
          el("td", {}, l.reviews.map((x) => `${x.from}..${x.to} by ${x.reviewer_name || x.reviewer}: ${x.note}`).join(" · ")),
        ),
      ),
    );
  }
  show(
    el("h2", {}, "Reviews"),
    el("p", { class: "muted" }, "Each review is a review.completed record in _system, signed into the log with the reviewer's token, the range and the checkpoint."),
    el("table", {}, el("thead", {}, el("tr", {}, ["log", "reviewed", "gaps", "last review", "reviews"].map((h) => el("th", {}, h)))), body),
    form,
  );
  await list();
}

// ------------------------------------------------------------ tokens

async function tokensPage() {
  if (me.role !== "admin") {
    show(el("p", { class: "muted" }, "Only admin tokens manage tokens."));
    return;
  }
  const body = el("tbody", { id: "tokens" });
  const role = el("select", { name: "role" }, ["reader", "auditor", "writer", "admin"].map((r) => el("option", { value: r }, r)));
  const name = el("input", { name: "name", placeholder: "name" });
  const logsIn = el("input", { name: "logs", placeholder: "logs, comma-separated" });
  const out = el("p", { id: "created" });
  const form = el("form", { class: "filters", id: "newtoken" }, el("label", {}, "role", role), el("label", {}, "name", name), el("label", {}, "logs", logsIn), el("button", { type: "submit" }, "Create token"));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const req = { role: role.value };
      if (name.value) req.name = name.value;
      if (logsIn.value) req.logs = logsIn.value.split(",").map((s) => s.trim()).filter(Boolean);
      const r = await api("/v1/tokens", { method: "POST", body: req });
      out.replaceChildren(el("span", {}, "Created; shown once: "), el("code", {}, r.token));
      await list();
    } catch (err) {
      out.replaceChildren(errorBox(err));
    }
  });
  async function list() {
    const r = await api("/v1/tokens");
    body.replaceChildren(
      ...r.tokens.map((t) =>
        el(
          "tr",
          {},
          el("td", {}, t.id),
          el("td", {}, t.name ?? ""),
          el("td", {}, t.role),
          el("td", {}, (t.logs ?? []).join(", ")),
          el("td", {}, t.revoked ? "revoked" : "active"),
          el("td", {}, t.revoked ? "" : el("button", { onclick: async () => { await api(`/v1/tokens/${encodeURIComponent(t.id)}`, { method: "DELETE" }); await list(); } }, "Revoke")),
        ),
      ),
    );
  }
  show(el("h2", {}, "Tokens"), form, out, el("table", {}, el("thead", {}, el("tr", {}, ["id", "name", "role", "logs", "state", ""].map((h) => el("th", {}, h)))), body));
  await list();
}

// ------------------------------------------------------------ routing

async function route() {
  if (!me) return;
  const { parts, q } = params();
  for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("active", a.dataset.page === parts[0]);
  try {
    switch (parts[0]) {
      case "event":
        return await eventPage(decodeURIComponent(parts[1]), Number(parts[2]));
      case "charts":
        return await chartsPage(q);
      case "timeline":
        return await timelinePage(q);
      case "report":
        return reportPage(q);
      case "integrity":
        return await integrityPage();
      case "alerts":
        return await alertsPage();
      case "reviews":
        return await reviewsPage();
      case "tokens":
        return await tokensPage();
      default:
        return await eventsPage(q);
    }
  } catch (e) {
    show(errorBox(e));
  }
}

window.addEventListener("hashchange", route);
document.getElementById("signout").addEventListener("click", async () => {
  try {
    await api("/console/session", { method: "DELETE" });
  } finally {
    signedOut();
  }
});

(async () => {
  try {
    me = await api("/console/session");
    await start();
  } catch (_) {
    signedOut();
  }
})();
