// "My follow-ups" on the desk: the follow-up tasks owned by me or by a queue, soonest due
// first (GET /api/v1/follow-ups?owner=team), with Done / Cancel sent with the version shown
// (a 409 means someone else changed it: the list is reloaded). Drawn with textContent only.
const card = document.querySelector("[data-follow-ups]");
const L = JSON.parse(document.getElementById("follow-up-labels")?.textContent ?? "{}");
const csrf = document.querySelector('meta[name="csrf-token"]')?.content ?? "";
const lang = document.documentElement.lang === "en" ? "en" : "ja";
const REFRESH_MS = 60_000;
// Category names as the desk's wrap-up shows them (code → name in the page's language).
const categories = new Map([...(document.getElementById("category-options")?.content.querySelectorAll("option") ?? [])]
  .map((o) => [o.value, o.textContent]));

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}

function when(iso) {
  return new Date(iso).toLocaleString(lang === "ja" ? "ja-JP" : "en-GB", { dateStyle: "short", timeStyle: "short" });
}

async function finish(item, verb) {
  const error = card.querySelector("[data-follow-up-error]");
  const response = await fetch(`/api/v1/follow-ups/${item.id}/${verb}`, {
    method: "POST", headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
    body: JSON.stringify({ version: item.version }),
  });
  if (response.status === 409) error.textContent = L.changed;
  else if (!response.ok) error.textContent = (await response.json().catch(() => ({}))).detail ?? String(response.status);
  else error.textContent = "";
  load();
}

function row(item) {
  const li = el("li", null, `due-${item.due ?? "later"}`);
  li.dataset.followUpId = item.id;
  li.dataset.due = item.due ?? "";
  li.append(el("span", when(item.due_at), "when"));
  if (L[item.due]) li.append(el("span", L[item.due], "pill"));
  const about = [item.customer_name, categories.get(item.category) ?? item.category].filter(Boolean).join(" · ");
  if (about) li.append(" ", el("span", about));
  if (item.owner_queue_id) li.append(" ", el("span", `${L.queue}: ${item.owner_name ?? ""}`, "muted"));
  if (item.note) li.append(el("p", item.note, "muted"));
  const done = el("button", L.complete);
  done.type = "button";
  done.dataset.testid = "follow-up-complete";
  done.addEventListener("click", () => finish(item, "complete"));
  const cancel = el("button", L.cancel);
  cancel.type = "button";
  cancel.dataset.testid = "follow-up-cancel";
  cancel.addEventListener("click", () => finish(item, "cancel"));
  li.append(done, cancel);
  return li;
}

let loading = null;
async function load() {
  if (loading) return loading;
  loading = (async () => {
    try {
      const response = await fetch("/api/v1/follow-ups?owner=team&limit=100");
      if (!response.ok) return;
      const items = await response.json();
      card.querySelector("ol").replaceChildren(...items.map(row));
      card.querySelector("[data-follow-up-empty]").hidden = items.length > 0;
      const overdue = items.filter((i) => i.due === "overdue").length;
      card.querySelector("[data-follow-up-count]").textContent = items.length
        ? `(${items.length}${overdue ? ` · ${L.overdue} ${overdue}` : ""})` : "";
    } finally {
      loading = null;
    }
  })();
  return loading;
}

if (card) {
  load();
  setInterval(load, REFRESH_MS);
  // A wrap-up saved on this desk may have left a follow-up.
  document.addEventListener("desk:closed", () => load());
}
