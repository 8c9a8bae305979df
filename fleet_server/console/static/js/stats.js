// Statistics: today's incidents per agency, and the clock percentiles (receive -> acknowledge ->
// dispatch -> on scene) per agency against the 5-minute promise, drawn as SVG by hand (a few bars
// do not justify a chart library). The numbers come from GET /api/v1/stats (fleet_server.domain.stats).
import { t, N_ } from "./i18n.js";
import * as api from "./api.js";
import * as model from "./model.js";
import { state } from "./store.js";

const CLOCKS = [["to_acknowledge_s", N_("receive → acknowledge")], ["to_dispatch_s", N_("receive → dispatch")], ["response_s", N_("receive → on scene")]];

// Midnight of the server's statistics day (WIB, UTC+7, unless configured otherwise).
export function dayStart(t, offsetH) {
  const off = offsetH * 3600;
  return Math.floor((t + off) / 86400) * 86400 - off;
}

export async function renderStats() {
  const el = document.getElementById("stats-view");
  const since = dayStart(model.now(), state.config.day_utc_offset_h ?? 7);
  let rows;
  try {
    rows = api.items(await api.get(api.paths.stats, { since }), "rows");
  } catch (e) {
    el.innerHTML = `<p class="error">${model.escape(t("Statistics could not be loaded: {why}", { why: e.message }))}</p>`;
    return;
  }
  // Rows are per (agency, day); since is today's midnight, so at most one day, but merge to be safe.
  const byAgency = new Map();
  for (const r of rows) if (!byAgency.has(r.agency) || byAgency.get(r.agency).day < r.day) byAgency.set(r.agency, r);
  const list = [...byAgency.values()].sort((a, b) => b.count - a.count);
  const total = list.reduce((s, r) => s + r.count, 0);
  const promise = state.config.promise_s;
  const day = new Date((since + (state.config.day_utc_offset_h ?? 7) * 3600) * 1000).toISOString().slice(0, 10);
  el.innerHTML = `<h2>${model.escape(t("Today, {day}", { day }))} <span class="muted">${model.escape(t("{n} incidents · promise {promise} from receipt to a unit on scene", { n: total, promise: model.duration(promise) }))}</span></h2>
    <div class="charts">
      <figure id="chart-agencies"><figcaption>${model.escape(t("Incidents per agency (solid: still open)"))}</figcaption>${countChart(list)}</figure>
      ${CLOCKS.map(([k, name]) => `<figure id="chart-${k}"><figcaption>${model.escape(t("{clock}: p50 (solid) and p90 (light) per agency; dashed = promise", { clock: t(name) }))}</figcaption>${clockChart(list, k, promise)}</figure>`).join("")}
    </div>
    <h3>${model.escape(t("Per agency"))}</h3>
    <table class="list" id="stats-table"><tr><th>${t("Agency")}</th><th>${t("Incidents")}</th><th>${t("Open")}</th>${CLOCKS.map(([, n]) => `<th>${model.escape(t(n))}<br>p50 / p90 / ${t("max")}</th>`).join("")}<th>${model.escape(t("On scene within promise"))}</th><th>${model.escape(t("Promise breached"))}</th></tr>
      ${list.map((r) => `<tr data-agency="${model.escape(r.agency)}"><td>${model.escape(model.agencyName(r.agency))}</td><td>${r.count}</td><td>${r.open ?? ""}</td>
        ${CLOCKS.map(([k]) => { const c = (r.clocks || {})[k] || {}; return `<td>${model.duration(c.p50)} / ${model.duration(c.p90)} / ${model.duration(c.max)}</td>`; }).join("")}
        <td>${r.within_promise === null || r.within_promise === undefined ? "—" : Math.round(r.within_promise * 100) + " %"}</td>
        <td class="stats-breached${r.promise_breached ? " breached" : ""}">${r.promise_breached ?? "—"}</td></tr>`).join("")
        || `<tr><td colspan="8" class="muted">${model.escape(t("No incidents today."))}</td></tr>`}
    </table>`;
}

function countChart(list) {
  if (!list.length) return `<p class="muted">${model.escape(t("No incidents today."))}</p>`;
  const w = 560, rowH = 28, left = 120, h = list.length * rowH + 10;
  const max = Math.max(1, ...list.map((r) => r.count));
  const x = (n) => (w - left - 50) * n / max;
  return `<svg width="100%" viewBox="0 0 ${w} ${h}" role="img" aria-label="${model.escape(t("incidents per agency"))}">
    ${list.map((r, i) => {
      const y = 5 + i * rowH, c = model.agencyColour(r.agency);
      return `<text x="${left - 8}" y="${y + 17}" text-anchor="end">${model.escape(model.agencyName(r.agency))}</text>
        <rect x="${left}" y="${y + 4}" width="${x(r.count)}" height="${rowH - 10}" fill="${c}" opacity="0.55"/>
        <rect x="${left}" y="${y + 4}" width="${x(r.open || 0)}" height="${rowH - 10}" fill="${c}"/>
        <text x="${left + x(r.count) + 6}" y="${y + 17}">${r.count}</text>`;
    }).join("")}</svg>`;
}

function clockChart(list, key, promise) {
  const rows = list.filter((r) => (r.clocks || {})[key]?.n);
  if (!rows.length) return `<p class="muted">${model.escape(t("No incident has reached this step today."))}</p>`;
  const w = 560, rowH = 28, left = 120, h = rows.length * rowH + 30;
  const max = Math.max(promise * 1.15, ...rows.map((r) => r.clocks[key].p90 || 0));
  const x = (s) => (w - left - 60) * s / max;
  return `<svg width="100%" viewBox="0 0 ${w} ${h}" role="img" aria-label="${model.escape(t("{clock} percentiles", { clock: t(CLOCKS.find(([k]) => k === key)[1]) }))}">
    ${rows.map((r, i) => {
      const y = 5 + i * rowH, c = r.clocks[key], colour = (v) => (v > promise ? "#ff4d4d" : model.agencyColour(r.agency));
      return `<text x="${left - 8}" y="${y + 17}" text-anchor="end">${model.escape(model.agencyName(r.agency))}</text>
        <rect x="${left}" y="${y + 4}" width="${Math.max(1, x(c.p90))}" height="${rowH - 10}" fill="${colour(c.p90)}" opacity="0.4"/>
        <rect x="${left}" y="${y + 4}" width="${Math.max(1, x(c.p50))}" height="${rowH - 10}" fill="${colour(c.p50)}"/>
        <text x="${left + x(c.p90) + 6}" y="${y + 17}" font-size="11">${model.duration(c.p50)} / ${model.duration(c.p90)} (n=${c.n})</text>`;
    }).join("")}
    <line x1="${left + x(promise)}" x2="${left + x(promise)}" y1="2" y2="${h - 22}" stroke="#ff4d4d" stroke-dasharray="5 4"/>
    <text x="${left + x(promise)}" y="${h - 6}" text-anchor="middle" fill="#ff4d4d" font-size="11">${model.escape(t("promise {promise}", { promise: model.duration(promise) }))}</text>
  </svg>`;
}
