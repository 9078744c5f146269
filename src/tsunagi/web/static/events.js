// Live event feed: snapshot first, then events; on reconnect resume from the last seen number.
const feed = document.getElementById("event-feed");
const status = document.querySelector('[data-testid="feed-status"]');
const KEY = "tsunagi:last_event_id";
let retryMs = 500;

function show(text) { if (status) status.textContent = text; }

function render(message) {
  if (!feed || message.kind !== "event") return;
  const item = document.createElement("li");
  const when = new Date(message.event.occurred_at).toLocaleTimeString();
  item.textContent = `#${message.seq} ${when} ${message.event.type}`;
  item.dataset.seq = String(message.seq);
  feed.prepend(item);
  document.querySelector("[data-feed-empty]")?.remove();
  while (feed.children.length > 200) feed.lastChild.remove();
}

function connect() {
  const last = sessionStorage.getItem(KEY);
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const query = last ? `?last_event_id=${encodeURIComponent(last)}` : "";
  const socket = new WebSocket(`${scheme}://${location.host}/ws/events${query}`);
  socket.addEventListener("open", () => { retryMs = 500; show(document.documentElement.lang === "ja" ? "接続中" : "Live"); });
  socket.addEventListener("message", (frame) => {
    const message = JSON.parse(frame.data);
    if (message.kind === "snapshot") sessionStorage.setItem(KEY, String(message.last_event_id));
    if (message.kind === "event") sessionStorage.setItem(KEY, String(message.seq));
    if (message.kind === "resync") { sessionStorage.removeItem(KEY); location.reload(); }
    render(message);
    document.dispatchEvent(new CustomEvent("tsunagi:event", { detail: message }));
  });
  socket.addEventListener("close", (event) => {
    if (event.code === 4001 || event.code === 1008) { location.assign("/login"); return; }
    show(document.documentElement.lang === "ja" ? "再接続中…" : "Reconnecting…");
    setTimeout(connect, retryMs);
    retryMs = Math.min(retryMs * 2, 10000);
  });
}

connect();
