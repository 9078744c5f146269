// The desk's browser softphone: JsSIP (npm, served from /static/vendor/) registered over the
// SIP edge's WebSocket as the signed-in communicator, with a short-lived credential from
// POST /api/v1/softphone/credential (the edge checks its signature, expiry and that it names
// the user being registered). The voice worker rings this phone when routing offers a call
// (docs/architecture/voice.md): the communicator answers here, or with the desk's Accept
// button on the offer, or automatically. Media is WebRTC (ICE + DTLS-SRTP) to rtpengine.
import JsSIP from "/static/vendor/jssip.js";

const card = document.querySelector("[data-softphone]");
const L = JSON.parse(document.getElementById("softphone-labels")?.textContent ?? "{}");
const csrf = document.querySelector('meta[name="csrf-token"]')?.content ?? "";
const AUTO_KEY = "tsunagi.softphone.auto";
// Ask for a new credential this long before the current one expires.
const RENEW_BEFORE_S = 300;

const $ = (name) => card.querySelector(`[data-softphone-${name}]`);
let ua = null;
let session = null;
let renewTimer = null;
// When the desk's Accept was clicked before the worker's call arrived, answer it on arrival.
let acceptedAt = 0;
const ACCEPT_GRACE_MS = 10_000;

function show(state, text) {
  card.dataset.state = state;
  $("state").textContent = text ?? L[state] ?? state;
}

function controls() {
  const ringing = session !== null && !session.isEstablished() && !session.isEnded();
  const talking = session !== null && session.isEstablished();
  $("answer").hidden = !ringing;
  $("mute").hidden = !talking;
  $("hangup").hidden = session === null;
  const muted = talking && session.isMuted().audio;
  $("mute").textContent = muted ? L.unmute : L.mute;
  $("mute").setAttribute("aria-pressed", String(muted));
}

async function credential() {
  const response = await fetch("/api/v1/softphone/credential", {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
  });
  if (response.status === 404) return null; // no softphone edge configured
  if (!response.ok) throw new Error((await response.json().catch(() => ({}))).detail ?? String(response.status));
  return response.json();
}

function scheduleRenewal(expiresAt) {
  clearTimeout(renewTimer);
  const inMs = Math.max(10, expiresAt - Date.now() / 1000 - RENEW_BEFORE_S) * 1000;
  renewTimer = setTimeout(renew, inMs);
}

async function renew() {
  try {
    const fresh = await credential();
    if (!fresh || !ua) return;
    ua.set("authorization_user", fresh.authorization_user);
    ua.set("password", fresh.password);
    ua.register();
    scheduleRenewal(fresh.expires_at);
  } catch (error) {
    $("error").textContent = String(error.message ?? error);
    renewTimer = setTimeout(renew, 30_000);
  }
}

function answer() {
  if (!session || session.isEstablished() || session.isEnded()) return;
  session.answer({
    mediaConstraints: { audio: true, video: false },
    pcConfig: { iceServers: [] },
  });
}

function attachAudio(pc) {
  const audio = $("audio");
  pc.addEventListener("track", (event) => {
    audio.srcObject = event.streams[0] ?? new MediaStream([event.track]);
    audio.play().catch(() => {});
  });
}

function incoming(newSession) {
  if (session) {
    newSession.terminate({ status_code: 486, reason_phrase: "Busy Here" });
    return;
  }
  session = newSession;
  const from = newSession.remote_identity;
  $("call").textContent = `${L.from}: ${from.display_name || from.uri.user}`;
  show("ringing");
  newSession.on("peerconnection", (event) => attachAudio(event.peerconnection));
  newSession.on("accepted", () => { show("talking"); controls(); });
  newSession.on("confirmed", () => { show("talking"); controls(); });
  const over = (event) => {
    if (session !== newSession) return;
    session = null;
    $("call").textContent = "";
    $("audio").srcObject = null;
    show(ua?.isRegistered() ? "registered" : "unregistered");
    if (event?.cause === JsSIP.C.causes.USER_DENIED_MEDIA_ACCESS) $("error").textContent = L.no_microphone;
    controls();
  };
  newSession.on("ended", over);
  newSession.on("failed", over);
  controls();
  if ($("auto").checked || Date.now() - acceptedAt < ACCEPT_GRACE_MS) answer();
}

async function start() {
  let issued;
  try {
    issued = await credential();
  } catch (error) {
    card.hidden = false;
    show("failed");
    $("error").textContent = String(error.message ?? error);
    return;
  }
  if (!issued) return;
  card.hidden = false;
  show("connecting");
  ua = new JsSIP.UA({
    sockets: [new JsSIP.WebSocketInterface(issued.ws_url)],
    uri: issued.uri,
    authorization_user: issued.authorization_user,
    password: issued.password,
    display_name: issued.display_name,
    register: true,
    register_expires: 300,
    session_timers: false,
    user_agent: "Tsunagi desk softphone",
  });
  ua.on("registered", () => { $("error").textContent = ""; if (!session) show("registered"); });
  ua.on("unregistered", () => { if (!session) show("unregistered"); });
  ua.on("registrationFailed", (event) => { show("failed"); $("error").textContent = event.cause ?? ""; });
  ua.on("disconnected", () => { if (!session) show("connecting"); });
  ua.on("newRTCSession", (event) => { if (event.originator === "remote") incoming(event.session); });
  ua.start();
  scheduleRenewal(issued.expires_at);
}

if (card) {
  $("auto").checked = localStorage.getItem(AUTO_KEY) === "1";
  $("auto").addEventListener("change", () => localStorage.setItem(AUTO_KEY, $("auto").checked ? "1" : "0"));
  $("answer").addEventListener("click", answer);
  $("hangup").addEventListener("click", () => session?.terminate());
  $("mute").addEventListener("click", () => {
    if (!session?.isEstablished()) return;
    if (session.isMuted().audio) session.unmute({ audio: true }); else session.mute({ audio: true });
    controls();
  });
  // Accepting a call's offer on the desk (the Accept button of "My contacts") answers the
  // phone that the voice worker is ringing for it: one click, not two.
  document.addEventListener("click", (event) => {
    if (!event.target.closest?.("[data-my-contacts] [data-testid='accept']")) return;
    acceptedAt = Date.now();
    answer();
  });
  window.addEventListener("pagehide", () => { session?.terminate(); ua?.stop(); });
  start();
}
