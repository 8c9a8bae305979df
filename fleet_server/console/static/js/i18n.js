// Every user-facing text of the console goes through t(): the English text is the key, and a
// message catalogue (static/i18n/<lang>.json, a flat {English: translation} object) replaces it.
// t("Reclassify #{id}", { id: 7 }) -> "Reclassify #7"; values are substituted after the lookup.
// A text kept in a constant is marked N_("…") where it is written and translated with t(name)
// where it is shown, so tests/console/test_i18n_catalogue.py finds every key. index.html's own
// texts carry data-i18n (the element's text is the key) and data-i18n-attr="title,aria-label"
// (those attributes' values are keys); applyStatic() translates them. docs/i18n.md.
export const LANGUAGES = { en: "English", id: "Bahasa Indonesia" };
let catalogue = {};
let language = "en";

export function setCatalogue(messages) { catalogue = messages || {}; }
export const currentLanguage = () => language;
export const N_ = (text) => text;

export function t(text, vars) {
  const s = catalogue[text] ?? text;
  return vars ? s.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m)) : s;
}

// Loads a language's catalogue (English needs none) and translates the page's own texts.
export async function useLanguage(lang) {
  const want = LANGUAGES[lang] ? lang : "en";
  if (want === "en") setCatalogue({});
  else {
    const res = await fetch(`/console/static/i18n/${want}.json`);
    if (!res.ok) throw new Error(`catalogue ${want}: ${res.status}`);
    setCatalogue(await res.json());
  }
  language = want;
  document.documentElement.lang = want;
  applyStatic(document);
  return want;
}

export function applyStatic(root) {
  for (const el of root.querySelectorAll("[data-i18n]")) {
    if (!el.dataset.i18n) el.dataset.i18n = el.textContent.trim();
    el.textContent = t(el.dataset.i18n);
  }
  for (const el of root.querySelectorAll("[data-i18n-attr]")) {
    for (const name of el.dataset.i18nAttr.split(",").map((a) => a.trim()).filter(Boolean)) {
      const keep = `data-i18n-${name}`;
      if (!el.hasAttribute(keep)) el.setAttribute(keep, el.getAttribute(name) || "");
      el.setAttribute(name, t(el.getAttribute(keep)));
    }
  }
}
