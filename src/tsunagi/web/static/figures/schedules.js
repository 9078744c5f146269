// Scheduled reports page: the form and the buttons call /api/v1/figures/schedules, then
// the page reloads (the list is rendered on the server, in the user's language).
const csrf = document.querySelector('meta[name="csrf-token"]')?.content ?? "";
const BASE = "/api/v1/figures/schedules";
const form = document.querySelector('[data-testid="sch-form"]');
const errorBox = document.querySelector('[data-testid="sch-error"]');

async function call(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: { "content-type": "application/json", "x-csrf-token": csrf },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) {
    let detail = `${response.status}`;
    try {
      const answer = await response.json();
      const fields = (answer.extra || []).map((e) => `${e.key ?? ""} ${e.message ?? ""}`.trim());
      detail = [answer.detail, ...fields].filter(Boolean).join(" — ");
    } catch {
      // not JSON: the status is all there is
    }
    throw new Error(detail);
  }
  return response;
}

function showError(message) {
  errorBox.textContent = `${form?.dataset.errorPrefix ?? ""} ${message}`;
  errorBox.hidden = false;
}

function payload(data) {
  const value = (name) => (data.get(name) || "").toString().trim();
  const cadence = value("cadence");
  return {
    name: value("name"),
    table: value("table"),
    grain: value("grain"),
    by: value("by") ? [value("by")] : [],
    queue: value("queue") || null,
    channel: value("channel") || null,
    category: value("category") || null,
    team: value("team") || null,
    file_format: value("file_format"),
    cadence,
    weekday: cadence === "weekly" ? Number(value("weekday")) : null,
    month_day: cadence === "monthly" ? Number(value("month_day")) : null,
    send_time: value("send_time").slice(0, 5),
    mailbox_id: value("mailbox_id") || null,
    recipients: value("recipients").split(/[\s,;]+/).filter(Boolean),
  };
}

form?.addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    await call("POST", BASE, payload(new FormData(form)));
    location.reload();
  } catch (error) {
    showError(error.message);
  }
});

document.querySelectorAll("tr[data-schedule] button[data-action]").forEach((button) => {
  button.addEventListener("click", async () => {
    const id = button.closest("tr").dataset.schedule;
    const action = button.dataset.action;
    if (action === "delete" && !confirm(button.dataset.confirm)) return;
    try {
      if (action === "delete") await call("DELETE", `${BASE}/${id}`);
      else if (action === "retry") await call("POST", `${BASE}/${id}/runs/${button.dataset.run}/retry`);
      else await call("POST", `${BASE}/${id}/${action}`);
      location.reload();
    } catch (error) {
      showError(error.message);
    }
  });
});
