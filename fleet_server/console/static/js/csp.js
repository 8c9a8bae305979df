// The server's Content-Security-Policy allows no inline style attributes (style-src 'self'), so
// markup built as text carries its per-element styles (an agency's colour, a marker's offset) in
// data-style; this applies them through the CSSOM, which the policy allows, before the next paint.
function apply(root) {
  if (root.nodeType !== 1) return;
  if (root.dataset.style !== undefined) root.style.cssText = root.dataset.style;
  for (const el of root.querySelectorAll("[data-style]")) el.style.cssText = el.dataset.style;
}

new MutationObserver((changes) => {
  for (const c of changes) {
    if (c.type === "attributes") apply(c.target);
    else for (const n of c.addedNodes) apply(n);
  }
}).observe(document.documentElement, { childList: true, subtree: true, attributes: true, attributeFilter: ["data-style"] });
apply(document.documentElement);
