// The console's start: login, pages by URL hash (#/queue, #/queue/<id>, #/units, #/devices, #/stats),
// the live feed, keyboard shortcuts.
import * as api from "./api.js";
import * as store from "./store.js";
import { Feed } from "./feed.js";
import { initMap, invalidate, select as mapSelect } from "./map.js";
import { initQueue, visibleIds, setSelected } from "./queue.js";
import * as incidentView from "./incident.js";
import { initBoards, renderUnits, renderDevices } from "./boards.js";
import { renderStats } from "./stats.js";
import { initKeys } from "./keys.js";
import { beep, flash, toast, setSound, soundEnabled, unlockAudio } from "./alert.js";

const PAGES = ["login", "queue", "units", "devices", "stats"];
let feed = null;
let started = false;

function showPage(name) {
  for (const p of PAGES) document.getElementById(`page-${p}`).hidden = p !== name;
  document.querySelectorAll("#topbar nav a").forEach((a) => a.classList.toggle("active", a.dataset.page === name));
  document.body.dataset.page = name;
  if (name === "queue") invalidate();
  if (name === "units") renderUnits();
  if (name === "devices") renderDevices();
  if (name === "stats") renderStats();
}

function route() {
  if (!api.currentSession()) { showPage("login"); return; }
  const [, page = "queue", arg] = location.hash.replace(/^#/, "").split("/");
  if (!started) return;
  if (!PAGES.includes(page) || page === "login") { location.hash = "#/queue"; return; }
  showPage(page);
  if (page === "queue" && arg) selectIncident(Number(arg), false);
}

function selectIncident(id, updateHash = true) {
  if (!id) return;
  setSelected(id);
  mapSelect(id);
  if (incidentView.currentId() !== id) incidentView.show(id);
  if (updateHash && location.hash !== `#/queue/${id}`) history.replaceState(null, "", `#/queue/${id}`);
}

function step(delta) {
  const ids = visibleIds();
  if (!ids.length) return;
  const at = ids.indexOf(incidentView.currentId());
  const next = at < 0 ? 0 : Math.min(ids.length - 1, Math.max(0, at + delta));
  if (document.body.dataset.page !== "queue") location.hash = "#/queue";
  selectIncident(ids[next]);
}

function setFeedState(s, delayMs) {
  if (s === "refused") {  // the server no longer accepts this token (expired, user disabled)
    toast("The live feed refused your session: log in again.", true);
    api.logout();
    return;
  }
  const el = document.getElementById("feed-state");
  el.dataset.state = s;
  el.textContent = s === "live" ? "live" : s === "reconnecting" ? `reconnecting${delayMs ? ` in ${Math.ceil(delayMs / 1000)} s` : "…"}` : s;
}

async function start() {
  const s = api.currentSession();
  document.body.classList.add("authed");
  document.body.dataset.role = s.role;
  document.getElementById("topbar").hidden = false;
  document.getElementById("whoami").textContent = `${s.user} · ${s.role}`;
  if (!started) {
    await store.loadStatic();
    setSound(store.state.config.sound !== false);
    initQueue({ select: selectIncident });
    showPage("queue");  // Leaflet needs a visible, sized container to fit the city
    initMap(document.getElementById("map"), { select: selectIncident });
    incidentView.initIncidentView();
    initBoards();
    store.on("sos", (inc) => { flash(); beep(); toast(`New SOS #${inc.id}: ${inc.category} at ${inc.site || inc.deviceId || "unknown site"}`); });
    started = true;
  }
  route();
  try { await store.loadAll(); } catch (e) { toast(`Could not load: ${e.message}`, true); }
  feed = new Feed({
    url: api.feedUrl, onEvent: store.handleEvent, onState: setFeedState,
    // After a reconnect, whatever happened while the link was down is fetched again.
    onOpen: (n) => { if (n > 1) store.loadAll().catch((e) => toast(`Resync failed: ${e.message}`, true)); },
  });
  feed.start();
  window.siagaFeed = feed;  // the browser tests read its connect count
}

function stop() {
  if (feed) feed.stop();
  feed = null;
  document.body.classList.remove("authed");
  document.getElementById("topbar").hidden = true;
  location.hash = "";
  showPage("login");
}

document.getElementById("login-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const err = document.getElementById("login-error");
  err.textContent = "";
  const btn = document.getElementById("login-submit");
  btn.disabled = true;
  unlockAudio();
  try {
    await api.login(document.getElementById("login-user").value.trim(), document.getElementById("login-pass").value);
    document.getElementById("login-pass").value = "";
    await start();
  } catch (ex) {
    err.textContent = ex.message;
  } finally { btn.disabled = false; }
});

document.getElementById("logout").onclick = () => api.logout();
document.getElementById("help-button").onclick = () => document.getElementById("help-dialog").showModal();
api.onSessionChange((s) => { if (!s) stop(); });
window.addEventListener("hashchange", route);

initKeys({
  j: () => step(1), k: () => step(-1),
  a: () => incidentView.acknowledge(),
  d: () => incidentView.assign(),
  n: () => incidentView.focusNote(),
  r: () => incidentView.transition("resolved"),
  f: () => incidentView.transition("false_alarm"),
  p: () => incidentView.transition("prank"),
  x: () => incidentView.transition("duplicate"),
  m: () => { setSound(!soundEnabled()); toast(`Sound ${soundEnabled() ? "on" : "off"}`); },
  "1": () => { location.hash = "#/queue"; }, "2": () => { location.hash = "#/units"; },
  "3": () => { location.hash = "#/devices"; }, "4": () => { location.hash = "#/stats"; },
  "?": () => document.getElementById("help-dialog").showModal(),
});

if (api.currentSession()) start().catch((e) => toast(e.message, true)); else showPage("login");
