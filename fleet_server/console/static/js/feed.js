// The live feed: one WebSocket that reconnects by itself with capped exponential backoff and jitter
// (a server restart must not make every console reconnect in the same millisecond). After each
// (re)connect the caller resynchronises from the REST API, because events sent while the link was
// down are gone: the feed is a view, the database is the truth.
export class Feed {
  constructor({ url, onEvent, onState, onOpen, minDelayMs = 500, maxDelayMs = 15000 }) {
    Object.assign(this, { url, onEvent, onState, onOpen, minDelayMs, maxDelayMs });
    this.attempt = 0;
    this.ws = null;
    this.timer = null;
    this.stopped = false;
    this.connects = 0;
  }

  start() { this.stopped = false; this._connect(); }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.ws) { this.ws.onclose = null; this.ws.close(); this.ws = null; }
    this.onState("stopped");
  }

  _connect() {
    this.onState(this.connects ? "reconnecting" : "connecting");
    let ws;
    try { ws = new WebSocket(this.url()); } catch (e) { this._retry(); return; }
    this.ws = ws;
    ws.onopen = () => {
      this.attempt = 0;
      this.connects += 1;
      this.onState("live");
      this.onOpen(this.connects);
    };
    ws.onmessage = (m) => {
      let ev;
      try { ev = JSON.parse(m.data); } catch { console.warn("feed: not JSON", m.data); return; }
      for (const one of Array.isArray(ev) ? ev : [ev]) {
        try { this.onEvent(one); } catch (e) { console.error("feed: event handler failed", e, one); }
      }
    };
    ws.onclose = (e) => {
      this.ws = null;
      if (this.stopped) return;
      // 4401/1008: the server refused the token; reconnecting would loop forever.
      if (e.code === 4401 || e.code === 4403 || e.code === 1008) { this.onState("refused"); return; }
      this._retry();
    };
    ws.onerror = () => {};  // onclose follows and decides
  }

  _retry() {
    if (this.stopped) return;
    const base = Math.min(this.maxDelayMs, this.minDelayMs * 2 ** this.attempt);
    const delay = base / 2 + Math.random() * base / 2;
    this.attempt += 1;
    this.onState("reconnecting", delay);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this._connect(), delay);
  }
}
