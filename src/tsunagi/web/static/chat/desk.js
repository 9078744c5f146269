// The written side of the desk: a pane per chat (and email/SMS) contact the communicator
// holds. Messages come over /ws/conversations/{id}; everything a customer wrote is shown
// with textContent — nothing from a visitor or an email can run in this page.

const container = document.querySelector("[data-conversations]");
const list = document.querySelector("[data-my-contacts]");
const L = JSON.parse(document.getElementById("conversation-labels")?.textContent ?? "{}");
const csrf = document.querySelector('meta[name="csrf-token"]')?.content ?? "";
const tenantSlug = container?.dataset.tenantSlug ?? "";
const WRITTEN = new Set(["chat", "email", "sms"]);
const ACTIVE = new Set(["connected", "on_hold", "wrap_up"]);
const panes = new Map(); // contact id -> Pane
let canned = null;

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "text") node.textContent = value ?? "";
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value !== undefined && value !== null && value !== false) node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

async function call(path, { method = "GET", body, raw, type } = {}) {
  const headers = { "X-CSRF-Token": csrf };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (raw !== undefined) headers["Content-Type"] = type || "application/octet-stream";
  const response = await fetch(path, { method, headers, body: raw ?? (body !== undefined ? JSON.stringify(body) : undefined) });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.detail ?? `${response.status}`);
  return data;
}

class Pane {
  constructor(contactId, channel, conversationId = null) {
    this.contactId = contactId;
    this.conversationId = conversationId;
    this.channel = channel;
    this.conversation = null;
    this.seen = new Set();
    this.lastSeq = 0;
    this.visitorRead = 0;
    this.socket = null;
    this.closed = false;
    this.retry = 0;
    this.build();
    this.load();
  }

  build() {
    this.title = el("h2", { text: "…" });
    this.meta = el("p", { class: "muted" });
    this.messages = el("ol", { class: "transcript", "data-testid": "transcript", "aria-live": "polite" });
    this.typing = el("p", { class: "muted typing", "data-testid": "customer-typing" });
    this.error = el("p", { class: "error", role: "alert" });
    this.input = el("textarea", { rows: "3", maxlength: "4000", placeholder: L.placeholder, "aria-label": L.placeholder, "data-testid": "reply-input" });
    this.noteBox = el("input", { type: "checkbox", "data-testid": "reply-note" });
    this.sendButton = el("button", { type: "button", text: this.sendLabel(), "data-testid": "reply-send", onclick: () => this.send() });
    this.cannedSelect = el("select", { "aria-label": L.canned, "data-testid": "canned" }, el("option", { value: "", text: `— ${L.canned} —` }));
    this.cannedSelect.addEventListener("change", () => this.useCanned());
    this.searchInput = el("input", { type: "search", placeholder: L.search, "aria-label": L.search, "data-testid": "kb-search" });
    this.results = el("ul", { class: "kb-results", "data-testid": "kb-results" });
    this.searchInput.addEventListener("keydown", (event) => { if (event.key === "Enter") { event.preventDefault(); this.search(); } });
    this.file = el("input", { type: "file", "aria-label": L.attach, "data-testid": "reply-file", accept: ".png,.jpg,.jpeg,.gif,.pdf,.txt" });
    this.file.addEventListener("change", () => this.attach());
    this.endButton = el("button", { type: "button", text: L.end_chat, "data-testid": "end-chat", onclick: () => this.end() });
    this.input.addEventListener("keydown", (event) => this.key(event));
    this.input.addEventListener("input", () => this.typed());
    const tools = el("div", { class: "reply-tools" }, this.cannedSelect, this.searchInput,
      this.channel === "chat" ? el("label", { class: "file" }, `${L.attach} `, this.file) : null,
      this.channel === "chat" ? this.endButton : null);
    this.node = el("article", { class: "card conversation", "data-contact-id": this.contactId, "data-channel": this.channel, "data-testid": "conversation" },
      this.title, this.meta, this.messages, this.typing,
      el("div", { class: "reply" }, this.input, el("label", {}, this.noteBox, ` ${L.note}`), this.sendButton),
      tools, this.results, this.error);
    container.append(this.node);
  }

  sendLabel() { return this.channel === "email" ? L.reply_email : this.channel === "sms" ? L.reply_sms : L.send; }

  async load() {
    try {
      const data = await call(this.conversationId ? `/api/v1/conversations/${this.conversationId}`
        : `/api/v1/contacts/${this.contactId}/conversation`);
      this.conversation = data;
      this.title.textContent = data.visitor_name || data.subject || data.address || `${this.channel}`;
      this.meta.textContent = [data.channel, data.topic, data.subject].filter(Boolean).join(" · ");
      for (const message of data.messages) this.render(message);
      if (!this.conversationId && data.channel === "chat" && data.state !== "closed") await call(`/api/v1/conversations/${data.id}/join`, { method: "POST" }).catch(() => {});
      if (data.state === "closed") this.ended(L.closed);
      this.connect();
      this.loadCanned();
    } catch (error) {
      this.error.textContent = error.message;
    }
  }

  connect() {
    if (!this.conversation || this.closed) return;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/ws/conversations/${this.conversation.id}`);
    this.socket = socket;
    socket.addEventListener("open", () => { this.retry = 0; this.error.textContent = ""; });
    socket.addEventListener("message", (frame) => this.receive(JSON.parse(frame.data)));
    socket.addEventListener("close", (event) => {
      if (this.socket !== socket || this.closed) return;
      if (event.code === 1008) { this.error.textContent = event.reason; return; }
      this.error.textContent = L.reconnecting;
      setTimeout(() => this.connect(), Math.min(8000, 500 * 2 ** this.retry++));
    });
  }

  receive(frame) {
    if (frame.kind === "snapshot") {
      this.visitorRead = frame.conversation.visitor_read_seq ?? 0;
      for (const message of frame.messages) this.render(message);
      this.showRead();
    } else if (frame.kind === "message") {
      this.render(frame.message);
      if (frame.message.author === "customer") this.typing.textContent = "";
    } else if (frame.kind === "sent") {
      this.render(frame.message);
    } else if (frame.kind === "typing" && frame.side === "visitor") {
      this.typing.textContent = frame.on ? L.typing : "";
      clearTimeout(this.typingTimer);
      this.typingTimer = setTimeout(() => { this.typing.textContent = ""; }, 5000);
    } else if (frame.kind === "read" && frame.side === "visitor") {
      this.visitorRead = Math.max(this.visitorRead, frame.seq);
      this.showRead();
    } else if (frame.kind === "state" && frame.state === "closed") {
      this.ended(frame.by === "customer" ? L.left : L.closed);
    } else if (frame.kind === "status") {
      const item = this.messages.querySelector(`li[data-message-id="${frame.message_id}"] .status`);
      if (item) item.textContent = frame.status;
    } else if (frame.kind === "error") {
      this.error.textContent = frame.detail;
    }
    this.markRead();
  }

  render(message) {
    if (this.seen.has(message.id)) return;
    this.seen.add(message.id);
    const who = message.author === "agent" ? (message.author_name || L.you) : (L[message.author] ?? message.author);
    const item = el("li", { class: `msg ${message.author} ${message.direction}`, "data-seq": message.seq, "data-message-id": message.id, "data-testid": "message" },
      el("span", { class: "who", text: `${who} · ${new Date(message.at).toLocaleTimeString()}` }));
    if (message.text) item.append(el("span", { class: "text", text: message.text }));
    for (const attachment of message.attachments ?? []) {
      item.append(el("a", { class: "attachment", href: `/api/v1/conversations/${message.conversation_id}/attachments/${attachment.id}`,
        target: "_blank", rel: "noopener noreferrer", text: `📎 ${attachment.filename} (${Math.ceil(attachment.size / 1024)} KB)` }));
    }
    const flags = (message.flags ?? []).filter((f) => !f.startsWith("article:") && f !== "bot_answer");
    if (flags.length) item.append(el("span", { class: "flag", text: `${L.flagged}: ${flags.join(", ")}` }));
    if (message.direction === "out" && message.author === "agent") {
      item.append(this.channel === "chat" ? el("span", { class: "read-mark" })
        : el("span", { class: "status read-mark", text: message.status }));
    }
    const after = [...this.messages.children].find((li) => Number(li.dataset.seq) > message.seq);
    this.messages.insertBefore(item, after ?? null);
    this.lastSeq = Math.max(this.lastSeq, message.seq);
    this.showRead();
    this.messages.scrollTop = this.messages.scrollHeight;
  }

  showRead() {
    if (this.channel !== "chat") return;  // email and SMS show the sending status instead
    for (const item of this.messages.querySelectorAll("li.agent.out")) {
      const mark = item.querySelector(".read-mark");
      if (mark) mark.textContent = Number(item.dataset.seq) <= this.visitorRead ? ` ✓ ${L.read}` : "";
    }
  }

  markRead() {
    if (this.socket?.readyState === 1 && !document.hidden && this.lastSeq > 0 && this.lastSeq !== this.sentRead) {
      this.sentRead = this.lastSeq;
      this.socket.send(JSON.stringify({ type: "read", seq: this.lastSeq }));
    }
  }

  key(event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) { event.preventDefault(); this.send(); }
  }

  typed() {
    const now = Date.now();
    if (this.channel === "chat" && this.socket?.readyState === 1 && now - (this.typingSent ?? 0) > 2000) {
      this.typingSent = now;
      this.socket.send(JSON.stringify({ type: "typing", on: true }));
    }
  }

  async send() {
    const text = this.input.value.trim();
    if (!text || !this.conversation) return;
    const note = this.noteBox.checked;
    const clientId = `d${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
    try {
      let message;
      if (note || this.channel === "chat") {
        message = await call(`/api/v1/conversations/${this.conversation.id}/messages`, { method: "POST", body: { text, note, client_id: clientId } });
      } else {
        const queued = await call(`/api/v1/conversations/${this.conversation.id}/${this.channel}-reply`,
          { method: "POST", body: { text, client_id: clientId } });
        message = queued.message;  // stored as queued; the channel sends it in the background
      }
      if (message && message.id && message.seq) this.render(message);
      this.input.value = "";
      this.noteBox.checked = false;
      this.typingSent = 0;
      this.error.textContent = "";
    } catch (error) {
      this.error.textContent = error.message;
    }
  }

  async loadCanned() {
    try {
      canned ??= await call("/api/v1/knowledge/articles?kind=script&status=published&limit=100");
      for (const article of canned) this.cannedSelect.append(el("option", { value: article.id, text: article.title }));
    } catch (error) { /* no scripts to offer */ }
  }

  async useCanned() {
    const id = this.cannedSelect.value;
    if (!id) return;
    const values = { customer_name: this.conversation?.visitor_name ?? null, agent_name: document.querySelector("[data-testid=who]")?.textContent?.split(" · ")[0] ?? null };
    try {
      const filled = await call(`/api/v1/knowledge/articles/${id}/fill`, { method: "POST", body: { values } });
      this.input.value = this.input.value ? `${this.input.value}\n${filled.text}` : filled.text;
      this.input.focus();
    } catch (error) { this.error.textContent = error.message; }
    this.cannedSelect.value = "";
  }

  async search() {
    const q = this.searchInput.value.trim();
    if (!q) return;
    try {
      const hits = await call(`/api/v1/knowledge/search?q=${encodeURIComponent(q)}&limit=5`);
      this.results.replaceChildren(...hits.map((hit) => {
        const url = `${location.origin}/help/${tenantSlug}/articles/${hit.id}`;
        const item = el("li", {}, el("strong", { text: hit.title }), el("span", { class: "muted", text: ` ${hit.snippet}` }));
        if (hit.visibility === "public") {
          item.append(el("button", { type: "button", text: L.insert_link, "data-testid": "insert-link", onclick: () => {
            this.input.value = `${this.input.value}${this.input.value ? "\n" : ""}${hit.title}: ${url}`;
            this.input.focus();
          } }));
        }
        return item;
      }));
    } catch (error) { this.error.textContent = error.message; }
  }

  async attach() {
    const chosen = this.file.files?.[0];
    if (!chosen || !this.conversation) return;
    try {
      const message = await call(`/api/v1/conversations/${this.conversation.id}/attachments?name=${encodeURIComponent(chosen.name)}`,
        { method: "POST", raw: chosen, type: chosen.type });
      this.render(message);
    } catch (error) { this.error.textContent = error.message; }
    this.file.value = "";
  }

  async end() {
    if (!this.conversation) return;
    try {
      await call(`/api/v1/conversations/${this.conversation.id}/close`, { method: "POST" });
      this.ended(L.closed);
    } catch (error) { this.error.textContent = error.message; }
  }

  ended(text) {
    if (this.closedShown) return;
    this.closedShown = true;
    this.messages.append(el("li", { class: "msg system", text }));
    this.typing.textContent = "";
    this.endButton.disabled = true;
  }

  dispose() {
    this.closed = true;
    this.socket?.close();
    this.node.remove();
  }
}

function follow() {
  const wanted = new Map();
  for (const item of list?.querySelectorAll("li[data-contact-id]") ?? []) {
    if (WRITTEN.has(item.dataset.channel) && ACTIVE.has(item.dataset.state)) wanted.set(item.dataset.contactId, item.dataset.channel);
  }
  for (const [contactId, channel] of wanted) if (!panes.has(contactId)) panes.set(contactId, new Pane(contactId, channel));
  for (const [contactId, pane] of panes) {
    if (!wanted.has(contactId)) { panes.delete(contactId); pane.dispose(); }
  }
}

document.addEventListener("visibilitychange", () => { for (const pane of panes.values()) pane.markRead(); });
if (container?.dataset.conversationId) {
  // One conversation opened directly (a supervisor following or taking over a chat).
  const id = container.dataset.conversationId;
  panes.set(id, new Pane(null, container.dataset.channel ?? "chat", id));
} else if (container && list) {
  new MutationObserver(follow).observe(list, { childList: true });
  follow();
}
