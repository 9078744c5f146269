// Knowledge page: search as you type (debounced), arrow keys + Enter to open a result,
// "/" to focus the search, scripts filled with the fields the communicator types.
// Every text from the server is inserted with textContent, never as HTML.
const L = JSON.parse(document.getElementById("kb-labels").textContent);
const csrf = document.querySelector('meta[name="csrf-token"]')?.content ?? "";
const $ = (selector) => document.querySelector(selector);
const input = $("#kb-q");
const list = $("[data-kb-results]");
const status = $("[data-kb-status]");
const FIELD = /\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\}/g;
let selected = -1;
let timer = null;
let latest = 0;
let current = null;

async function api(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: { "content-type": "application/json", "x-csrf-token": csrf },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) throw new Error((await response.json().catch(() => ({}))).detail ?? response.statusText);
  return response.status === 204 ? null : response.json();
}

async function search() {
  const q = input.value.trim();
  const ticket = ++latest;
  if (!q) { list.replaceChildren(); status.textContent = ""; return; }
  const hits = await api("GET", `/api/v1/knowledge/search?q=${encodeURIComponent(q)}&limit=10`);
  if (ticket !== latest) return; // a newer query is on its way
  status.textContent = hits.length ? L.results.replace("{n}", hits.length) : L.none;
  list.replaceChildren(...hits.map((hit, i) => {
    const item = document.createElement("li");
    item.setAttribute("role", "option");
    item.dataset.id = hit.id;
    item.dataset.testid = "kb-hit";
    const title = document.createElement("strong");
    title.textContent = hit.title;
    const snippet = document.createElement("span");
    snippet.className = "snippet";
    snippet.textContent = hit.snippet;
    item.append(title, snippet);
    item.addEventListener("click", () => { select(i); open(hit.id); });
    return item;
  }));
  select(hits.length ? 0 : -1);
}

function select(index) {
  selected = index;
  [...list.children].forEach((item, i) => item.setAttribute("aria-selected", String(i === index)));
}

async function open(id) {
  current = await api("GET", `/api/v1/knowledge/articles/${id}`);
  $("[data-kb-empty]").hidden = true;
  $("[data-kb-article]").hidden = false;
  $("[data-kb-title]").textContent = current.title;
  $("[data-kb-meta]").textContent =
    `${current.kind} · ${L[current.visibility] ?? current.visibility} · ${L.version} ${current.version}`;
  $("[data-kb-body]").textContent = current.body;
  const names = [...new Set([...current.body.matchAll(FIELD)].map((m) => m[1]))];
  const form = $("[data-kb-fill]");
  form.hidden = names.length === 0;
  $("[data-kb-fields]").replaceChildren(...names.map((name) => {
    const label = document.createElement("label");
    label.textContent = `${name} `;
    const field = document.createElement("input");
    field.name = name;
    label.append(field);
    return label;
  }));
}

$("[data-kb-fill]").addEventListener("submit", async (event) => {
  event.preventDefault();
  const values = Object.fromEntries(new FormData(event.target).entries());
  const filled = await api("POST", `/api/v1/knowledge/articles/${current.id}/fill`, { values });
  $("[data-kb-body]").textContent =
    filled.text + (filled.missing.length ? `\n\n${L.missing} ${filled.missing.join(", ")}` : "");
});

input.addEventListener("input", () => {
  clearTimeout(timer);
  timer = setTimeout(() => search().catch((e) => { status.textContent = e.message; }), 150);
});

input.addEventListener("keydown", (event) => {
  const count = list.children.length;
  if (event.key === "ArrowDown" && count) { event.preventDefault(); select((selected + 1) % count); }
  if (event.key === "ArrowUp" && count) { event.preventDefault(); select((selected - 1 + count) % count); }
  if (event.key === "Enter" && selected >= 0) { event.preventDefault(); open(list.children[selected].dataset.id); }
});

document.addEventListener("keydown", (event) => {
  const typing = ["INPUT", "TEXTAREA", "SELECT"].includes(document.activeElement?.tagName);
  if (event.key === "/" && !typing) { event.preventDefault(); input.focus(); }
});

const create = document.querySelector("[data-kb-create]");
create?.addEventListener("submit", async (event) => {
  event.preventDefault();
  const data = new FormData(create);
  const error = $("[data-kb-create-error]");
  try {
    const article = await api("POST", "/api/v1/knowledge/articles", {
      title: data.get("title"),
      body: data.get("body"),
      kind: data.get("kind"),
      visibility: data.get("visibility"),
      category_code: data.get("category_code") || null,
      publish: data.get("publish") === "on",
    });
    error.textContent = L.saved;
    create.reset();
    open(article.id);
  } catch (e) {
    error.textContent = e.message;
  }
});
