// Keyboard shortcuts: the dispatcher's hands stay on the keyboard. Ignored while typing in a field
// or while a dialog is open (the dialog has its own Enter/Esc).
export function initKeys(bindings) {
  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const t = e.target;
    if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable)) {
      if (e.key === "Escape") t.blur();
      return;
    }
    if (document.querySelector("dialog[open]")) return;
    const fn = bindings[e.key] || bindings[e.key.toLowerCase()];
    if (fn) { e.preventDefault(); fn(); }
  });
}
