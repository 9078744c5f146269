// Keyboard shortcuts of the desk. The table lives in desktop/shortcuts.html (the help
// dialog shows it, buttons carry it as aria-keyshortcuts); this file only dispatches.
// Single keys never fire in a text field, a select or while a Japanese IME is composing;
// Ctrl+Enter (close the wrap-up) and Esc (leave the field) do. Each shortcut clicks or
// focuses the same control a mouse user would, so there is one code path per action.

const table = JSON.parse(document.getElementById("desk-shortcuts")?.textContent ?? "{}");
const byKey = new Map(Object.entries(table).map(([id, s]) => [s.key, id]));
const help = document.querySelector("dialog.shortcut-help");
const off = document.querySelector("[data-shortcuts-off]");
const STORE = "tsunagi.desk.letterShortcuts";

if (off) {
  off.checked = localStorage.getItem(STORE) === "off";
  off.addEventListener("change", () => localStorage.setItem(STORE, off.checked ? "off" : "on"));
}

function typing(target) {
  return target instanceof HTMLElement
    && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName))
    && !(target instanceof HTMLInputElement && ["checkbox", "radio", "button", "submit"].includes(target.type));
}

function combo(event) {
  if (event.altKey) return null;
  if (event.ctrlKey || event.metaKey) return `Control+${event.key}`;
  if (event.key.length === 1 && /[a-z]/i.test(event.key)) return event.shiftKey ? null : event.key.toLowerCase();
  return event.key;
}

const contacts = () => document.querySelector("[data-my-contacts]");
function press(testid) {
  const target = contacts()?.querySelector(`li [data-testid="${testid}"]:not([disabled])`);
  if (!target) return false;
  target.click();
  return true;
}
function focus(selector) {
  const target = document.querySelector(selector);
  if (!target) return false;
  target.focus();
  return true;
}

const actions = {
  accept: () => press("accept"),
  reject: () => press("reject"),
  hold: () => press("hold") || press("resume"),
  end: () => press("end"),
  category: () => focus("[data-my-contacts] [data-testid=wrap-category]"),
  close: () => {
    const form = contacts()?.querySelector("form.wrap-up");
    if (!form) return false;
    form.requestSubmit();
    return true;
  },
  ready: () => {
    const presence = document.querySelector("[data-my-state]")?.dataset.presence;
    return focusless(document.querySelector(presence === "ready" ? "[data-presence=not_ready]" : "[data-presence=ready]"));
  },
  notes: () => focus("[data-customer-panel] [data-testid=contact-notes]"),
  search: () => focus("[data-testid=desk-kb-search]") || focus("[data-conversations] [data-testid=kb-search]"),
  help: () => { help?.showModal(); return Boolean(help); },
  leave: () => {
    if (help?.open) { help.close(); return true; }
    const active = document.activeElement;
    if (!typing(active)) return false;
    active.blur();
    (active.closest("li[data-contact-id]") ?? contacts())?.focus?.();
    return true;
  },
};

function focusless(el) {
  if (!el) return false;
  el.click();
  return true;
}

document.addEventListener("keydown", (event) => {
  if (event.isComposing || event.keyCode === 229 || event.defaultPrevented) return;
  const key = combo(event);
  const id = key === null ? undefined : byKey.get(key);
  if (!id) return;
  const single = key.length === 1;
  if (single && (typing(event.target) || off?.checked)) return;
  if (help?.open && id !== "leave") return;
  // A chat pane owns Enter-combinations in its own reply box.
  if (id === "close" && event.target instanceof Element && event.target.closest("[data-conversations]")) return;
  if (actions[id]?.()) event.preventDefault();
});

document.querySelector("[data-shortcut-help]")?.addEventListener("click", () => help?.showModal());
