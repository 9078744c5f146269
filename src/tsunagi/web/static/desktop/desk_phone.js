// "Desk phone settings" on the desk: the signed-in communicator's SIP user, the edge they
// register at and their phone password (derived by the server from the master key; the
// edge checks it with digest authentication). Fetched when the disclosure is first opened,
// so that only a person who asks for it reads it (every read is audited).
const box = document.querySelector("[data-desk-phone]");
let loaded = false;

async function load() {
  const response = await fetch("/api/v1/softphone/phone-password", {
    headers: { Accept: "application/json" },
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.detail ?? String(response.status));
  for (const field of box.querySelectorAll("[data-desk-phone-field]")) {
    const value = body[field.dataset.deskPhoneField];
    if (value) field.textContent = field.dataset.deskPhoneField === "transport" ? value.toUpperCase() : value;
  }
}

box?.addEventListener("toggle", () => {
  if (!box.open || loaded) return;
  loaded = true;
  load().catch((error) => {
    loaded = false;
    box.querySelector("[data-desk-phone-error]").textContent = String(error.message ?? error);
  });
});
