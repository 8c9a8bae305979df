// The incident's run card (SOP) as a checklist: the steps to take, who to notify, the unit types
// dispatch proposes first. Ticking a step records who did it and when (audited on the server);
// a ticked step stays ticked. Every text goes through t() for the message catalogue.
import * as api from "./api.js";
import * as model from "./model.js";
import { toast } from "./alert.js";
import { t } from "./i18n.js";

export const paths = {
  checklist: (id) => `/api/v1/incidents/${id}/sop`,
  tick: (id) => `/api/v1/incidents/${id}/sop/ticks`,
};
const esc = model.escape;

// incident.js calls this after drawing an incident, with the element kept for the card.
export async function renderRunCard(el, inc, reload) {
  if (!el) return;
  let card = null;
  try { card = (await api.get(paths.checklist(inc.id))).card; }
  catch (e) { el.innerHTML = `<p class="error pad">${esc(t("Run card could not be loaded: {why}", { why: e.message }))}</p>`; return; }
  if (!el.isConnected) return;
  if (!card) { el.innerHTML = ""; return; }
  const canTick = api.can("operator") && model.OPEN_STATES.includes(inc.state);
  el.innerHTML = `<div class="inc-section" id="sop-card" data-card="${esc(card.id)}">
    <h3>${esc(t("Run card: {title}", { title: t(card.title) }))} <span class="tag" id="sop-done">${esc(t("{done} of {total} done", { done: card.done, total: card.steps.length }))}</span></h3>
    <ol class="sop-steps">${card.steps.map((s) => `<li class="sop-step${s.ticked ? " ticked" : ""}" data-step="${esc(s.id)}">
      <label><input type="checkbox" data-sop-step="${esc(s.id)}"${s.ticked ? " checked disabled" : ""}${canTick ? "" : " disabled"}>
        ${esc(t(s.text))}</label>
      ${s.ticked ? `<span class="muted sop-who">${esc(t("{by} at {time}", { by: s.ticked.by, time: model.clockTime(s.ticked.at) }))}</span>` : ""}</li>`).join("")}</ol>
    ${card.notify.length ? `<p class="sop-notify">${esc(t("Notify"))}: ${card.notify.map((n) => esc(t(n))).join(", ")}</p>` : ""}
    ${card.unit_types.length ? `<p class="sop-types muted">${esc(t("Units proposed first"))}: ${card.unit_types.map((u) => esc(t(model.label(u)))).join(", ")}</p>` : ""}
  </div>`;
  el.querySelectorAll("input[data-sop-step]").forEach((box) => box.addEventListener("change", () => tick(inc, box, reload)));
}

async function tick(inc, box, reload) {
  if (!box.checked) return;
  box.disabled = true;
  try {
    await api.post(paths.tick(inc.id), { step: box.dataset.sopStep });
    await reload();
  } catch (e) {
    box.checked = false; box.disabled = false;
    toast(t("Refused: {why}", { why: e.message }), true);
  }
}
