// Live floor pages (wallboard, supervisor floor, communicator desk).
// Load the "routing" snapshot from /ws/events, then apply contact.* and agent.* events.
// Timers only re-render durations on the client clock; nothing polls the server.
const config = JSON.parse(document.getElementById("routing-config").textContent);
const L = config.labels;
const csrf = document.querySelector('meta[name="csrf-token"]')?.content ?? "";
const HELD = new Set(["offered", "connected", "on_hold", "wrap_up"]);
const VOICE = new Set(["voice", "callback"]);
const STATES = ["available", "on_contact", "after_call_work", "not_ready"];

// consults: the desk's contact id → its running consultation's id (kept apart from `mine`,
// whose entries are replaced by every event of the contact).
const floor = { queues: new Map(), agents: new Map(), mine: new Map(), calls: new Map(), consults: new Map(), skew: 0 };
let dirty = false;

function queueOf(id) {
  if (!floor.queues.has(id)) floor.queues.set(id, { id, waiting: new Map(), outcomes: [], sl_threshold_s: 20 });
  return floor.queues.get(id);
}

function applySnapshot(data) {
  if (!data) return;
  floor.queues.clear(); floor.agents.clear(); floor.mine.clear(); floor.calls.clear();
  floor.skew = Date.parse(data.now) - Date.now();
  for (const q of data.queues) {
    const entry = queueOf(q.id);
    Object.assign(entry, q, { waiting: new Map(q.waiting.map((c) => [c.contact_id, c])) });
  }
  for (const a of data.agents) {
    floor.agents.set(a.agent_id, { ...a, state_since: a.state_since ?? a.since });
    for (const contactId of a.calls ?? []) floor.calls.set(contactId, a.agent_id);
  }
  for (const c of data.mine) floor.mine.set(c.contact_id, c);
  floor.dayStart = Date.parse(data.day_start);
  changed();
}

function removeWaiting(contactId) {
  for (const q of floor.queues.values()) q.waiting.delete(contactId);
}

function applyEvent(ev) {
  if (ev.type === "agent.state_changed") return applyAgent(ev);
  if (!ev.type.startsWith("contact.")) return;
  let known = null;
  for (const q of floor.queues.values()) known = known ?? q.waiting.get(ev.contact_id);
  removeWaiting(ev.contact_id);
  if (ev.type === "contact.queued" && ev.queue_id) {
    queueOf(ev.queue_id).waiting.set(ev.contact_id, {
      contact_id: ev.contact_id, queued_at: known?.queued_at ?? ev.occurred_at,
      vip: known?.vip ?? ev.priority > 0, escalated: ev.reason === "escalated" || known?.escalated,
      channel: ev.channel, priority: ev.priority,
    });
  }
  if (ev.type === "contact.connected" && ev.queue_id) {
    queueOf(ev.queue_id).outcomes.push({ at: ev.occurred_at, answered: true, waited_s: ev.waited_s });
  }
  if (ev.type === "contact.abandoned" && ev.queue_id) {
    queueOf(ev.queue_id).outcomes.push({ at: ev.occurred_at, answered: false, waited_s: ev.waited_s });
  }
  if (ev.state === "connected" && VOICE.has(ev.channel) && ev.agent_id) {
    floor.calls.set(ev.contact_id, ev.agent_id);
  } else {
    floor.calls.delete(ev.contact_id);
  }
  if (ev.agent_id === config.me && HELD.has(ev.state)) {
    floor.mine.set(ev.contact_id, { contact_id: ev.contact_id, state: ev.state, channel: ev.channel,
      offer_expires_at: ev.offer_expires_at ?? floor.mine.get(ev.contact_id)?.offer_expires_at });
  } else if (floor.mine.has(ev.contact_id)) {
    floor.mine.delete(ev.contact_id);
  }
  changed();
}

function applyAgent(ev) {
  const before = floor.agents.get(ev.agent_id);
  if (ev.presence === "signed_out" && !Object.values(ev.load).some((n) => n > 0)) {
    floor.agents.delete(ev.agent_id);
  } else {
    const since = before && before.state === ev.state ? before.state_since : ev.occurred_at;
    floor.agents.set(ev.agent_id, { ...ev, state_since: since });
  }
  changed();
}

function changed() {
  if (dirty) return;
  dirty = true;
  requestAnimationFrame(() => { dirty = false; render(); });
}

// ---------------------------------------------------------------- figures
function now() { return Date.now() + floor.skew; }
function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  return (h ? `${h}:${String(m).padStart(2, "0")}` : `${m}`) + `:${String(r).padStart(2, "0")}`;
}
// As the figures define them (docs/figures.md), so the floor and the reports agree: an
// abandon after less than the queue's short-abandon limit is not counted at all; service
// level = answered within the threshold ÷ answered and (counted) abandoned.
function counted(q, o) {
  return o.answered || (o.waited_s ?? 0) >= (q.short_abandon_s ?? 5);
}
function serviceLevel(q, sinceMs) {
  const rows = q.outcomes.filter((o) => Date.parse(o.at) >= sinceMs && counted(q, o));
  const good = rows.filter((o) => o.answered && (o.waited_s ?? 0) <= q.sl_threshold_s).length;
  return rows.length ? Math.round((100 * good) / rows.length) : null;
}

// ---------------------------------------------------------------- render
function render() {
  renderQueues();
  if (config.view === "wallboard") renderTiles();
  if (config.view === "floor") { renderAgentTable(); renderWaiting(); renderAlerts(); }
  if (config.view === "desk") renderDesk();
}

function renderQueues() {
  for (const card of document.querySelectorAll("[data-queue-id]")) {
    const q = floor.queues.get(card.dataset.queueId);
    if (!q) continue;
    const oldest = Math.min(...[...q.waiting.values()].map((c) => Date.parse(c.queued_at)));
    const slToday = serviceLevel(q, floor.dayStart ?? 0);
    const sl30 = serviceLevel(q, now() - 30 * 60 * 1000);
    const set = (name, value) => { const el = card.querySelector(`[data-fig="${name}"]`); if (el) el.textContent = value; };
    set("waiting", String(q.waiting.size));
    set("longest", q.waiting.size ? clock((now() - oldest) / 1000) : "0:00");
    set("sl_today", slToday === null ? "–" : `${slToday}%`);
    set("sl_30", sl30 === null ? "–" : `${sl30}%`);
    set("answered", String(q.outcomes.filter((o) => o.answered).length));
    set("abandoned", String(q.outcomes.filter((o) => !o.answered && counted(q, o)).length));
    const alert = (q.waiting_alert && q.waiting.size >= q.waiting_alert)
      || (q.sl_alert_pct && sl30 !== null && sl30 < q.sl_alert_pct);
    card.classList.toggle("alert", Boolean(alert));
  }
}

function agentsSorted() {
  return [...floor.agents.values()].sort((a, b) => (a.display_name || "").localeCompare(b.display_name || ""));
}

function renderTiles() {
  const counts = Object.fromEntries(STATES.map((s) => [s, 0]));
  const list = document.querySelector("[data-agent-list]");
  const tiles = [];
  for (const a of agentsSorted()) {
    if (a.state in counts) counts[a.state] += 1;
    const li = document.createElement("li");
    li.className = `tile state-${a.state}`;
    li.dataset.agentId = a.agent_id;
    li.append(text("strong", a.display_name),
      text("span", `${L[a.state] ?? a.state} · ${clock((now() - Date.parse(a.state_since)) / 1000)}`, "since"));
    tiles.push(li);
  }
  list?.replaceChildren(...tiles);
  for (const el of document.querySelectorAll("[data-count-state]")) el.textContent = String(counts[el.dataset.countState] ?? 0);
  fitBoard();
}

// Nobody scrolls a wall monitor: when the board is taller than the screen it is zoomed out
// until it fits (again when the screen or the number of agents or queues changes).
let fittedFor = "";
function fitBoard() {
  const main = document.querySelector("main");
  const key = `${innerWidth}x${innerHeight}:${floor.agents.size}:${floor.queues.size}`;
  if (!main || key === fittedFor) return;
  fittedFor = key;
  const fits = (zoom) => {
    main.style.zoom = String(zoom);
    return document.documentElement.scrollHeight <= innerHeight;
  };
  if (fits(1)) return;
  let low = 0.2, high = 1;
  for (let step = 0; step < 8; step += 1) {
    const mid = (low + high) / 2;
    if (fits(mid)) low = mid; else high = mid;
  }
  fits(low);
}
if (config.view === "wallboard") addEventListener("resize", changed);

function renderAgentTable() {
  const body = document.querySelector("[data-agent-table]");
  const reasons = document.getElementById("reason-options").innerHTML;
  const rows = agentsSorted().map((a) => {
    const tr = document.createElement("tr");
    tr.dataset.agentId = a.agent_id;
    tr.className = `state-${a.state}`;
    const cell = document.createElement("td");
    const actions = document.createElement("div");
    actions.className = "actions";
    cell.append(actions);
    const select = document.createElement("select");
    select.innerHTML = reasons;
    actions.append(
      button(L.ready, () => presence(a.agent_id, "ready")),
      select,
      button(L.notready, () => presence(a.agent_id, "not_ready", select.value)),
    );
    // On a call: join it from your own phone (the voice worker rings it).
    const call = [...floor.calls].find(([, agentId]) => agentId === a.agent_id)?.[0];
    if (call) {
      for (const mode of ["listen", "whisper", "barge"]) {
        actions.append(button(L[mode], () => api(`/api/v1/contacts/${call}/monitor`, { mode }), `monitor-${mode}`));
      }
    }
    tr.append(text("td", a.display_name), text("td", `${L[a.state] ?? a.state}${a.reason ? ` (${reasonLabel(a.reason)})` : ""}`),
      text("td", clock((now() - Date.parse(a.state_since)) / 1000)), cell);
    return tr;
  });
  body?.replaceChildren(...rows);
}

function renderWaiting() {
  const body = document.querySelector("[data-waiting-list]");
  const options = document.getElementById("move-options").innerHTML;
  const rows = [];
  for (const q of floor.queues.values()) {
    for (const c of q.waiting.values()) {
      const tr = document.createElement("tr");
      tr.dataset.contactId = c.contact_id;
      const tags = [c.vip ? L.vip : "", c.escalated ? L.escalated : "", c.channel === "callback" ? L.callback : ""].filter(Boolean).join(" ");
      const select = document.createElement("select");
      select.innerHTML = options;
      const actions = document.createElement("td");
      actions.append(select, button(L.move, () => api(`/api/v1/contacts/${c.contact_id}/transfer`, { queue_id: select.value })));
      if (c.escalated) actions.append(button(L.take, () => api(`/api/v1/contacts/${c.contact_id}/transfer`, { agent_id: config.me })));
      tr.append(text("td", q.name_ja && config.lang === "ja" ? q.name_ja : q.name_en ?? q.code),
        text("td", clock((now() - Date.parse(c.queued_at)) / 1000)), text("td", tags), actions);
      rows.push(tr);
    }
  }
  body?.replaceChildren(...rows);
}

function renderAlerts() {
  const list = document.querySelector("[data-alerts]");
  const items = [];
  for (const card of document.querySelectorAll(".queue-card.alert")) {
    items.push(text("li", card.querySelector("h2").textContent));
  }
  list?.replaceChildren(...items);
}

// The desk keeps each contact's row while its state stays the same (only the countdown is
// redrawn), so focus, a half-filled wrap-up and keyboard work survive the 1-second tick.
const deskRows = new Map();
// action → aria-keyshortcuts value, from the desk's shortcut table (desktop/shortcuts.html).
const SHORTCUTS = Object.fromEntries(Object.entries(
  JSON.parse(document.getElementById("desk-shortcuts")?.textContent ?? "{}")).map(([action, s]) => [action, s.aria]));

// An offer must not go unnoticed while the desk is in another tab or window: the tab's
// title counts the offers, a short ring plays (browsers allow sound only after the page
// was clicked once; making yourself ready is such a click) and, when the desk is hidden
// and the user allowed it, a desktop notification is shown.
const baseTitle = document.title;
const announced = new Set();
let sound = null;
function allowSound() {
  sound ??= new AudioContext();
  sound.resume?.();
}
if (config.view === "desk") {
  addEventListener("pointerdown", allowSound);
  addEventListener("keydown", allowSound);
}

function ring() {
  if (!sound || sound.state !== "running") return;
  document.body.dataset.rings = String(Number(document.body.dataset.rings ?? 0) + 1);
  for (const [at, hz] of [[0, 880], [0.3, 660]]) {
    const tone = sound.createOscillator();
    const level = sound.createGain();
    level.gain.value = 0.15;
    tone.frequency.value = hz;
    tone.connect(level).connect(sound.destination);
    tone.start(sound.currentTime + at);
    tone.stop(sound.currentTime + at + 0.2);
  }
}

function announceOffers() {
  const offers = [...floor.mine.values()].filter((c) => c.state === "offered");
  document.title = offers.length ? `(${offers.length}) ${L.offer} · ${baseTitle}` : baseTitle;
  document.body.dataset.offers = String(offers.length);
  for (const id of announced) if (!offers.some((c) => c.contact_id === id)) announced.delete(id);
  const fresh = offers.filter((c) => !announced.has(c.contact_id));
  if (!fresh.length) return;
  for (const c of fresh) announced.add(c.contact_id);
  ring();
  if (document.hidden && globalThis.Notification?.permission === "granted") {
    const c = fresh[0];
    const note = new Notification(`${L.offer} · ${channelLabel(c.channel)}`, {
      body: config.queue_names?.[c.queue_id] ?? "", tag: c.contact_id,
    });
    note.onclick = () => { focus(); note.close(); };
  }
}

document.querySelector("[data-testid='go-ready']")?.addEventListener("click", () => {
  if (globalThis.Notification?.permission === "default") Notification.requestPermission();
});

function renderDesk() {
  announceOffers();
  const me = floor.agents.get(config.me);
  const mine = document.querySelector("[data-my-state]");
  if (mine) {
    mine.textContent = me ? `${L[me.state] ?? me.state}${me.reason ? ` (${reasonLabel(me.reason)})` : ""}` : L.signed_out;
    mine.dataset.presence = me?.presence ?? "signed_out";
  }
  const list = document.querySelector("[data-my-contacts]");
  if (!list) return;
  const items = [...floor.mine.values()].map((c) => {
    let row = deskRows.get(c.contact_id);
    const consult = floor.consults.get(c.contact_id);
    if (!row || row.state !== c.state || row.consult !== consult) {
      row = { state: c.state, consult, li: deskRow(c) };
      deskRows.set(c.contact_id, row);
    }
    const countdown = row.li.querySelector(".countdown");
    if (countdown && c.offer_expires_at) {
      const left = Math.ceil(Math.max(0, (Date.parse(c.offer_expires_at) - now()) / 1000));
      countdown.textContent = L.seconds.replace("{n}", String(left));
    }
    return row.li;
  });
  for (const id of deskRows.keys()) if (!floor.mine.has(id)) deskRows.delete(id);
  for (const id of floor.consults.keys()) if (!floor.mine.has(id)) floor.consults.delete(id);
  const current = [...list.children];
  if (current.length !== items.length || current.some((node, i) => node !== items[i])) {
    list.replaceChildren(...items);
  }
}

function deskRow(c) {
  const li = document.createElement("li");
  li.dataset.contactId = c.contact_id;
  li.dataset.state = c.state;
  li.dataset.channel = c.channel;
  if (c.queue_id) li.dataset.queueId = c.queue_id;
  li.className = `mine state-${c.state}`;
  li.tabIndex = -1;
  const queue = config.queue_names?.[c.queue_id];
  li.append(text("strong", `${stateLabel(c)} · ${channelLabel(c.channel)}${c.consult_of ? ` · ${L.consultation}` : ""}`));
  if (queue) li.append(text("span", queue, "queue-name"));
  if (c.consult_of) li.dataset.consultOf = c.consult_of;
  const path = (verb) => `/api/v1/contacts/${c.contact_id}/${verb}`;
  const keys = SHORTCUTS;
  if (c.consult_of && (c.state === "connected" || c.state === "on_hold")) {
    li.append(button(L.end, () => api(path("end")), "end", keys.end));  // no wrap-up for a consultation
  } else if (c.state === "offered") {
    li.append(text("span", "", "countdown"));
    li.append(button(L.accept, () => api(path("accept")), "accept", keys.accept),
      button(L.reject, () => api(path("reject")), "reject", keys.reject));
  } else if (c.state === "connected") {
    li.append(button(L.hold, () => api(path("hold")), "hold", keys.hold), button(L.end, () => api(path("end")), "end", keys.end),
      button(L.escalate, () => api(path("transfer"), { escalate: true }), "escalate"));
    if (VOICE.has(c.channel)) li.append(recordingToggle(c, path));
    li.append(consultControls(c, path));
  } else if (c.state === "on_hold") {
    li.append(button(L.resume, () => api(path("resume")), "resume", keys.hold), button(L.end, () => api(path("end")), "end", keys.end));
    li.append(consultControls(c, path));
  } else if (c.state === "wrap_up") {
    li.append(wrapUpForm(c, path));
  }
  return li;
}

// Consult a colleague, a queue or the supervisors while the customer holds; then hand the
// customer over (consultative transfer) or come back. Or transfer blind to the same target. The consultation's id comes from the
// API (and the desk snapshot after a reload); a 409 means it is already over.
function consultControls(c, path) {
  const span = document.createElement("span");
  span.className = "consult";
  const settle = async (verb) => {
    const response = await api(path(`consult/${verb}`));
    // A refused hand-over (not answered yet) keeps the controls; nothing left to cancel drops them.
    if (response.ok || (verb === "cancel" && response.status === 409)) {
      floor.consults.delete(c.contact_id);
      changed();
    }
  };
  if (floor.consults.has(c.contact_id)) {
    span.append(button(L.consult_complete, () => settle("complete"), "consult-complete"),
      button(L.consult_cancel, () => settle("cancel"), "consult-cancel"));
    return span;
  }
  const select = document.createElement("select");
  select.innerHTML = document.getElementById("consult-options")?.innerHTML ?? "";
  select.dataset.testid = "consult-target";
  select.setAttribute("aria-label", L.consult_with);
  const target = () => {
    const [kind, id] = select.value.split(":");
    return kind === "escalate" ? { escalate: true } : { [`${kind}_id`]: id };
  };
  span.append(select, button(L.consult, async () => {
    const response = await api(path("consult"), target());
    if (response.ok) { floor.consults.set(c.contact_id, (await response.json()).consult_id); changed(); }
  }, "consult"), button(L.transfer, () => api(path("transfer"), target()), "transfer"));
  return span;
}

// The wrap-up form: category, sub-reason (the chosen category's list), first-contact
// resolution. The queue's rules (GET …/wrap-up) mark required fields; Close stays disabled
// until they are filled. The server checks the same rules.
function wrapUpForm(c, path) {
  const keys = SHORTCUTS;
  const form = document.createElement("form");
  form.className = "wrap-up";
  form.dataset.testid = "wrap-up";
  const select = document.createElement("select");
  select.innerHTML = document.getElementById("category-options").innerHTML;
  select.dataset.testid = "wrap-category";
  if (keys.category) select.setAttribute("aria-keyshortcuts", keys.category);
  const sub = document.createElement("select");
  sub.dataset.testid = "wrap-sub-reason";
  const resolved = document.createElement("select");
  resolved.dataset.testid = "wrap-resolved-answer";
  resolved.innerHTML = "<option value=\"\">–</option>";
  for (const [value, label] of [["yes", L.yes], ["no", L.no]]) resolved.append(new Option(label, value));
  const resolvedBox = document.createElement("input");
  resolvedBox.type = "checkbox";
  resolvedBox.dataset.testid = "wrap-resolved";
  const close = button(L.close, () => form.requestSubmit(), "close", keys.close);
  close.type = "submit";
  const field = (label, control, name) => {
    const wrap = document.createElement("label");
    wrap.dataset.field = name;
    wrap.append(text("span", label), control);
    return wrap;
  };
  const subField = field(L.sub_reason, sub, "sub_reason");
  const resolvedSelect = field(L.resolved, resolved, "resolved_first_contact");
  const resolvedCheck = field(L.resolved, resolvedBox, "resolved_first_contact");
  resolvedSelect.hidden = true;
  subField.hidden = true;
  const suggestions = suggestionRow(select, () => refresh());
  const next = nextStep(c);
  form.append(suggestions.row, field(L.category, select, "category"), subField, resolvedCheck, resolvedSelect,
    next.box, close);
  let rules = { required: [], sub_reasons: {} };
  const needed = () => {
    const missing = [];
    const subs = rules.sub_reasons[select.value] ?? [];
    if (rules.required.includes("category") && !select.value) missing.push("category");
    if (rules.required.includes("sub_reason") && subs.length && !sub.value) missing.push("sub_reason");
    if (rules.required.includes("resolved_first_contact") && !resolved.value) missing.push("resolved_first_contact");
    return missing;
  };
  const refresh = () => {
    const subs = rules.sub_reasons[select.value] ?? [];
    if (sub.dataset.category !== select.value) {
      sub.dataset.category = select.value;
      sub.replaceChildren(new Option("–", ""), ...subs.map((s) => new Option(s, s)));
    }
    subField.hidden = subs.length === 0;
    const missing = [...needed(), ...next.missing()];
    for (const wrap of form.querySelectorAll("label[data-field]")) {
      const required = rules.required.includes(wrap.dataset.field);
      wrap.classList.toggle("required", required);
      wrap.querySelector("select, input")?.setAttribute("aria-required", String(required));
      wrap.classList.toggle("missing", missing.includes(wrap.dataset.field));
    }
    close.disabled = missing.length > 0;
  };
  select.addEventListener("change", refresh);
  sub.addEventListener("change", refresh);
  resolved.addEventListener("change", refresh);
  next.box.addEventListener("input", refresh);
  let sending = false;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    // The Close button is a submit button whose click also requests a submit: send once.
    if (close.disabled || sending) return;
    sending = true;
    const answered = rules.required.includes("resolved_first_contact")
      ? (resolved.value ? resolved.value === "yes" : null) : resolvedBox.checked;
    const body = { category: select.value || null, resolved_first_contact: answered,
      suggested_categories: suggestions.shown(), ...next.body() };
    if (sub.value) body.sub_reason = sub.value;
    const response = await api(path("close"), body).finally(() => { sending = false; });
    if (response.ok) document.dispatchEvent(new CustomEvent("desk:closed", { detail: { contactId: c.contact_id } }));
  });
  fetch(path("wrap-up")).then((r) => (r.ok ? r.json() : null)).then((found) => {
    if (!found) return;
    rules = found;
    // "Answered" must be a deliberate yes or no when required: a select, not a checkbox.
    const ask = rules.required.includes("resolved_first_contact");
    resolvedSelect.hidden = !ask;
    resolvedCheck.hidden = ask;
    refresh();
  }).catch(() => {});
  refresh();
  return form;
}

// The categories the classifier suggests for what the notes say (POST …/knowledge/suggestions),
// best first, as buttons that choose the category. What was shown last is sent with the
// close (suggested_categories) so the hit rate is measured on what the communicator saw.
function suggestionRow(select, changed) {
  const row = document.createElement("p");
  row.className = "wrap-suggestions";
  row.dataset.testid = "wrap-suggestions";
  row.hidden = true;
  const labels = new Map([...select.options].map((o) => [o.value, o.textContent]));
  let shown = [];
  let asked = "";
  let timer = null;
  const notes = () => document.querySelector("[data-testid=contact-notes]")?.value ?? "";
  const ask = async () => {
    const typed = notes().trim();
    if (typed === asked) return;
    asked = typed;
    if (!typed) { shown = []; row.hidden = true; return; }
    const response = await fetch("/api/v1/knowledge/suggestions", {
      method: "POST", headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify({ text: typed.slice(0, 500), limit: 3 }),
    }).catch(() => null);
    if (!response?.ok || asked !== typed) return;
    const found = (await response.json()).categories.map((c) => c.code).filter((code) => labels.has(code));
    shown = found.slice(0, 3);
    row.replaceChildren(text("span", `${L.suggested}: `), ...shown.map((code) => {
      const pick = button(labels.get(code), () => { select.value = code; select.dispatchEvent(new Event("change")); changed(); }, "wrap-suggestion");
      pick.dataset.code = code;
      return pick;
    }));
    row.hidden = shown.length === 0;
  };
  const typed = (event) => {
    if (!row.isConnected && row.dataset.attached) { document.removeEventListener("input", typed); return; }
    if (event.target?.dataset?.testid !== "contact-notes") return;
    row.dataset.attached = "1";
    clearTimeout(timer);
    timer = setTimeout(ask, 400);
  };
  document.addEventListener("input", typed);
  ask();
  return { row, shown: () => (row.isConnected ? [...shown] : []) };
}

// What happens after this contact: nothing, a follow-up task (due time, note, owned by me or
// the queue) or a callback to the customer (booked as a callback contact at a time). Either
// is saved together with the close, or not at all.
function nextStep(c) {
  const box = document.createElement("fieldset");
  box.className = "wrap-next";
  const choice = document.createElement("select");
  choice.dataset.testid = "wrap-next";
  for (const [value, label] of [["", L.nothing], ["follow_up", L.follow_up], ["callback", L.callback_booking]]) {
    choice.append(new Option(label, value));
  }
  const tomorrow = new Date(Date.now() + 24 * 3600 * 1000);
  tomorrow.setHours(10, 0, 0, 0);
  const due = input("datetime-local", "wrap-follow-up-due", localValue(tomorrow));
  const note = input("text", "wrap-follow-up-note");
  note.maxLength = 500;
  const owner = document.createElement("select");
  owner.dataset.testid = "wrap-follow-up-owner";
  owner.append(new Option(L.owner_me, ""));
  if (c.queue_id) owner.append(new Option(L.owner_queue, c.queue_id));
  const at = input("datetime-local", "wrap-callback-at", localValue(tomorrow));
  const toMe = input("checkbox", "wrap-callback-to-me");
  toMe.checked = true;
  const label = (caption, control, kind) => {
    const wrap = document.createElement("label");
    wrap.dataset.next = kind;
    wrap.append(text("span", caption), control);
    return wrap;
  };
  const parts = [label(L.due, due, "follow_up"), label(L.note, note, "follow_up"), label(L.owner, owner, "follow_up"),
    label(L.callback_at, at, "callback"), label(L.to_me, toMe, "callback")];
  box.append(label(L.next_step, choice, "choice"), ...parts);
  const show = () => { for (const part of parts) part.hidden = part.dataset.next !== choice.value; };
  choice.addEventListener("change", show);
  show();
  const iso = (value) => (value ? new Date(value).toISOString() : null);
  return {
    box,
    missing: () => {
      if (choice.value === "follow_up" && !due.value) return ["follow_up"];
      if (choice.value === "callback" && !at.value) return ["callback"];
      return [];
    },
    body: () => {
      if (choice.value === "follow_up") {
        return { follow_up: { due_at: iso(due.value), note: note.value.trim() || null, queue_id: owner.value || null } };
      }
      if (choice.value === "callback") return { callback: { callback_at: iso(at.value), to_me: toMe.checked } };
      return {};
    },
  };
}

function input(type, testid, value) {
  const el = document.createElement("input");
  el.type = type;
  el.dataset.testid = testid;
  if (value !== undefined) el.value = value;
  return el;
}

// A Date as the value of a datetime-local input (the browser's own time zone).
function localValue(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

function text(tag, value, cls) {
  const el = document.createElement(tag);
  el.textContent = value ?? "";
  if (cls) el.className = cls;
  return el;
}

// Calls say "on a call"; written channels (chat, email, SMS) say "in progress".
function stateLabel(c) {
  if (c.state === "connected" && !VOICE.has(c.channel)) return L.connected_written;
  return L[c.state] ?? c.state;
}

function channelLabel(code) {
  return L[`channel_${code}`] ?? code;
}

function reasonLabel(code) {
  return L[`reason_${code}`] ?? code;
}

// Pause the call's recording while payment details are read out (the voice worker acts
// on it within half a second and audits both steps).
function recordingToggle(c, path) {
  let paused = false;
  const el = button(L.pause_recording, async () => {
    const response = await api(path(paused ? "recording/resume" : "recording/pause"));
    if (!response.ok) return;
    paused = !paused;
    el.textContent = paused ? L.resume_recording : L.pause_recording;
    el.setAttribute("aria-pressed", String(paused));
  }, "recording-pause");
  el.setAttribute("aria-pressed", "false");
  return el;
}

function button(label, action, testid, shortcut) {
  const el = document.createElement("button");
  el.type = "button";
  el.textContent = label;
  if (testid) el.dataset.testid = testid;
  if (shortcut) el.setAttribute("aria-keyshortcuts", shortcut);
  el.addEventListener("click", action);
  return el;
}

async function api(path, body = {}, method = "POST") {
  const response = await fetch(path, {
    method, headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf }, body: JSON.stringify(body),
  });
  const error = document.querySelector("[data-action-error]");
  if (!response.ok) {
    // What went wrong in the page's language, then the server's own words (for support).
    const detail = await response.json().catch(() => ({}));
    const headline = L[`error_${response.status}`] ?? L.error_other;
    if (error) error.textContent = detail.detail ? `${headline}: ${detail.detail}` : headline;
  } else if (error) {
    error.textContent = "";
  }
  return response;
}

function presence(agentId, value, reason) {
  return api(`/api/v1/agents/${agentId}/presence`, { presence: value, reason: reason ?? null }, "PATCH");
}

for (const el of document.querySelectorAll("[data-presence]")) {
  el.addEventListener("click", () => {
    const reason = el.dataset.presence === "not_ready" ? document.querySelector("[data-reason]").value : null;
    presence(config.me, el.dataset.presence, reason);
  });
}

// ---------------------------------------------------------------- socket
function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/ws/events`);
  const status = document.querySelector("[data-live-status]");
  socket.addEventListener("open", () => { if (status) status.textContent = config.lang === "ja" ? "接続中" : "Live"; });
  socket.addEventListener("message", (frame) => {
    const message = JSON.parse(frame.data);
    if (message.kind === "snapshot") applySnapshot(message.data.routing);
    else if (message.kind === "event") applyEvent(message.event);
    else if (message.kind === "resync") socket.close();
    document.body.dataset.lastSeq = String(message.seq ?? message.last_event_id ?? "");
  });
  socket.addEventListener("close", (event) => {
    if (event.code === 4001 || event.code === 1008) { location.assign("/login"); return; }
    if (status) status.textContent = config.lang === "ja" ? "再接続中…" : "Reconnecting…";
    setTimeout(connect, 1000);  // a fresh snapshot on every reconnect
  });
}

// The desk listens to its own stream only (/ws/routing/desk), not the whole floor.
const versions = new Map();
let agentVersion = 0;

function applyDeskSnapshot(message) {
  floor.mine.clear(); floor.agents.clear(); floor.consults.clear(); versions.clear();
  agentVersion = message.agent?.version ?? 0;
  if (message.agent) floor.agents.set(message.agent.agent_id, message.agent);
  for (const c of message.mine) {
    floor.mine.set(c.contact_id, c);
    versions.set(c.contact_id, c.version);
    if (c.consult_id) floor.consults.set(c.contact_id, c.consult_id);
  }
  changed();
}

function applyDeskEvent(ev, socket) {
  if (ev.type === "agent.state_changed") {
    if (ev.version <= agentVersion) return;
    if (ev.version > agentVersion + 1) { socket.close(); return; }  // missed something: reload
    agentVersion = ev.version;
    floor.agents.set(ev.agent_id, ev);
    changed();
    return;
  }
  if ((versions.get(ev.contact_id) ?? 0) >= ev.version && ev.type !== "contact.queued") return;
  versions.set(ev.contact_id, ev.version);
  if (ev.state === "connected" && VOICE.has(ev.channel) && ev.agent_id) {
    floor.calls.set(ev.contact_id, ev.agent_id);
  } else {
    floor.calls.delete(ev.contact_id);
  }
  if (ev.agent_id === config.me && HELD.has(ev.state)) {
    const known = floor.mine.get(ev.contact_id);
    floor.mine.set(ev.contact_id, { contact_id: ev.contact_id, state: ev.state, channel: ev.channel,
      queue_id: ev.queue_id, offer_expires_at: ev.offer_expires_at ?? known?.offer_expires_at,
      consult_of: ev.consult_of ?? null });
  } else {
    floor.mine.delete(ev.contact_id);
  }
  changed();
}

function connectDesk() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/ws/routing/desk`);
  const status = document.querySelector("[data-live-status]");
  socket.addEventListener("open", () => { if (status) status.textContent = config.lang === "ja" ? "接続中" : "Live"; });
  socket.addEventListener("message", (frame) => {
    const message = JSON.parse(frame.data);
    if (message.kind === "snapshot") applyDeskSnapshot(message);
    else if (message.kind === "event") applyDeskEvent(message.event, socket);
  });
  socket.addEventListener("close", (event) => {
    if (event.code === 1008) { location.assign("/login"); return; }
    if (status) status.textContent = config.lang === "ja" ? "再接続中…" : "Reconnecting…";
    setTimeout(connectDesk, 500);
  });
}

setInterval(render, 1000);
if (config.view === "desk") connectDesk(); else connect();
