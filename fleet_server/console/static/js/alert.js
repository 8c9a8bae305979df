// Cues for the dispatcher: a beep synthesised with WebAudio (no sound file to ship), a red flash of
// the screen border, a toast, and the confirmation dialog every closing action goes through.
import { t } from "./i18n.js";

let audio = null;
let soundOn = true;

export function setSound(on) { soundOn = on; }
export function soundEnabled() { return soundOn; }

// Browsers only let a page make sound after a user gesture: the login click unlocks it for the shift.
export function unlockAudio() {
  try {
    audio ||= new (window.AudioContext || window.webkitAudioContext)();
    if (audio.state === "suspended") audio.resume();
  } catch (e) { console.warn("no audio", e); }
}

export function beep() {
  if (!soundOn) return false;
  try {
    audio ||= new (window.AudioContext || window.webkitAudioContext)();
    if (audio.state === "suspended") audio.resume();
    // Three short 880/660 Hz tones: distinct from a phone ring, audible over a room.
    const t0 = audio.currentTime;
    for (let i = 0; i < 3; i++) {
      const osc = audio.createOscillator(), gain = audio.createGain();
      osc.type = "square";
      osc.frequency.value = i % 2 ? 660 : 880;
      gain.gain.setValueAtTime(0.0001, t0 + i * 0.25);
      gain.gain.exponentialRampToValueAtTime(0.2, t0 + i * 0.25 + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, t0 + i * 0.25 + 0.2);
      osc.connect(gain).connect(audio.destination);
      osc.start(t0 + i * 0.25);
      osc.stop(t0 + i * 0.25 + 0.22);
    }
    window.siagaBeeps = (window.siagaBeeps || 0) + 1;  // observable by the browser tests
    return true;
  } catch (e) { console.warn("no audio", e); return false; }
}

export function flash() {
  const el = document.getElementById("sos-flash");
  el.classList.remove("on");
  void el.offsetWidth;  // restart the animation
  el.classList.add("on");
}

let toastTimer = null;
export function toast(text, isError = false) {
  const el = document.getElementById("toast");
  el.textContent = text;
  el.className = "show" + (isError ? " error" : "");
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.className = ""; }, isError ? 6000 : 3000);
}

// The answer of the dialog on screen. dialog.close() drops [open] at once but fires "close" later,
// as a task: a key pressed in between opens the next dialog before the last one's close arrives.
let pendingDone = null;

// Resolves with the reason text (possibly "") on confirm, or null on cancel.
export function confirmAction({ title, text, reason = null, okLabel = null, danger = false }) {
  const dlg = document.getElementById("confirm-dialog");
  const input = document.getElementById("confirm-reason");
  // The earlier dialog is closed but its close event has not come yet: give it its answer now.
  if (pendingDone) pendingDone(!dlg.open && dlg.returnValue === "ok" ? input.value.trim() : null);
  document.getElementById("confirm-title").textContent = title;
  document.getElementById("confirm-text").textContent = text;
  const label = document.getElementById("confirm-reason-label");
  label.hidden = reason === null;
  input.value = reason ?? "";
  const ok = document.getElementById("confirm-ok");
  // The button's own text sits in its first child (index.html), before the key hint.
  ok.firstElementChild.textContent = okLabel ?? t("Confirm");
  ok.className = danger ? "danger" : "primary";
  const cancel = document.getElementById("confirm-cancel");
  return new Promise((resolve) => {
    const onCancel = () => dlg.close("cancel");
    const done = (value) => {
      dlg.removeEventListener("close", onClose);
      if (cancel.onclick === onCancel) cancel.onclick = null;
      if (pendingDone === done) pendingDone = null;
      resolve(value);
    };
    // A close event that arrives while a dialog is open belongs to the one before it.
    const onClose = () => { if (!dlg.open) done(dlg.returnValue === "ok" ? input.value.trim() : null); };
    dlg.addEventListener("close", onClose);
    cancel.onclick = onCancel;
    pendingDone = done;
    dlg.returnValue = "";
    dlg.showModal();
    (reason === null ? ok : input).focus();
    if (reason !== null) input.select();
  });
}
