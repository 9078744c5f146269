// The desk's knowledge side: search the knowledge base while a contact is open, and for a
// connected voice contact the published call scripts, filled with the customer's known
// fields through POST /api/v1/knowledge/articles/{id}/fill. Read-only; placeholders the
// server could not fill stay visible and marked, for the communicator to ask for.
// Everything is drawn with textContent.

const box = document.querySelector("[data-desk-knowledge]");
const list = document.querySelector("[data-my-contacts]");
const L = JSON.parse(document.getElementById("desk-knowledge-labels")?.textContent ?? "{}");
const csrf = document.querySelector('meta[name="csrf-token"]')?.content ?? "";
const FIELD = /\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\}/g;

let customer = { contactId: null, data: null }; // from customer.js's "desk:customer" event
let scripts = null;
let scriptFor = null; // contact id the script area was drawn for

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}

async function call(path, body) {
  const response = await fetch(path, body === undefined ? {} : {
    method: "POST", headers: { "content-type": "application/json", "x-csrf-token": csrf }, body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error((await response.json().catch(() => ({}))).detail ?? response.statusText);
  return response.json();
}

async function search(query) {
  const results = box.querySelector("[data-testid=desk-kb-results]");
  if (!query) { results.replaceChildren(); return; }
  try {
    const hits = await call(`/api/v1/knowledge/search?q=${encodeURIComponent(query)}&limit=5`);
    results.replaceChildren(...(hits.length ? hits.map((hit) => {
      const li = el("li");
      li.append(el("strong", hit.title), el("span", ` ${hit.snippet}`, "muted"));
      return li;
    }) : [el("li", L.none, "muted")]));
  } catch (error) {
    results.replaceChildren(el("li", String(error.message ?? error), "error"));
  }
}

function values() {
  const data = customer.contactId === scriptFor ? customer.data : null;
  const member = data?.identifiers?.find((i) => i.kind === "member_no")?.value ?? null;
  const agent = box.dataset.agentName || null;
  return {
    "customer.name": data?.name ?? null, "customer.member_no": member, "agent.name": agent,
    customer_name: data?.name ?? null, member_no: member, agent_name: agent,
  };
}

// The filled text with each missing {field} in a <mark>.
function drawFilled(filled) {
  const out = box.querySelector("[data-testid=script-text]");
  const missing = new Set(filled.missing);
  const parts = [];
  let at = 0;
  for (const match of filled.text.matchAll(FIELD)) {
    if (!missing.has(match[1])) continue;
    parts.push(document.createTextNode(filled.text.slice(at, match.index)), el("mark", match[0], "missing-field"));
    at = match.index + match[0].length;
  }
  parts.push(document.createTextNode(filled.text.slice(at)));
  out.replaceChildren(...parts);
  box.querySelector("[data-script-missing]").textContent = filled.missing.length ? `${L.missing}: ${filled.missing.join(", ")}` : "";
}

async function fillChosen() {
  const picker = box.querySelector("[data-testid=script-picker]");
  if (!picker.value) {
    box.querySelector("[data-testid=script-text]").replaceChildren();
    box.querySelector("[data-script-missing]").textContent = "";
    return;
  }
  try {
    drawFilled(await call(`/api/v1/knowledge/articles/${picker.value}/fill`, { values: values() }));
  } catch (error) {
    box.querySelector("[data-script-missing]").textContent = String(error.message ?? error);
  }
}

async function follow() {
  const item = list?.querySelector("li[data-contact-id]");
  const live = item && item.dataset.channel === "voice" && ["connected", "on_hold"].includes(item.dataset.state);
  const area = box.querySelector("[data-desk-script]");
  area.hidden = !live;
  const contactId = live ? item.dataset.contactId : null;
  if (contactId === scriptFor) return;
  scriptFor = contactId;
  const picker = box.querySelector("[data-testid=script-picker]");
  if (!contactId) { picker.value = ""; await fillChosen(); return; }
  if (scripts === null) {
    scripts = await call("/api/v1/knowledge/articles?kind=script&status=published&limit=100").catch(() => []);
    picker.append(...scripts.map((s) => new Option(s.title, s.id)));
  }
  await fillChosen();
}

if (box) {
  box.querySelector("[data-desk-kb-form]").addEventListener("submit", (event) => {
    event.preventDefault();
    search(box.querySelector("[data-testid=desk-kb-search]").value.trim());
  });
  box.querySelector("[data-testid=script-picker]").addEventListener("change", fillChosen);
  document.addEventListener("desk:customer", (event) => {
    customer = event.detail;
    if (customer.contactId === scriptFor) fillChosen();
  });
  if (list) new MutationObserver(follow).observe(list, { childList: true });
  follow();
}
