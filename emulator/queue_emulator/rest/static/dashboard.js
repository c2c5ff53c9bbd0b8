// The queue-emulator dashboard: plain JavaScript over the REST API (no framework, no build step, works offline).
// Every action is an ordinary REST call (see /v1/openapi.json); this page only calls them and shows the answers.
"use strict";

const PAGE_SIZE = 50;
const POLL_MS = 2000;
const JOURNAL_LINES = 300;

const state = {
  info: null,
  overview: null,
  serverNow: null,      // the emulator's clock (manual clocks differ from the browser's)
  fetchedAt: 0,
  selected: null,       // queue name
  view: "available",    // available | locked | scheduled | deferred | dead
  pageStarts: [1],      // sequence numbers where each page began (for "first")
  nextFrom: null,
  messages: [],
  checked: new Set(),
  detailSeq: null,
  journalAbort: null,
};

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "className") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value !== undefined && value !== null && value !== false) node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function showStatus(text, kind) {
  const status = $("status");
  status.textContent = text;
  status.className = kind || "";
}

async function api(method, path, body, params) {
  const url = new URL(path, location.origin);
  for (const [key, value] of params || []) url.searchParams.append(key, value);
  const response = await fetch(url, {
    method,
    headers: body === undefined ? {} : {"Content-Type": "application/json"},
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) {
    const error = data && data.error ? data.error : {code: String(response.status), message: text};
    throw new Error(`${error.code}: ${error.message}`);
  }
  return data;
}

async function act(label, fn) {
  try {
    const result = await fn();
    showStatus(label + (result ? ` — ${result}` : ""), "ok");
    await refresh();
  } catch (error) {
    showStatus(`${label} failed: ${error.message}`, "error");
  }
}

const q = (name) => `/v1/queues/${encodeURIComponent(name)}`;

// ---------------------------------------------------------------- time

function serverNowMs() {
  return state.serverNow === null ? Date.now() : state.serverNow + (state.info && state.info.clock === "manual" ? 0 : Date.now() - state.fetchedAt);
}

function relative(iso) {
  if (!iso) return "";
  const delta = Math.round((Date.parse(iso) - serverNowMs()) / 1000);
  const size = Math.abs(delta);
  let text;
  if (size < 60) text = `${size}s`;
  else if (size < 3600) text = `${Math.floor(size / 60)}m ${size % 60}s`;
  else if (size < 86400) text = `${Math.floor(size / 3600)}h ${Math.floor((size % 3600) / 60)}m`;
  else text = `${Math.floor(size / 86400)}d ${Math.floor((size % 86400) / 3600)}h`;
  if (delta === 0) return "now";
  return delta > 0 ? `in ${text}` : `${text} ago`;
}

function timeCell(iso) {
  return el("td", {title: iso || ""}, relative(iso));
}

// ---------------------------------------------------------------- bodies

function bytesOf(base64) {
  const raw = atob(base64);
  const bytes = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
  return bytes;
}

function base64Of(text) {
  const bytes = new TextEncoder().encode(text);
  let raw = "";
  for (let i = 0; i < bytes.length; i += 0x8000) raw += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(raw);
}

function hexdump(bytes) {
  const lines = [];
  for (let offset = 0; offset < bytes.length; offset += 16) {
    const chunk = Array.from(bytes.subarray(offset, offset + 16));
    const hex = chunk.map((b) => b.toString(16).padStart(2, "0")).join(" ");
    const ascii = chunk.map((b) => (b >= 32 && b < 127 ? String.fromCharCode(b) : ".")).join("");
    lines.push(`${offset.toString(16).padStart(8, "0")}  ${hex.padEnd(47)}  ${ascii}`);
  }
  return lines.join("\n") || "(empty body)";
}

function renderBody(base64, mode) {
  const bytes = bytesOf(base64);
  if (mode === "hex") return {text: hexdump(bytes), as: "hex"};
  let text;
  try {
    text = new TextDecoder("utf-8", {fatal: true}).decode(bytes);
  } catch {
    return {text: hexdump(bytes), as: "hex (not UTF-8)"};
  }
  if (mode === "auto") {
    try {
      return {text: JSON.stringify(JSON.parse(text), null, 2), as: "JSON"};
    } catch { /* not JSON: show the text */ }
  }
  return {text: text || "(empty body)", as: "text"};
}

// ---------------------------------------------------------------- namespace

async function loadInfo() {
  state.info = await api("GET", "/v1/info");
  $("version").textContent = `v${state.info.version}`;
  $("rest-url").textContent = location.origin;
  $("amqp-port").textContent = state.info.amqp_port ?? "off";
  $("connection-string").textContent = state.info.servicebus_connection_string || "(AMQP front off)";
  $("clock-mode").textContent = state.info.clock;
  const manual = state.info.clock === "manual";
  $("advance-clock").disabled = !manual;
  $("advance-seconds").disabled = !manual;
  $("advance-clock").title = manual ? "" : "the emulator runs on the system clock (start it with --clock=manual)";
}

async function loadFaults() {
  const answer = await api("GET", "/v1/_control/faults");
  $("fault-count").textContent = answer.faults.length;
  const rows = answer.faults.map((f) => el("tr", {},
    el("td", {}, f.operation), el("td", {}, f.error), el("td", {className: "num"}, f.remaining),
    el("td", {className: "num"}, f.latency), el("td", {}, f.queue || "any")));
  $("faults").replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", {colspan: 5, className: "muted"}, "no faults"))]));
}

// ---------------------------------------------------------------- entities

function depth(props) {
  return props.active_count + props.locked_count + props.scheduled_count + props.deferred_count + props.dead_letter_count;
}

function renderEntities() {
  const search = $("search").value.trim().toLowerCase();
  const hideEmpty = $("hide-empty").checked;
  const rows = [];
  let hidden = 0;
  for (const queue of state.overview.queues) {
    const p = queue.properties;
    if ((search && !p.name.toLowerCase().includes(search)) || (hideEmpty && depth(p) === 0)) {
      hidden++;
      continue;
    }
    rows.push(el("tr", {"data-queue": p.name, className: p.name === state.selected ? "selected" : "",
                        onclick: () => selectEntity(p.name)},
      el("td", {}, p.name),
      el("td", {className: "num"}, p.active_count), el("td", {className: "num"}, p.locked_count),
      el("td", {className: "num"}, p.scheduled_count), el("td", {className: "num"}, p.deferred_count),
      el("td", {className: "num" + (p.dead_letter_count ? " dlq-nonzero" : "")}, p.dead_letter_count)));
  }
  if (!rows.length) {
    rows.push(el("tr", {}, el("td", {colspan: 6, className: "muted"},
      state.overview.queues.length ? `no queue matches (${hidden} hidden)` : "no queues yet")));
  } else if (hidden) {
    rows.push(el("tr", {}, el("td", {colspan: 6, className: "muted small"}, `${hidden} hidden by the filter`)));
  }
  $("entities").replaceChildren(...rows);
}

function renderTopics() {
  // Topics hold nothing themselves: one row per subscription, with its rules and depths.
  const data = state.overview;
  const rows = [];
  for (const topic of data.topics || []) {
    const name = topic.properties.name;
    if (!topic.subscriptions.length) {
      rows.push(el("tr", {}, el("td", {}, name), el("td", {colspan: 6, className: "muted"}, "no subscriptions")));
    }
    for (const sub of topic.subscriptions) {
      const p = sub.properties;
      const rules = sub.rules.map((r) => r.name + " (" + r.filter.kind + (r.action ? ", action" : "") + ")");
      rows.push(el("tr", {"data-subscription": name + "/Subscriptions/" + p.name},
        el("td", {}, name + " / " + p.name), el("td", {className: "small"}, rules.join(", ")),
        el("td", {className: "num"}, p.active_count), el("td", {className: "num"}, p.locked_count),
        el("td", {className: "num"}, p.scheduled_count), el("td", {className: "num"}, p.deferred_count),
        el("td", {className: "num" + (p.dead_letter_count ? " dlq-nonzero" : "")}, p.dead_letter_count)));
    }
  }
  if (!rows.length) rows.push(el("tr", {}, el("td", {colspan: 7, className: "muted"}, "no topics")));
  $("topics").replaceChildren(...rows);
}

function selectedProperties() {
  const queue = state.overview && state.overview.queues.find((x) => x.properties.name === state.selected);
  return queue ? queue.properties : null;
}

function selectEntity(name) {
  if (state.selected !== name) {
    state.selected = name;
    state.view = "available";
    resetPaging();
    followJournal();
  }
  renderEntities();
  renderEntity();
  loadMessages();
}

function resetPaging() {
  state.pageStarts = [1];
  state.nextFrom = null;
  state.checked.clear();
  state.detailSeq = null;
  $("detail").hidden = true;
}

function renderEntity() {
  const props = selectedProperties();
  $("no-entity").hidden = props !== null;
  $("entity").hidden = props === null;
  if (!props) return;
  $("entity-name").textContent = props.name;
  const flags = [];
  if (props.options.requires_session) flags.push(`sessions (${props.session_count})`);
  flags.push(`max deliveries ${props.options.max_delivery_count}`, `lock ${props.options.lock_duration}s`);
  $("entity-flags").textContent = flags.join(" · ");
  const counts = {available: props.active_count, locked: props.locked_count, scheduled: props.scheduled_count,
                  deferred: props.deferred_count, dead: props.dead_letter_count};
  for (const node of document.querySelectorAll("[data-count]")) node.textContent = `(${counts[node.dataset.count]})`;
  for (const tab of document.querySelectorAll(".tab")) tab.classList.toggle("active", tab.dataset.view === state.view);
  $("dead-actions").hidden = state.view !== "dead";
  $("purge").textContent = state.view === "dead" ? "purge dead letters" : "purge queue";
}

// ---------------------------------------------------------------- messages

async function lockHolders(queue) {
  // Who holds each lock: the client of the newest "delivered" entry per sequence number (from the journal).
  const answer = await api("GET", "/v1/_control/journal", undefined,
                           [["entity", queue], ["kind", "delivered"], ["limit", "1000"]]);
  const holders = new Map();
  for (const entry of answer.entries) holders.set(entry.sequence_number, entry.client);
  return holders;
}

async function loadMessages() {
  const props = selectedProperties();
  if (!props) return;
  const dead = state.view === "dead";
  let cursor = state.pageStarts[state.pageStarts.length - 1];
  const found = [];
  // Peek returns every state in sequence order: a view keeps the messages in its state, PAGE_SIZE per page, and
  // looks one further to know whether there is a next page (nothing is ever cut without saying so).
  const batch = dead ? PAGE_SIZE + 1 : Math.min(state.info.max_batch_size, 500);
  for (let round = 0; round < 50 && found.length <= PAGE_SIZE; round++) {
    const answer = await api("POST", `${q(props.name)}/messages/peek`,
                             {max_messages: batch, from_sequence: cursor, dead_letter: dead});
    for (const m of answer.messages) {
      cursor = m.sequence_number + 1;
      if ((dead || m.state === state.view) && found.length <= PAGE_SIZE) found.push(m);
    }
    if (answer.messages.length < batch) break;
  }
  const more = found.length > PAGE_SIZE;
  state.messages = found.slice(0, PAGE_SIZE);
  state.nextFrom = more ? found[PAGE_SIZE].sequence_number : null;
  const locked = state.messages.some((m) => m.state === "locked");
  const holders = locked ? await lockHolders(dead ? `${props.name}/$DeadLetterQueue` : props.name) : new Map();
  renderMessages(holders);
}

function renderMessages(holders) {
  const props = selectedProperties();
  const dead = state.view === "dead";
  const rows = state.messages.map((m) => {
    const seq = m.sequence_number;
    const box = el("input", {type: "checkbox", "aria-label": `select ${seq}`, checked: state.checked.has(seq),
                             onclick: (event) => { event.stopPropagation(); toggleChecked(seq, event.target.checked); }});
    let lock = "";
    if (m.state === "locked") {
      const holder = holders.get(seq) || "unknown client";
      lock = `${holder}, until ${relative(m.locked_until)}`;
    }
    const actions = el("td", {});
    if (dead) {
      actions.append(el("button", {type: "button", className: "resubmit-one", onclick: (event) => {
        event.stopPropagation();
        act(`resubmitted dead letter ${seq}`, async () => {
          const answer = await api("POST", `${q(props.name)}/dead-letters/resubmit`, {sequence_numbers: [seq]});
          return `now sequence ${answer.sequence_numbers[0]} in ${props.name}`;
        });
      }}, "resubmit"));
    }
    if (m.state !== "locked") {
      actions.append(el("button", {type: "button", className: "delete-one danger", onclick: (event) => {
        event.stopPropagation();
        act(`deleted message ${seq}`, () => api("DELETE", `${q(props.name)}/messages/${seq}`, undefined,
                                                  [["dead_letter", dead ? "true" : "false"]]));
      }}, "delete"));
    }
    return el("tr", {"data-seq": seq, className: seq === state.detailSeq ? "selected" : "", onclick: () => showDetail(seq)},
      el("td", {}, box), el("td", {className: "num"}, seq), el("td", {}, m.message_id || ""),
      el("td", {}, m.state), el("td", {className: "num"}, m.delivery_count),
      timeCell(m.enqueued_time), el("td", {}, lock), timeCell(m.expires_at),
      el("td", {title: m.dead_letter_description || ""}, m.dead_letter_reason || ""), actions);
  });
  if (!rows.length) rows.push(el("tr", {}, el("td", {colspan: 10, className: "muted"}, "no messages in this view")));
  $("messages").replaceChildren(...rows);
  const counts = {available: props.active_count, locked: props.locked_count, scheduled: props.scheduled_count,
                  deferred: props.deferred_count, dead: props.dead_letter_count};
  const pageNumber = state.pageStarts.length;
  const span = state.messages.length
    ? `sequence ${state.messages[0].sequence_number}–${state.messages[state.messages.length - 1].sequence_number}` : "";
  $("page-info").textContent = `page ${pageNumber}: ${state.messages.length} shown ${span} · ${counts[state.view]} in this view` +
    (state.nextFrom ? " · more on the next page" : "");
  $("page-next").disabled = state.nextFrom === null;
  $("page-first").disabled = pageNumber === 1;
  if (state.detailSeq !== null) showDetail(state.detailSeq, true);
}

function toggleChecked(seq, on) {
  if (on) state.checked.add(seq); else state.checked.delete(seq);
}

function showDetail(seq, quiet) {
  const m = state.messages.find((x) => x.sequence_number === seq);
  if (!m) { $("detail").hidden = true; state.detailSeq = null; return; }
  state.detailSeq = seq;
  if (!quiet) for (const row of document.querySelectorAll("#messages tr")) row.classList.toggle("selected", row.dataset.seq === String(seq));
  $("detail").hidden = false;
  const mode = document.querySelector("input[name=body-mode]:checked").value;
  const body = renderBody(m.body, mode);
  $("detail-seq").textContent = `${seq} (${body.as}, ${bytesOf(m.body).length} bytes)`;
  $("detail-body").textContent = body.text;
  const system = [
    ["message id", m.message_id], ["session id", m.session_id], ["correlation id", m.correlation_id],
    ["content type", m.content_type], ["subject", m.subject], ["to", m.to], ["reply to", m.reply_to],
    ["state", m.state], ["delivery count", m.delivery_count],
    ["enqueued", m.enqueued_time && `${m.enqueued_time} (${relative(m.enqueued_time)})`],
    ["scheduled for", m.scheduled_enqueue_time && `${m.scheduled_enqueue_time} (${relative(m.scheduled_enqueue_time)})`],
    ["expires", m.expires_at && `${m.expires_at} (${relative(m.expires_at)})`],
    ["locked until", m.locked_until && `${m.locked_until} (${relative(m.locked_until)})`],
    ["dead-letter reason", m.dead_letter_reason], ["dead-letter description", m.dead_letter_description],
    ["dead-lettered from", m.dead_letter_source],
  ];
  const rows = system.filter(([, v]) => v !== null && v !== undefined && v !== "")
    .map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", {}, v)));
  for (const [k, v] of Object.entries(m.application_properties || {})) {
    rows.push(el("tr", {}, el("th", {}, `property ${k}`), el("td", {}, JSON.stringify(v))));
  }
  $("detail-properties").replaceChildren(...rows);
}

// ---------------------------------------------------------------- journal

function journalLine(entry) {
  const parts = [new Date(entry.time).toISOString().slice(11, 23), entry.kind, entry.entity];
  if (entry.sequence_number !== null) parts.push(`seq=${entry.sequence_number}`);
  if (entry.message_id) parts.push(`id=${entry.message_id}`);
  if (entry.session_id) parts.push(`session=${entry.session_id}`);
  if (entry.kind === "delivered") parts.push(`delivery=${entry.delivery_count}`);
  if (entry.reason) parts.push(`reason=${JSON.stringify(entry.reason)}`);
  if (entry.client) parts.push(`by ${entry.client}`);
  return el("div", {className: `kind-${entry.kind}`, "data-kind": entry.kind}, parts.join(" "));
}

async function followJournal() {
  if (state.journalAbort) state.journalAbort.abort();
  const abort = new AbortController();
  state.journalAbort = abort;
  const box = $("journal");
  box.replaceChildren();
  $("journal-scope").textContent = state.selected ? state.selected : "all queues";
  const url = new URL("/v1/_control/journal/follow", location.origin);
  url.searchParams.set("limit", "100");
  if (state.selected) url.searchParams.set("entity", state.selected);
  try {
    const response = await fetch(url, {signal: abort.signal});
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffered = "";
    for (;;) {
      const {value, done} = await reader.read();
      if (done) break;
      buffered += decoder.decode(value, {stream: true});
      const lines = buffered.split("\n");
      buffered = lines.pop();
      if ($("journal-pause").checked) continue;
      const atBottom = box.scrollTop + box.clientHeight >= box.scrollHeight - 4;
      for (const line of lines) if (line) box.append(journalLine(JSON.parse(line)));
      while (box.childElementCount > JOURNAL_LINES) box.firstElementChild.remove();
      if (atBottom) box.scrollTop = box.scrollHeight;
    }
  } catch (error) {
    if (error.name !== "AbortError") showStatus(`journal stream stopped: ${error.message}`, "error");
  }
}

// ---------------------------------------------------------------- refresh

async function refresh() {
  try {
    state.overview = await api("GET", "/v1/_control/overview");
    state.serverNow = Date.parse(state.overview.now);
    state.fetchedAt = Date.now();
    $("now").textContent = state.overview.now.replace("T", " ").slice(0, 19) + " UTC";
    $("clock-mode").textContent = state.overview.clock;
    if (state.selected && !selectedProperties()) { state.selected = null; followJournal(); }
    renderEntities();
    renderTopics();
    renderEntity();
    if (state.selected) await loadMessages();
    await loadFaults();
  } catch (error) {
    showStatus(`cannot read the emulator: ${error.message}`, "error");
  }
}

function wire() {
  $("search").addEventListener("input", renderEntities);
  $("hide-empty").addEventListener("change", renderEntities);
  for (const tab of document.querySelectorAll(".tab")) {
    tab.addEventListener("click", () => {
      state.view = tab.dataset.view;
      resetPaging();
      renderEntity();
      loadMessages();
    });
  }
  $("page-next").addEventListener("click", () => {
    if (state.nextFrom === null) return;
    state.pageStarts.push(state.nextFrom);
    loadMessages();
  });
  $("page-first").addEventListener("click", () => { state.pageStarts = [1]; loadMessages(); });
  $("select-all").addEventListener("change", (event) => {
    for (const m of state.messages) toggleChecked(m.sequence_number, event.target.checked);
    renderMessages(new Map());
  });
  for (const radio of document.querySelectorAll("input[name=body-mode]")) {
    radio.addEventListener("change", () => state.detailSeq !== null && showDetail(state.detailSeq, true));
  }
  $("purge").addEventListener("click", () => {
    const name = state.selected;
    const dead = state.view === "dead";
    if (!confirm(`Delete every ${dead ? "dead letter" : "message"} of ${name}?`)) return;
    act(`purged ${name}${dead ? " dead letters" : ""}`, async () => {
      const answer = await api("POST", `${q(name)}/purge`, {dead_letter: dead});
      return `${answer.purged} messages deleted`;
    });
  });
  $("resubmit-selected").addEventListener("click", () => {
    const seqs = [...state.checked].sort((a, b) => a - b);
    if (!seqs.length) { showStatus("select dead letters first (the boxes on the left)", "error"); return; }
    act(`resubmitted ${seqs.length} dead letters`, async () => {
      await api("POST", `${q(state.selected)}/dead-letters/resubmit`, {sequence_numbers: seqs});
      state.checked.clear();
    });
  });
  $("resubmit-all").addEventListener("click", () => {
    act("resubmitted all dead letters", async () => {
      const answer = await api("POST", `${q(state.selected)}/dead-letters/resubmit`, {});
      return `${answer.sequence_numbers.length} back in ${state.selected}`;
    });
  });
  $("send-test").addEventListener("click", () => { $("send-form").hidden = !$("send-form").hidden; });
  $("send-form").addEventListener("submit", (event) => {
    event.preventDefault();
    act(`sent a test message to ${state.selected}`, async () => {
      const message = {body: base64Of($("send-body").value)};
      const optional = {content_type: "send-content-type", message_id: "send-message-id", session_id: "send-session-id"};
      for (const [field, id] of Object.entries(optional)) if ($(id).value.trim()) message[field] = $(id).value.trim();
      const properties = $("send-properties").value.trim();
      if (properties && properties !== "{}") message.application_properties = JSON.parse(properties);
      const answer = await api("POST", `${q(state.selected)}/messages`, {messages: [message]});
      return `sequence ${answer.sequence_numbers[0]}`;
    });
  });
  $("advance-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const seconds = Number($("advance-seconds").value);
    act(`advanced the clock by ${seconds}s`, async () => {
      const answer = await api("POST", "/v1/_control/clock/advance", {seconds});
      return `now ${answer.now}`;
    });
  });
  $("reset").addEventListener("click", () => {
    if (!confirm("Forget every queue and message, and clear faults?")) return;
    act("namespace reset", () => api("POST", "/v1/_control/reset"));
  });
  $("show-faults").addEventListener("click", () => { $("faults-panel").hidden = !$("faults-panel").hidden; });
  $("clear-faults").addEventListener("click", () => act("cleared all faults", () => api("DELETE", "/v1/_control/faults")));
  $("copy-connection").addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText($("connection-string").textContent);
      showStatus("connection string copied", "ok");
    } catch {
      showStatus("the browser refused the clipboard; select the text instead", "error");
    }
  });
}

async function start() {
  wire();
  try {
    await loadInfo();
  } catch (error) {
    showStatus(`cannot read /v1/info: ${error.message}`, "error");
    return;
  }
  await refresh();
  followJournal();
  setInterval(refresh, POLL_MS);
}

start();
