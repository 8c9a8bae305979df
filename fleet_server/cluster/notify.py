"""The workers' shared live feed over PostgreSQL LISTEN/NOTIFY: every event a worker puts on its
own feed (incidents, devices, dispatch, throttled unit positions) is also sent, in order, on the
channel `siaga_events`; every worker listens and hands the others' events to its own feed and
caches. So an operator connected to any worker sees every event, and each worker's unit
positions, dispatch index and active-device cache follow what the others heard.

Why the database and not the broker: the workers already share it, NOTIFY is delivered only after
its transaction commits, in commit order, to every listening session, and it adds no account or
ACL to the broker. A NOTIFY payload is at most 8,000 bytes: a larger event travels in numbered
parts, put back together by the listener. A listener that loses its connection reconnects with
backoff; what it missed meanwhile is in the database (the feed is a view, the database the truth,
as for the one-process feed: fleet_server/events.py).

Each event carries its origin (the worker's name), so a worker ignores its own echo."""
from __future__ import annotations

import json
import logging
import queue
import threading
import time
import uuid
from typing import Callable

from sqlalchemy.engine import Engine

from fleet_server.logs import event

log = logging.getLogger("siaga.cluster")

CHANNEL = "siaga_events"
MAX_PART = 7000          # characters of one NOTIFY payload part (the limit is 8,000 bytes)


class ClusterFeed:
    def __init__(self, engine: Engine, origin: str, deliver: Callable[[dict], None]):
        self.engine = engine
        self.origin = origin
        self.deliver = deliver
        self.sent = self.received = self.failed = 0
        self._out: "queue.Queue[dict | None]" = queue.Queue(100_000)
        self._parts: dict[str, list] = {}
        self._stop = threading.Event()
        self._listening = threading.Event()
        self._threads = [threading.Thread(target=self._send_loop, name="siaga-notify-send", daemon=True),
                         threading.Thread(target=self._listen_loop, name="siaga-notify-listen", daemon=True)]

    def start(self, timeout: float = 10.0) -> "ClusterFeed":
        for t in self._threads:
            t.start()
        if not self._listening.wait(timeout):
            event(log, logging.WARNING, "cluster feed not listening yet; retrying in the background")
        return self

    def stop(self) -> None:
        self._stop.set()
        self._out.put(None)
        for t in self._threads:
            t.join(5)

    def publish(self, ev: dict) -> None:
        """An event of this worker, for the others (never blocks the ingest: a full queue drops
        and counts, the database keeps the truth)."""
        try:
            self._out.put_nowait(ev)
        except queue.Full:
            self.failed += 1

    # ---- inside ----------------------------------------------------------------------------
    def _raw(self):
        """A connection of its own, made exactly as the engine makes them (so a multi-host DSN
        or a failover-aware URL applies here too), taken out of the pool, in autocommit."""
        fairy = self.engine.raw_connection()
        fairy.detach()
        conn = fairy.dbapi_connection
        conn.autocommit = True
        return conn

    def _send_loop(self) -> None:
        conn = None
        while True:
            ev = self._out.get()
            if ev is None:
                break
            body = json.dumps({"o": self.origin, "e": ev}, separators=(",", ":"), default=str)
            parts = [body] if len(body) <= MAX_PART else [
                json.dumps({"o": self.origin, "p": pid, "n": i, "of": n, "d": body[i * MAX_PART:(i + 1) * MAX_PART]},
                           separators=(",", ":"))
                for pid in [uuid.uuid4().hex[:12]] for n in [-(-len(body) // MAX_PART)] for i in range(n)]
            for attempt in range(3):
                try:
                    if conn is None:
                        conn = self._raw()
                    with conn.cursor() as cur:
                        for p in parts:
                            cur.execute("SELECT pg_notify(%s, %s)", (CHANNEL, p))
                    self.sent += 1
                    break
                except Exception as e:
                    event(log, logging.WARNING, "cluster notify failed", error=repr(e)[:200], attempt=attempt)
                    conn = _close(conn)
                    time.sleep(0.2 * (attempt + 1))
            else:
                self.failed += 1
        _close(conn)

    def _listen_loop(self) -> None:
        backoff = 0.2
        while not self._stop.is_set():
            conn = None
            try:
                conn = self._raw()
                conn.execute(f"LISTEN {CHANNEL}")
                self._listening.set()
                backoff = 0.2
                while not self._stop.is_set():
                    for n in conn.notifies(timeout=0.5):
                        self._on_payload(n.payload)
            except Exception as e:
                if self._stop.is_set():
                    break
                event(log, logging.WARNING, "cluster feed listener lost its connection; reconnecting",
                      error=repr(e)[:200], backoff_s=backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                _close(conn)

    def _on_payload(self, payload: str) -> None:
        try:
            msg = json.loads(payload)
            if msg.get("o") == self.origin:
                return
            if "p" in msg:
                parts = self._parts.setdefault(msg["p"], [None] * msg["of"])
                parts[msg["n"]] = msg["d"]
                if any(p is None for p in parts):
                    if len(self._parts) > 1000:      # a sender died mid-event: forget the oldest
                        self._parts.pop(next(iter(self._parts)))
                    return
                del self._parts[msg["p"]]
                msg = json.loads("".join(parts))
            self.received += 1
            self.deliver(msg["e"])
        except Exception:
            log.exception("cluster feed event not delivered")


def _close(conn):
    if conn is not None:
        try:
            conn.close()
        except Exception:
            pass
    return None
