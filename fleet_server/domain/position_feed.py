"""Unit positions for the live feed (the WebSocket), at most one event per unit per interval.

A tracker may report every second while the console only needs a marker to glide: the feed keeps
the newest suppressed fix of each unit and hands it out once the unit's interval has passed, so
the last position of a unit that stops reporting is never lost."""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from fleet_server.domain.units import Position, Unit

Subscriber = Callable[[dict], None]
log = logging.getLogger("siaga.units.feed")


def position_event(unit: Unit, pos: Position) -> dict:
    return {"type": "unit.position", "unit": unit.id, "callsign": unit.callsign, "agency": unit.agency,
            "status": unit.status, "lat": pos.lat, "lon": pos.lon, "ts": pos.ts, "acc": pos.acc,
            "spd": pos.spd, "hdg": pos.hdg}


class PositionFeed:
    def __init__(self, min_interval_s: float = 1.0, clock: Callable[[], float] | None = None):
        self.min_interval_s = min_interval_s
        self._clock = clock or time.monotonic
        self._last_sent: dict[str, float] = {}
        self._held: dict[str, tuple[Unit, Position]] = {}
        self._subscribers: list[Subscriber] = []
        self._lock = threading.Lock()
        self.sent = 0
        self.suppressed = 0

    def subscribe(self, fn: Subscriber) -> Callable[[], None]:
        """fn(event) is called from the ingest thread: keep it quick (e.g. put into an asyncio queue
        with loop.call_soon_threadsafe). Returns the unsubscribe function."""
        with self._lock:
            self._subscribers.append(fn)

        def unsubscribe() -> None:
            with self._lock:
                if fn in self._subscribers:
                    self._subscribers.remove(fn)
        return unsubscribe

    def offer(self, unit: Unit, pos: Position) -> bool:
        """Tracking.on_position listener. True when the event went out now."""
        now = self._clock()
        with self._lock:
            last = self._last_sent.get(unit.id)
            if last is not None and now - last < self.min_interval_s:
                # Held as-is; the event is built only if it is ever sent (most are superseded).
                self._held[unit.id] = (unit, pos)
                self.suppressed += 1
                return False
            self._last_sent[unit.id] = now
            self._held.pop(unit.id, None)
        self._send(position_event(unit, pos))
        return True

    def release_due(self) -> int:
        """Send held events whose unit's interval has passed; call it on a timer (e.g. every
        interval/2). Returns how many went out."""
        now = self._clock()
        due = []
        with self._lock:
            for uid, held in list(self._held.items()):
                if now - self._last_sent.get(uid, 0.0) >= self.min_interval_s:
                    due.append(position_event(*held))
                    self._last_sent[uid] = now
                    del self._held[uid]
        for ev in due:
            self._send(ev)
        return len(due)

    def _send(self, ev: dict) -> None:
        with self._lock:
            subs = list(self._subscribers)
            self.sent += 1
        for fn in subs:
            try:
                fn(ev)
            except Exception:  # one slow or broken console must not stop the others or the ingest

                log.exception("feed subscriber failed")
