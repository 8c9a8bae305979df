// The console's start: login, pages by URL hash (#/queue, #/queue/<id>, #/units, #/devices, #/stats),
// the live feed, keyboard shortcuts.
import "./csp.js";
import * as api from "./api.js";
import * as store from "./store.js";
import * as model from "./model.js";
import { Feed } from "./feed.js";
import { initMap, invalidate, select as mapSelect } from "./map.js";
import { initQueue, visibleIds, setSelected } from "./queue.js";
import * as incidentView from "./incident.js";
import { initBoards, renderUnits, renderDevices } from "./boards.js";
import { renderStats } from "./stats.js";
import { initKeys } from "./keys.js";
import { beep, flash, toast, setSound, soundEnabled, unlockAudio } from "./alert.js";
import * as center from "./center.js";
import * as calltaking from "./calltaking.js";
import * as station from "./station.js";
import { t, N_, useLanguage, currentLanguage, LANGUAGES } from "./i18n.js";

const PAGES = ["login", "queue", "units", "devices", "stats", ...center.PAGES, ...station.PAGES];
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
  if (name === "desk") center.renderDesk();
  if (name === "monthly") center.renderMonthly();
  if (name === "station") station.renderStation();
  if (name === "accountability") station.renderReport();
}

// The top bar's pages, each with the server endpoint of its work and the role the server requires
// for it (its x-required-role; tests/console/test_station_bar.py holds this table to the server's).
// The watching role (viewer) and the center's roles (operator and above) see every page they may
// read, as a wallboard or a desk; a station user sees the pages whose work the server lets it do:
// its station's forwards and the center's reports, not the queue, the desk, units or devices,
// where every action is refused to it.
export const PAGE_WORK = {
  queue: ["operator", "POST /api/v1/incidents/{incident_id}/transition"],
  units: ["dispatcher", "POST /api/v1/dispatch/assignments"],
  devices: ["technician", "PATCH /api/v1/devices/{device_id}"],
  stats: ["viewer", "GET /api/v1/stats"],
  desk: ["operator", "POST /api/v1/incidents/{incident_id}/hand-off"],
  monthly: ["viewer", "GET /api/v1/reports/monthly"],
  station: ["station", "POST /api/v1/forwards/{forward_id}/accept"],
  accountability: ["dispatcher", "GET /api/v1/center/accountability"],
};
const READ = { station: "station", accountability: "dispatcher" };   // every other page reads as a viewer

function mayOpen(page, role) {
  if (!PAGE_WORK[page]) return true;
  if (role === "station") return api.can(PAGE_WORK[page][0]);
  return api.can(READ[page] || "viewer");
}

function showRolePages(role) {
  document.querySelectorAll("#topbar nav a[data-page]").forEach((a) => { a.hidden = !mayOpen(a.dataset.page, role); });
}

function route() {
  if (!api.currentSession()) { showPage("login"); return; }
  // A station's user starts on the station view (the forwards to their station).
  const role = api.currentSession().role;
  const home = role === "station" ? "station" : "queue";
  const [, page = home, arg] = location.hash.replace(/^#/, "").split("/");
  if (!started) return;
  if (!PAGES.includes(page) || page === "login") { location.hash = "#/" + home; return; }
  if (!mayOpen(page, role)) { location.hash = "#/" + home; return; }
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
    toast(t("The live feed refused your session: log in again."), true);
    api.logout();
    return;
  }
  const el = document.getElementById("feed-state");
  el.dataset.state = s;
  el.textContent = s === "reconnecting" ? (delayMs ? t("reconnecting in {s} s", { s: Math.ceil(delayMs / 1000) }) : t("reconnecting…"))
    : t(FEED_STATES[s] || s);
}

const ROLE_NAMES = { viewer: N_("viewer"), station: N_("station"), operator: N_("operator"), dispatcher: N_("dispatcher"),
  technician: N_("technician"), admin: N_("admin") };
const OTA_STATES = { completed: N_("completed"), halted: N_("halted"), running: N_("running") };
const FEED_STATES = { live: N_("live"), connecting: N_("connecting…"), stopped: N_("stopped") };

async function start() {
  const s = api.currentSession();
  await useLanguage(await userLanguage());
  fillLanguageSwitch();
  document.body.classList.add("authed");
  document.body.dataset.role = s.role;
  showRolePages(s.role);
  document.getElementById("topbar").hidden = false;
  const who = document.getElementById("whoami");
  who.textContent = who.title = `${s.user} · ${t(ROLE_NAMES[s.role] || s.role)}`;
  if (!started) {
    await store.loadStatic();
    setSound(store.state.config.sound !== false);
    initQueue({ select: selectIncident });
    showPage("queue");  // Leaflet needs a visible, sized container to fit the city
    const leaflet = initMap(document.getElementById("map"), { select: selectIncident });
    calltaking.initCallTaking({ map: leaflet, select: selectIncident });
    incidentView.initIncidentView();
    station.initStation();
    initBoards();
    store.on("reports", () => { if (document.body.dataset.page === "desk") center.refreshDesk(); });
    // A firmware campaign halted by its health gate (or completed): technicians act on it.
    store.on("ota", (ev) => toast(ev.state === "halted" ? t("Firmware {version} rollout halted: {why}", { version: ev.version, why: ev.why })
      : t("Firmware {version} rollout {state}", { version: ev.version, state: t(OTA_STATES[ev.state] || ev.state) }), ev.state === "halted"));
    store.on("sos", (inc) => { cue(); toast(t("New SOS #{id}: {category} at {place}", { id: inc.id, category: t(model.label(inc.category)), place: inc.site || inc.deviceId || t("unknown site") })); });
    started = true;
  }
  route();
  try { await store.loadAll(); } catch (e) { toast(t("Could not load: {why}", { why: e.message }), true); }
  feed = new Feed({
    url: api.feedUrl, onEvent: store.handleEvent, onState: setFeedState,
    // Whatever happened while the link was down (or, on the first connect, between the first load
    // and the link coming up) is fetched again.
    onOpen: () => { store.loadAll().catch((e) => toast(t("Resync failed: {why}", { why: e.message }), true)); },
  });
  feed.start();
  window.siagaFeed = feed;  // the browser tests read its connect count
}

// A district's buttons pressed at once is one alarm to the room: the flash and the beep come at
// most once a second (each flash forces a layout, and a burst of them froze a long queue).
let lastCue = 0;
function cue() {
  const now = Date.now();
  if (now - lastCue < 1000) return;
  lastCue = now;
  flash();
  beep();
}

function stop() {
  calltaking.close();
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
  m: () => { setSound(!soundEnabled()); toast(soundEnabled() ? t("Sound on") : t("Sound off")); },
  "1": () => { location.hash = "#/queue"; }, "2": () => { location.hash = "#/units"; },
  "3": () => { location.hash = "#/devices"; }, "4": () => { location.hash = "#/stats"; },
  "5": () => { location.hash = "#/desk"; }, "6": () => { location.hash = "#/monthly"; },
  "7": () => { location.hash = "#/station"; }, "8": () => { location.hash = "#/accountability"; },
  c: () => center.focusReclassify(),
  t: () => calltaking.open(),
  "?": () => document.getElementById("help-dialog").showModal(),
});

// The login page speaks the center's language; after login, the user's own (GET /auth/me).
async function centerLanguage() {
  try { return (await api.get(api.paths.config)).language || "en"; } catch (e) { return "en"; }
}

async function userLanguage() {
  try { return (await api.get(api.paths.me)).language || currentLanguage(); } catch (e) { return currentLanguage(); }
}

function fillLanguageSwitch() {
  const sel = document.getElementById("lang-switch");
  sel.innerHTML = Object.entries(LANGUAGES).map(([code, name]) => `<option value="${code}" lang="${code}">${name}</option>`).join("");
  sel.value = currentLanguage();
  // Stored with the user: the next login, on any desk, speaks it too. Every view is drawn again.
  sel.onchange = async () => {
    try { await api.patch(api.paths.me, { language: sel.value }); location.reload(); }
    catch (e) { toast(t("Refused: {why}", { why: e.message }), true); sel.value = currentLanguage(); }
  };
}

centerLanguage().then(useLanguage).catch((e) => console.warn("language", e)).finally(() => {
  if (api.currentSession()) start().catch((e) => toast(e.message, true)); else showPage("login");
});
