// The customer side of the desk: when a contact is offered or connected, show who it is
// (screen-pop), their history on every channel, recent orders and likely products, and
// keep the wrap-up notes. Everything is drawn with textContent: nothing a customer typed
// can run in this page.

const panel = document.querySelector("[data-customer-panel]");
const list = document.querySelector("[data-my-contacts]");
const lang = document.documentElement.lang === "en" ? "en" : "ja";
const T = {
  ja: { none: "問い合わせを受けると、お客様の情報がここに表示されます。", unknown: "登録のないお客様です",
        choose: "該当するお客様を選んでください", history: "対応履歴", orders: "最近のご注文",
        likely: "おすすめ商品", notes: "メモ", save: "メモを保存", saved: "保存しました", vip: "VIP",
        first: "即答", pick: "この方です", member_no: "組合員番号", contract_no: "契約番号",
        phone: "電話", email: "メール", address: "住所", transcript: "会話を表示",
        open: "未完了のフォローアップ", overdue: "期限切れ", due: "期限", recordings: "通話録音" },
  en: { none: "The customer appears here when a contact is offered.", unknown: "Not a known customer",
        choose: "Choose the customer", history: "History", orders: "Recent orders",
        likely: "Likely to want", notes: "Notes", save: "Save notes", saved: "Saved", vip: "VIP",
        first: "FCR", pick: "This one", member_no: "Member no.", contract_no: "Contract no.",
        phone: "Phone", email: "E-mail", address: "Address", transcript: "Show conversation",
        open: "Open follow-ups", overdue: "Overdue", due: "Due", recordings: "Call recordings" },
}[lang];
const csrf = document.querySelector('meta[name="csrf-token"]')?.content ?? "";
let shown = null; // "contact id:state" last drawn
let retry = null;
const RETRIES = 3;
const RETRY_MS = 1500;

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}

async function call(path, method = "GET", body) {
  const response = await fetch(path, {
    method,
    headers: { "content-type": "application/json", "x-csrf-token": csrf },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) throw new Error((await response.json().catch(() => ({}))).detail ?? response.statusText);
  return response.status === 204 ? null : response.json();
}

function when(iso) {
  return new Date(iso).toLocaleString(lang === "ja" ? "ja-JP" : "en-GB", { dateStyle: "short", timeStyle: "short" });
}

function customerCard(customer) {
  const card = el("div", null, "customer");
  const name = el("h3", customer.name);
  name.dataset.testid = "customer-name";
  if (customer.vip) name.append(" ", el("span", T.vip, "pill vip"));
  card.append(name);
  if (customer.name_kana) card.append(el("p", customer.name_kana, "muted"));
  const facts = el("dl", null, "facts");
  for (const id of customer.identifiers) {
    facts.append(el("dt", T[id.kind] ?? id.kind), el("dd", id.value));
  }
  if (customer.address) facts.append(el("dt", T.address), el("dd", customer.address));
  card.append(facts);
  if (customer.tags.length) card.append(el("p", customer.tags.join(" · "), "muted"));
  return card;
}

function section(title, items, render, testid) {
  const box = el("section", null, "pop-section");
  box.append(el("h4", title));
  const ul = el("ul");
  ul.dataset.testid = testid;
  for (const item of items) ul.append(render(item));
  box.append(ul);
  return box;
}

function renderPop(pop) {
  const parts = [];
  if (pop.customer) {
    parts.push(customerCard(pop.customer));
  } else if (pop.candidates.length) {
    parts.push(el("p", T.choose, "notice"));
    for (const candidate of pop.candidates) {
      const card = customerCard(candidate);
      const pick = el("button", T.pick);
      pick.type = "button";
      pick.addEventListener("click", async () => {
        await call(`/api/v1/contacts/${pop.contact_id}/customer`, "PUT", { customer_id: candidate.id });
        show(pop.contact_id, true);
      });
      card.append(pick);
      parts.push(card);
    }
  } else {
    parts.push(el("p", `${T.unknown}${pop.address ? ` (${pop.address})` : ""}`, "notice"));
  }
  if (pop.follow_ups?.length) {
    // Open issues: follow-ups left on earlier contacts, whoever owns them.
    parts.push(section(T.open, pop.follow_ups, (f) => {
      const li = el("li", null, `due-${f.due ?? "later"}`);
      li.append(el("span", `${T.due} ${when(f.due_at)}`, "when"), " ");
      if (f.due === "overdue") li.append(el("span", T.overdue, "pill"), " ");
      li.append(el("span", [f.category, f.owner_name].filter(Boolean).join(" · ")));
      if (f.note) li.append(el("p", f.note, "muted"));
      return li;
    }, "customer-follow-ups"));
    parts[parts.length - 1].classList.add("open-follow-ups");
  }
  if (pop.history.length) {
    parts.push(section(T.history, pop.history, (h) => {
      const li = el("li");
      li.append(el("span", when(h.created_at), "when"), " ",
        el("span", `${h.queue ?? h.channel} · ${h.category ?? "–"}${h.sub_reason ? ` / ${h.sub_reason}` : ""} · ${h.communicator ?? ""}`));
      if (h.resolved_first_contact) li.append(" ", el("span", T.first, "pill"));
      if (h.notes) li.append(el("p", h.notes, "muted"));
      if (h.conversation_id && pop.customer) li.append(transcriptToggle(pop, h));
      if (VOICE_CHANNELS.has(h.channel)) li.append(recordingsLink(h.contact_id));
      return li;
    }, "customer-history"));
  }
  if (pop.orders.length) {
    parts.push(section(T.orders, pop.orders, (o) =>
      el("li", `${o.ordered_on} ${o.number} · ${o.lines.map((l) => l.product_name).join("、")} · ¥${o.total_yen.toLocaleString()}`),
      "customer-orders"));
  }
  if (pop.recommended.length) {
    parts.push(section(T.likely, pop.recommended, (r) => el("li", r.product_name), "customer-recommended"));
  }
  parts.push(notesBox(pop.contact_id));
  // A redraw (retry, state change) moves the notes box: keep the caret of someone typing.
  const typing = notes.box?.contains(document.activeElement) ? document.activeElement : null;
  const caret = typing ? [typing.selectionStart, typing.selectionEnd] : null;
  panel.replaceChildren(...parts);
  if (typing) {
    typing.focus({ preventScroll: true });
    typing.setSelectionRange?.(...caret);
  }
  // The script picker (knowledge.js) fills scripts from the same record: no second read.
  document.dispatchEvent(new CustomEvent("desk:customer", { detail: { contactId: pop.contact_id, data: pop.customer } }));
}

// A call in the history links to its recordings page (who may listen, and every playback,
// is decided and audited there).
const VOICE_CHANNELS = new Set(["voice", "callback"]);
function recordingsLink(contactId) {
  const link = el("a", T.recordings, "history-recordings");
  link.href = `/contacts/${contactId}/recordings`;
  link.target = "_blank";
  link.dataset.testid = "history-recordings";
  return link;
}

// A chat/email/SMS contact in the history opens its transcript (an audited read).
function transcriptToggle(pop, entry) {
  const box = el("ol", null, "history-transcript");
  box.dataset.testid = "history-transcript";
  const toggle = el("button", T.transcript);
  toggle.type = "button";
  toggle.dataset.testid = "show-transcript";
  toggle.addEventListener("click", async () => {
    if (box.childElementCount) { box.replaceChildren(); return; }
    const reason = encodeURIComponent(`contact ${pop.contact_id}`);
    try {
      const messages = await call(`/api/v1/customers/${pop.customer.id}/conversations/${entry.conversation_id}?reason=${reason}`);
      box.replaceChildren(...messages.map((m) => el("li", `${m.author_name ?? m.author}: ${m.text ?? (m.attachments ?? []).map((a) => a.filename).join(", ")}`)));
    } catch (error) {
      box.replaceChildren(el("li", String(error.message ?? error), "error"));
    }
  });
  const wrapper = el("div");
  wrapper.append(toggle, box);
  return wrapper;
}

// One notes box per contact, kept across redraws so nothing typed is lost.
let notes = { contactId: null, box: null };
function notesBox(contactId) {
  if (notes.contactId === contactId && notes.box) return notes.box;
  const text = el("textarea");
  text.rows = 3;
  text.dataset.testid = "contact-notes";
  text.setAttribute("aria-label", T.notes);
  text.setAttribute("aria-keyshortcuts", "N");
  const save = el("button", T.save);
  save.type = "button";
  const saved = el("span", "", "muted");
  save.addEventListener("click", async () => {
    await call(`/api/v1/contacts/${contactId}/notes`, "PUT", { notes: text.value });
    saved.textContent = T.saved;
  });
  const box = el("section", null, "pop-section");
  box.append(el("h4", T.notes), text, save, saved);
  notes = { contactId, box };
  return box;
}

// Drawn again when the contact changes state (offered → connected…), and retried a few
// times while the caller is still unknown: the channel says who is calling just after it
// creates the contact, which can be after the offer reached this desk.
async function show(contactId, state, force = false, attempt = 0) {
  const key = `${contactId}:${state}`;
  if (!panel || (key === shown && !force)) return;
  shown = key;
  clearTimeout(retry);
  if (!contactId) {
    panel.replaceChildren(el("p", T.none, "muted"));
    return;
  }
  try {
    const pop = await call(`/api/v1/contacts/${contactId}/screen-pop`);
    if (shown !== key) return; // another contact or state was drawn meanwhile
    renderPop(pop);
    if (!pop.customer && !pop.candidates.length && attempt < RETRIES) {
      retry = setTimeout(() => show(contactId, state, true, attempt + 1), RETRY_MS);
    }
  } catch (error) {
    panel.replaceChildren(el("p", String(error.message ?? error), "error"));
  }
}

function current() {
  const item = list?.querySelector("li[data-contact-id]");
  return item ? [item.dataset.contactId, item.dataset.state] : [null, null];
}

// The desk redraws its list on every change; a contact briefly missing from it is not
// the end of the contact, so an empty list clears the panel only if it stays empty.
let clearing = null;
function follow() {
  const [contactId, state] = current();
  clearTimeout(clearing);
  if (contactId) show(contactId, state);
  else clearing = setTimeout(() => show(null, null), 500);
}

if (panel && list) {
  new MutationObserver(follow).observe(list, { childList: true });
  follow();
}
