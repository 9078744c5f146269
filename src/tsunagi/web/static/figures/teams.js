// Teams page: the form creates a team or changes the one being edited; buttons delete.
// Everything goes through /api/v1/teams, then the page reloads (rendered on the server).
const csrf = document.querySelector('meta[name="csrf-token"]')?.content ?? "";
const form = document.querySelector('[data-testid="team-form"]');
const title = document.querySelector('[data-testid="team-form-title"]');
const errorBox = document.querySelector('[data-testid="team-error"]');
let editing = null;

async function call(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: { "content-type": "application/json", "x-csrf-token": csrf },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) {
    let detail = `${response.status}`;
    try {
      detail = (await response.json()).detail || detail;
    } catch {
      // not JSON
    }
    throw new Error(detail);
  }
}

function showError(message) {
  errorBox.textContent = `${form.dataset.errorPrefix} ${message}`;
  errorBox.hidden = false;
}

form?.addEventListener("submit", async (event) => {
  event.preventDefault();
  const data = new FormData(form);
  const body = { name: (data.get("name") || "").toString(), members: data.getAll("members") };
  try {
    if (editing) await call("PUT", `/api/v1/teams/${editing}`, body);
    else await call("POST", "/api/v1/teams", body);
    location.reload();
  } catch (error) {
    showError(error.message);
  }
});

document.querySelectorAll("tr[data-team] button[data-action]").forEach((button) => {
  button.addEventListener("click", async () => {
    const row = button.closest("tr");
    if (button.dataset.action === "edit") {
      editing = row.dataset.team;
      title.textContent = title.dataset.edit;
      form.elements.name.value = row.dataset.name;
      const members = new Set((row.dataset.members || "").split(",").filter(Boolean));
      form.querySelectorAll('input[name="members"]').forEach((box) => {
        box.checked = members.has(box.value);
      });
      form.elements.name.focus();
      return;
    }
    if (!confirm(button.dataset.confirm)) return;
    try {
      await call("DELETE", `/api/v1/teams/${row.dataset.team}`);
      location.reload();
    } catch (error) {
      showError(error.message);
    }
  });
});
