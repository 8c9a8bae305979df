"""The units side of the command center in one object: live tracking, the throttled position
feed, recommendations and assignments, persisted through the ports of repositories.py (the app's
lifespan hands it the SQLAlchemy unit store, the batched position history and telemetry; tests may
hand it nothing and it runs in memory). The ingest hands it `pos`, `crew` and `cmdres` messages
(decoded by protocols) through handle(); the API reads it from app.state.fleet."""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from fleet_server.domain.assignments import AssignmentConfig, Dispatch, Publish
from fleet_server.domain.eta import EtaModel
from fleet_server.domain.position_feed import PositionFeed
from fleet_server.domain.position_filter import FilterConfig, PositionFilter
from fleet_server.domain.recommend import Recommender, RecommenderConfig
from fleet_server.domain.repositories import (AlwaysHeld, Journal, Lease, PositionHistory, PositionSink,
                                             UnitRepository)
from fleet_server.domain.tracking import Tracking, TrackingConfig
from fleet_server.domain.units import Position, Unit

log = logging.getLogger("siaga.units")


@dataclass(frozen=True)
class FleetConfig:
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    filter: FilterConfig = field(default_factory=FilterConfig)
    recommend: RecommenderConfig = field(default_factory=RecommenderConfig)
    assignments: AssignmentConfig = field(default_factory=AssignmentConfig)
    history_retention_s: float = 30 * 86400
    retention_every_s: float = 3600.0      # how often the background thread purges old history
    feed_interval_s: float = 1.0


class Fleet:
    def __init__(self, publish: Publish, config: FleetConfig | None = None,
                 on_event: Callable[[dict], None] | None = None, eta: EtaModel | None = None, *,
                 store: UnitRepository | None = None, journal: Journal | None = None,
                 batcher: PositionHistory | None = None, telemetry: PositionSink | None = None):
        """store: where units live between restarts; journal: dispatch's state; batcher: the
        position history writer; telemetry: another sink for accepted fixes. Each is optional:
        without them the fleet lives in memory only."""
        self.config = c = config or FleetConfig()
        self.store = store
        self.batcher = batcher
        self.telemetry = telemetry
        self.tracking = Tracking(c.tracking, PositionFilter(c.filter), persist=self._persist)
        if self.store is not None:
            for u in self.store.load_units():
                self.tracking.add_unit(u)
            self.tracking.on_status(lambda u, old, new, by: self.store.save_status(u.id, new, u.status_at))
        self.feed = PositionFeed(c.feed_interval_s)
        self.tracking.on_position(self.feed.offer)
        self.recommender = Recommender(self.tracking, eta, c.recommend)
        self.dispatch = Dispatch(self.tracking, self.recommender, publish, c.assignments, on_event,
                                 journal=journal)
        self._stop = threading.Event()
        self._feed_timer: threading.Thread | None = None
        self.retention_lease: Lease = AlwaysHeld()   # history retention runs only while held

    # ---- what the core calls ----------------------------------------------------------------
    def handle(self, kind: str, msg: dict, received_at: float | None = None):
        """The ingest's entry for tracker messages: kind is the topic's type ("pos", "crew",
        "cmdres"), msg the protocols-decoded dict. Returns the Position/Unit/Assignment or a
        Rejection (None for a cmdres that answers no dispatch order)."""
        at = time.time() if received_at is None else received_at
        if kind == "pos":
            return self.tracking.accept_position(msg, at)
        if kind == "crew":
            return self.tracking.accept_crew(msg, at)
        if kind == "cmdres":
            return self.dispatch.on_cmdres(msg, at)
        return None

    def register(self, unit: Unit) -> Unit:
        """Add or update a unit (and its tracker binding), in memory and in the database."""
        self.register_many([unit])
        return unit

    def register_many(self, units: list[Unit]) -> None:
        for u in units:
            self.tracking.add_unit(u)
        if self.store is not None:
            self.store.save_units(units)
        for u in units:
            if u.position is not None:
                self.recommender.index.update(u)

    def history(self, unit_id: str, since: float | None = None, until: float | None = None,
                limit: int = 10000) -> list[Position] | None:
        """The unit's track, oldest first; None without a store. What was accepted a moment ago
        belongs in it, so pending fixes are written first (bounded: the database may be down)."""
        if self.store is None:
            return None
        if self.batcher is not None:
            self.batcher.flush(0.5)
        return self.store.history(unit_id, since, until, limit)

    def purge_history(self, now: float | None = None) -> int:
        """Retention; call it daily (the core's supervisor)."""
        now = time.time() if now is None else now
        return self.store.purge_history(now - self.config.history_retention_s) if self.store is not None else 0

    def start(self) -> "Fleet":
        """Background work: dispatch ack timeouts, held feed events released on time, history
        retention every retention_every_s."""
        self.dispatch.start()
        self._stop.clear()
        self._feed_timer = threading.Thread(target=self._background, name="unit-background", daemon=True)
        self._feed_timer.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._feed_timer is not None:
            self._feed_timer.join(5)
        self.dispatch.stop()
        if self.batcher is not None:
            self.batcher.close()
        if self.telemetry is not None:
            self.telemetry.close()

    def stats(self) -> dict:
        return {"positions_accepted": self.tracking.filter.accepted,
                "positions_rejected": dict(self.tracking.filter.rejected),
                "history_written": self.batcher.written if self.batcher is not None else 0,
                "history_dropped": self.batcher.dropped if self.batcher is not None else 0,
                "telemetry": self.telemetry.stats() if self.telemetry is not None else None,
                "feed_sent": self.feed.sent, "feed_suppressed": self.feed.suppressed}

    def _background(self) -> None:
        """Held feed events out on time; history retention now and then."""
        next_purge = time.monotonic()
        while not self._stop.wait(max(0.02, self.config.feed_interval_s / 2)):
            try:
                self.feed.release_due()
                if time.monotonic() >= next_purge and self.retention_lease.held():
                    next_purge = time.monotonic() + self.config.retention_every_s
                    gone = self.purge_history()
                    if gone:
                        log.info("history retention removed %d positions", gone)
            except Exception:
                log.exception("units background work failed")

    def apply_remote_position(self, ev: dict) -> bool:
        """A unit position another worker accepted (its feed event, fleet_server/cluster/notify.py):
        the unit's last position and the recommender's index follow; nothing is stored again (the
        worker that heard it stored it) nor fed again (the event already is on the feed)."""
        unit = self.tracking.get(ev.get("unit", ""))
        if unit is None or ev.get("lat") is None:
            return False
        pos = Position(lat=int(ev["lat"]), lon=int(ev["lon"]), ts=float(ev["ts"]), received_at=time.time(),
                       acc=ev.get("acc"), spd=ev.get("spd"), hdg=ev.get("hdg"))
        if unit.position is not None and unit.position.ts >= pos.ts:
            return False   # ours is as new or newer
        unit.position = pos
        if ev.get("status") and ev["status"] != unit.status:
            unit.status = ev["status"]   # the crew's key pressed on a tracker another worker heard
        self.recommender.index.update(unit)
        return True

    def _persist(self, unit, pos) -> None:
        if self.batcher is not None:
            self.batcher.add(unit, pos)
        if self.telemetry is not None:
            self.telemetry.write_position(unit, pos)

