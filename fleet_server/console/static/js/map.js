// The live map. With no tile URL the city is drawn from the station-area polygons themselves (the
// console must work with no internet); incidents, units and buttons are layers over it.
import { state, on } from "./store.js";
import * as model from "./model.js";
import { t } from "./i18n.js";

const L = window.L;
let map, layers, onSelect;
const markers = { incidents: new Map(), units: new Map(), devices: new Map() };
let selectedId = null;

export function initMap(el, { select }) {
  onSelect = select;
  const cfg = state.config;
  map = L.map(el, { zoomControl: false, attributionControl: !!cfg.tile_url, preferCanvas: false, zoomSnap: 0.25 })
    .setView(cfg.map_center || [-6.911, 107.6097], cfg.map_zoom || 13);
  L.control.zoom({ zoomInTitle: t("Zoom in"), zoomOutTitle: t("Zoom out") }).addTo(map);
  if (cfg.tile_url) L.tileLayer(cfg.tile_url, { attribution: cfg.tile_attribution || "", maxZoom: 19 }).addTo(map);
  layers = {
    areas: {},
    incidents: L.layerGroup().addTo(map),
    units: L.layerGroup().addTo(map),
    devices: L.layerGroup().addTo(map),
  };
  drawAreas();
  const overlays = { [t("Incidents")]: layers.incidents, [t("Units")]: layers.units, [t("Buttons")]: layers.devices };
  for (const [agency, layer] of Object.entries(layers.areas)) overlays[t("Areas: {agency}", { agency: agency === "city" ? t("city") : model.label(agency) })] = layer;
  L.control.layers(null, overlays, { collapsed: true, position: "topright" }).addTo(map);
  legend().addTo(map);
  on("incidents", redraw);
  on("units", redraw);
  on("devices", drawDevices);
  map.on("moveend", redraw);  // what covers what, and what fits on screen, depends on the view (zoom too)
  map.on("resize overlayadd overlayremove", () => { controls = null; redraw(); });
  map.getContainer().addEventListener("mouseover", (e) => { if (e.target.closest?.(".leaflet-control-layers")) controls = null; });
  map.getContainer().addEventListener("mouseout", (e) => { if (e.target.closest?.(".leaflet-control-layers")) controls = null; });
  draw(); drawDevices();
  setInterval(() => { controls = null; draw(); }, 2000);  // cues follow age: waiting incidents, stale fixes
  return map;
}

// A burst of feed events (a city's units reporting, a batch of reports) is drawn once, at the next frame.
let drawPending = false;
function redraw() {
  if (drawPending) return;
  drawPending = true;
  requestAnimationFrame(() => { drawPending = false; draw(); });
}

export function invalidate() { if (map) map.invalidateSize(); }

function drawAreas() {
  const byAgency = {};
  for (const f of state.areas?.features || []) {
    const key = f.properties.site ? "city" : f.properties.agency;
    (byAgency[key] ||= []).push(f);
  }
  let bounds = null;
  for (const [agency, features] of Object.entries(byAgency)) {
    const colour = model.COLOURS[agency] || "#55697d";
    const layer = L.geoJSON({ type: "FeatureCollection", features }, {
      style: (f) => agency === "city"
        ? { color: "#8fa3b8", weight: 2, fill: true, fillColor: "#1a2430", fillOpacity: 1 }
        : { color: colour, weight: f.properties.depth ? 1 : 2, opacity: 0.55, fillOpacity: 0.03, dashArray: f.properties.depth ? "3 4" : null },
      pointToLayer: (f, ll) => L.circleMarker(ll, { radius: 6, color: "#ff4d4d", weight: 2, fillOpacity: 0.2 }),
      onEachFeature: (f, lyr) => {
        if (agency === "city") return;
        lyr.bindTooltip(f.properties.name, { sticky: true });
      },
      interactive: agency !== "city",
    });
    layers.areas[agency] = layer;
    // The city and the police stations (the finest grid) show by default; others are one click away.
    if (agency === "city" || agency === "police") layer.addTo(map);
    if (agency === "city") bounds = layer.getBounds();
  }
  if (layers.areas.city) layers.areas.city.bringToBack();
  if (bounds && bounds.isValid() && !state.config.tile_url) map.fitBounds(bounds, { padding: [10, 10] });
}

// Collapsed to one small button by default, so it hides no part of the city; the dispatcher's
// choice is kept for the shift.
const LEGEND_KEY = "siaga.console.legend";
function legend() {
  const c = L.control({ position: "bottomleft" });
  c.onAdd = () => {
    const div = L.DomUtil.create("div", "map-legend");
    L.DomEvent.disableClickPropagation(div);
    div.innerHTML = `<button type="button" class="legend-toggle" aria-expanded="false">${model.escape(t("Legend"))}</button>
      <div class="legend-body">` + Object.entries(model.AGENCY_NAMES).map(([code, name]) =>
      `<span class="agency" data-style="background:${model.agencyColour(code)}"></span>${model.escape(t(name))}`).join("<br>") +
      `<br>${model.escape(t("incident ring:"))} <span data-style="color:var(--amber)">◯</span> ${model.escape(t("amber"))} · <span data-style="color:var(--red)">◯</span> ${model.escape(t("red"))} · ` +
      `<span class="legend-breach">!</span> ${model.escape(t("promise breached"))}` +
      `<br><span data-style="color:#6b7785">■</span> ${model.escape(t("unit: stale fix / out of service"))}<br>${model.escape(t("buttons:"))} ` +
      ["online", "low battery", "tamper", "prank-flagged", "offline"].map((h) =>
        `<span data-style="color:${HEALTH_COLOUR[h]}">●</span>&nbsp;${model.escape(model.label(h))}`).join(" ") + `</div>`;
    const toggle = div.querySelector(".legend-toggle");
    const set = (open) => {
      div.classList.toggle("open", open);
      toggle.setAttribute("aria-expanded", String(open));
      toggle.textContent = open ? `${t("Legend")} ×` : t("Legend");
      try { localStorage.setItem(LEGEND_KEY, open ? "open" : "closed"); } catch (e) { /* private mode */ }
    };
    let saved = null;
    try { saved = localStorage.getItem(LEGEND_KEY); } catch (e) { /* private mode */ }
    set(saved === "open");
    toggle.onclick = () => { set(!div.classList.contains("open")); draw(); };  // markers make way for it
    return div;
  };
  return c;
}

export function select(id) {
  selectedId = id;
  draw();
  const inc = state.incidents.get(id);
  // Pan only when the incident is off screen: the city view stays put while J/K walks the queue.
  if (inc && inc.lat !== null && !map.getBounds().pad(-0.05).contains([inc.lat, inc.lon])) map.panTo([inc.lat, inc.lon], { animate: true });
}

// Incident and unit markers are drawn as zero-size Leaflet markers at their true position whose
// visible body may be shifted: a marker that would cover another on screen moves to the nearest
// free spot, with a leader line back to its true point, so every one stays readable and clickable.
const INC_H = { 1: 28 }, INC_H_OTHER = 22, UNIT_H = 20;

function draw() {
  if (!map) return;
  const t = model.now();
  const items = [];
  const seen = { incidents: new Set(), units: new Set() };
  for (const inc of [...state.incidents.values()].sort(model.compareQueue)) {
    if (inc.lat === null) continue;
    seen.incidents.add(inc.id);
    const text = `#${inc.id}`;
    const h = INC_H[inc.priority] || INC_H_OTHER;
    items.push({ kind: "incidents", id: inc.id, inc, lat: inc.lat, lon: inc.lon, w: 14 + 8 * text.length, h, text, t });
  }
  for (const u of [...state.units.values()].sort((a, b) => String(a.callsign).localeCompare(String(b.callsign)))) {
    if (u.lat === null) continue;
    seen.units.add(u.id);
    items.push({ kind: "units", id: u.id, u, lat: u.lat, lon: u.lon, w: UNIT_H + 10 + 7 * String(u.callsign).length, h: UNIT_H, t });
  }
  spread(items);
  for (const it of items) (it.kind === "incidents" ? drawIncident : drawUnit)(it);
  for (const kind of ["incidents", "units"]) {
    for (const [id, m] of markers[kind]) {
      if (seen[kind].has(id)) continue;
      layers[kind].removeLayer(m);
      if (m._acc) layers[kind].removeLayer(m._acc);
      markers[kind].delete(id);
    }
  }
}

// Items are placed one at a time in queue order (the most urgent incident first, then units by
// callsign); each takes the free spot nearest its true point, trying rings of spots around it
// (close together near the point, farther apart beyond), inside the visible map while its true
// point is. A dense downtown becomes a compact cluster around its centre, not a column running off
// the screen. Placed boxes sit in a coarse spatial grid, so each test looks at a few neighbours.
// Deterministic for a given view.
const PAD = 8;      // room for the cue ring and the selection outline
const REACH = 420;  // the farthest a marker moves from its point, px
const CELL = 64;
const SPOTS = (() => {
  const out = [[0, 0]];
  for (let r = 8; r <= REACH; r += r < 120 ? 8 : 16) {
    const n = Math.max(6, Math.round(2 * Math.PI * r / (r < 120 ? 8 : 16)));
    for (let k = 0; k < n; k++) {
      const a = -Math.PI / 2 + 2 * Math.PI * k / n;   // from straight above, clockwise
      out.push([Math.round(r * Math.cos(a)), Math.round(r * Math.sin(a))]);
    }
  }
  return out;
})();

// A unit's body is its square (on the point) with the callsign hanging right; an incident's is centred.
const extent = (it) => it.kind === "units"
  ? { l: -UNIT_H / 2, r: it.w - UNIT_H / 2, t: -it.h / 2, b: it.h / 2 }
  : { l: -it.w / 2, r: it.w / 2, t: -it.h / 2, b: it.h / 2 };
const boxAt = (x, y, e) => ({ x0: x + e.l, x1: x + e.r, y0: y + e.t, y1: y + e.b });
const within = (v, b) => b.x0 >= v.x0 && b.x1 <= v.x1 && b.y0 >= v.y0 && b.y1 <= v.y1;
const boxesOverlap = (a, b) => a.x0 < b.x1 + PAD && b.x0 < a.x1 + PAD && a.y0 < b.y1 + PAD && b.y0 < a.y1 + PAD;

function cells(b, pad, visit) {
  for (let cx = Math.floor((b.x0 - pad) / CELL); cx <= Math.floor((b.x1 + pad) / CELL); cx++)
    for (let cy = Math.floor((b.y0 - pad) / CELL); cy <= Math.floor((b.y1 + pad) / CELL); cy++)
      if (visit(cx * 65536 + cy)) return true;
  return false;
}

// The controls' boxes in container pixels, measured once per size of the map (and when the layer
// switcher opens or closes): measuring forces a layout, at every draw a second one per frame.
let controls = null;
function controlBoxes() {
  if (controls) return controls;
  const frame = map.getContainer().getBoundingClientRect();
  if (!frame.width) return [];   // the map is hidden: measured when it shows
  controls = [];
  for (const el of map.getContainer().querySelectorAll(".leaflet-control")) {
    const r = el.getBoundingClientRect();
    if (r.width && r.height) controls.push({ x0: r.left - frame.left, x1: r.right - frame.left, y0: r.top - frame.top, y1: r.bottom - frame.top });
  }
  return controls;
}

// The last placement, reused while nothing that decides it changed (an escalation sweep changes
// every incident's tooltip and none of their places): the search is the map's dearest part.
let lastSpread = { key: null, at: new Map() };

function spread(items) {
  const tl = map.containerPointToLayerPoint([0, 0]), size = map.getSize();
  const key = `${map.getZoom()}|${tl.x},${tl.y}|${size.x},${size.y}|${controlBoxes().map((b) => `${b.x0},${b.y0},${b.x1},${b.y1}`).join(" ")}|` +
    items.map((it) => `${it.kind[0]}${it.id}@${it.lat},${it.lon}:${it.w}x${it.h}`).join(";");
  if (key === lastSpread.key) {
    for (const it of items) [it.dx, it.dy] = lastSpread.at.get(`${it.kind}:${it.id}`);
    return;
  }
  const view = { x0: tl.x + PAD, y0: tl.y + PAD, x1: tl.x + size.x - PAD, y1: tl.y + size.y - PAD };
  const grid = new Map();
  const covered = (b) => cells(b, PAD, (k) => (grid.get(k) || []).some((o) => boxesOverlap(o, b)));
  const occupy = (b) => cells(b, 0, (k) => { (grid.get(k) || grid.set(k, []).get(k)).push(b); return false; });
  // The zoom buttons, the layer switcher and the legend are taken: a marker under them is hidden.
  for (const r of controlBoxes()) occupy({ x0: tl.x + r.x0, x1: tl.x + r.x1, y0: tl.y + r.y0, y1: tl.y + r.y1 });
  let room = true;   // once one marker found no room on screen, the rest take the nearest free spot
  for (const it of items) {
    it.p = map.latLngToLayerPoint([it.lat, it.lon]);
    const e = extent(it);
    const onView = it.p.x >= view.x0 && it.p.x <= view.x1 && it.p.y >= view.y0 && it.p.y <= view.y1;
    let best = null, spare = null;
    for (const [dx, dy] of SPOTS) {
      const b = boxAt(it.p.x + dx, it.p.y + dy, e);
      if (covered(b)) continue;
      if (!onView || !room || within(view, b)) { best = [dx, dy, b]; break; }
      spare ||= [dx, dy, b];   // free but off screen: used only when the screen has no room left
    }
    if (!best) room = false;
    const [dx, dy, b] = best || spare || [0, 0, boxAt(it.p.x, it.p.y, e)];
    it.dx = dx; it.dy = dy;
    occupy(b);
  }
  lastSpread = { key, at: new Map(items.map((it) => [`${it.kind}:${it.id}`, [it.dx, it.dy]])) };
}

function leader(dx, dy, colour) {
  if (!dx && !dy) return "";
  return `<svg class="leader" width="1" height="1"><line x1="0" y1="0" x2="${dx}" y2="${dy}" stroke="${colour}" stroke-width="1.5" stroke-opacity="0.6"/>` +
    `<circle cx="0" cy="0" r="3" fill="${colour}" stroke="#000"/></svg>`;
}

// A tooltip is bound again only when its text or offset changed: binding makes a new Leaflet
// tooltip, and a draw over a few hundred markers did that for each of them.
function tooltip(m, text, offset) {
  const key = `${text}|${offset || ""}`;
  if (m._tipKey === key) return;
  m._tipKey = key;
  m.bindTooltip(text, offset ? { offset } : undefined);
}

function placed(kind, id, latlng, key, html, options) {
  let m = markers[kind].get(id);
  const icon = () => L.divIcon({ className: `spread-marker ${options.className || ""}`, iconSize: [0, 0], html });
  if (!m) {
    m = L.marker(latlng, { icon: icon(), keyboard: false, zIndexOffset: options.z || 0 }).addTo(layers[kind]);
    if (options.click) m.on("click", options.click);
    m._key = key;
    markers[kind].set(id, m);
  } else {
    // Each of these writes the marker's DOM (and so restyles it) even when nothing changed.
    const at = m.getLatLng();
    if (at.lat !== latlng[0] || at.lng !== latlng[1]) m.setLatLng(latlng);
    if (m._key !== key) { m.setIcon(icon()); m._key = key; }
    if ((m.options.zIndexOffset || 0) !== (options.z || 0)) m.setZIndexOffset(options.z || 0);
  }
  return m;
}

function drawIncident(it) {
  const { inc, t: now } = it;
  const wait = model.waiting(inc, now);
  // The body keeps its agency colour whatever its age; the cue is a ring (amber, red) and, past the
  // promise, a badge and a dashed white border: shape and words, not one more shade.
  const cue = model.urgency(wait, state.config) || "ok";
  const fill = model.agencyColour(inc.agency);
  const sel = inc.id === selectedId;
  const cls = `inc-icon p${inc.priority} cue-${cue}${sel ? " selected" : ""}`;
  const key = `${cls}|${fill}|${it.dx},${it.dy}`;
  const html = leader(it.dx, it.dy, "#e8edf2") +
    `<div class="${cls}" data-incident="${inc.id}" data-cue="${cue}" data-style="left:${it.dx}px;top:${it.dy}px;height:${it.h}px;` +
    `min-width:${it.h}px;background:${fill}">${it.text}</div>`;
  const m = placed("incidents", inc.id, [inc.lat, inc.lon], key, html,
    { z: (sel ? 3000 : 2000) - inc.priority * 100, click: () => onSelect(inc.id) });
  const late = cue === "breached" ? "; " + (inc.onsceneAt ? t("promise missed") : t("PROMISE BREACHED")) : "";
  tooltip(m, `#${inc.id} ${model.escape(model.label(inc.category))} (P${inc.priority}, ${model.escape(model.agencyName(inc.agency))}) — ${model.escape(model.label(inc.state))}` +
    `<br>${model.escape(model.place(inc))}<br>${model.escape(t("waiting {wait}", { wait: model.duration(wait) }) + late)}; ` +
    `${model.escape(t("location {source}", { source: model.label(inc.locSource) }))}${inc.locAcc !== null ? " ±" + inc.locAcc + " m" : ""}`, [it.dx, it.dy]);
  // Location confidence drawn as a circle of the reported accuracy, at the true point.
  if (inc.locAcc) {
    if (!m._acc) m._acc = L.circle([inc.lat, inc.lon], { radius: inc.locAcc, color: fill, weight: 1, fillOpacity: 0.08, interactive: false }).addTo(layers.incidents);
    else m._acc.setLatLng([inc.lat, inc.lon]).setRadius(inc.locAcc);
  }
}

function unitSvg(colour, heading, stale) {
  const rot = heading === null || heading === undefined ? null : heading;
  const arrow = rot === null ? "" : `<path d="M0,-15 L5,-7 L-5,-7 Z" fill="${colour}" transform="rotate(${rot})"/>`;
  return `<svg width="30" height="30" viewBox="-15 -15 30 30">${arrow}<rect x="-7" y="-7" width="14" height="14" rx="3"
    fill="${colour}" stroke="#000" stroke-width="1.5" opacity="${stale ? 0.6 : 1}"/></svg>`;
}

function drawUnit(it) {
  const { u, t: now } = it;
  const stale = model.unitIsStale(u, state.config.stale_fix_s, now);
  const colour = stale || u.status === "oos" ? "#6b7785" : model.agencyColour(u.agency);
  const key = `${stale}|${colour}|${u.heading}|${u.callsign}|${it.dx},${it.dy}`;
  const html = leader(it.dx, it.dy, colour) +
    `<div class="unit-mk" data-unit="${model.escape(u.id)}" data-style="left:${it.dx}px;top:${it.dy}px">${unitSvg(colour, u.heading, stale)}` +
    `<span class="callsign">${model.escape(u.callsign)}</span></div>`;
  const m = placed("units", u.id, [u.lat, u.lon], key, html, { className: `unit-icon${stale ? " stale" : ""}` });
  tooltip(m, `${model.escape(u.callsign)} (${model.escape(model.agencyName(u.agency))}) — ${model.escape(model.label(u.status))}${stale ? ` — ${model.escape(t("stale fix"))}` : ""}` +
    `${u.incidentId ? ` — #${u.incidentId}` : ""}`, [it.dx, it.dy]);
}

const HEALTH_COLOUR = { online: "#3ecf6e", offline: "#6b7785", "low battery": "#ffb020", tamper: "#ff4d4d",
  "prank-flagged": "#d35cff", stuck: "#ffb020", unknown: "#9aa8b6" };

function drawDevices() {
  if (!map) return;
  const seen = new Set();
  for (const d of state.devices.values()) {
    if (d.lat === null || d.kind === "tracker") continue;
    seen.add(d.id);
    const health = model.deviceHealth(d);
    const colour = HEALTH_COLOUR[health] || "#9aa8b6";
    let m = markers.devices.get(d.id);
    const cls = `device-marker health-${health.replace(/ /g, "-")}`;
    if (m && m._cls !== cls) { layers.devices.removeLayer(m); m = null; }  // Leaflet cannot change a path's class
    if (!m) {
      m = L.circleMarker([d.lat, d.lon], { radius: health === "online" ? 4 : 6, weight: 1, color: "#000", fillOpacity: 0.9,
        fillColor: colour, className: cls }).addTo(layers.devices);
      m._cls = cls;
      markers.devices.set(d.id, m);
    }
    tooltip(m, `${model.escape(t("Button {id}", { id: d.id }))} — ${model.escape(model.label(health))}<br>${model.escape(d.site)}` +
      (d.prankCount ? `<br>${model.escape(t("pranks: {n}", { n: d.prankCount }))}` : ""));
  }
  for (const [id, m] of markers.devices) if (!seen.has(id)) { layers.devices.removeLayer(m); markers.devices.delete(id); }
}
