"""The units side of the fleet server in one object, built once in the app's lifespan:
live tracking, batched history in the database, telemetry, the throttled position feed,
recommendations and assignments. The core's ingest hands it `pos`, `crew` and `cmdres` messages
(decoded by protocols) through handle(); the API reads it from app.state.fleet."""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from sqlalchemy.engine import Engine

from fleet_server.dispatch.assignments import AssignmentConfig, Dispatch, Publish
from fleet_server.dispatch.eta import EtaModel
from fleet_server.dispatch.recommend import Recommender, RecommenderConfig
from fleet_server.telemetry.influx import TelemetryConfig, TelemetryWriter
from fleet_server.units.feed import PositionFeed
from fleet_server.units.model import Unit
from fleet_server.units.position_filter import FilterConfig, PositionFilter
from fleet_server.units.store import PositionBatcher, UnitStore
from fleet_server.units.tracking import Tracking, TrackingConfig

log = logging.getLogger("siaga.units")


@dataclass(frozen=True)
class FleetConfig:
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    filter: FilterConfig = field(default_factory=FilterConfig)
    recommend: RecommenderConfig = field(default_factory=RecommenderConfig)
    assignments: AssignmentConfig = field(default_factory=AssignmentConfig)
    telemetry: TelemetryConfig | None = None      # None: positions only in the database
    history_retention_s: float = 30 * 86400
    retention_every_s: float = 3600.0      # how often the background thread purges old history
    feed_interval_s: float = 1.0
    persist_batch: int = 500
    persist_delay_s: float = 0.5


def config_from_settings(s) -> FleetConfig:
    """FleetConfig from fleet_server.settings.Settings. The unit_*/dispatch_* fields are proposed
    to the lead (docs/dispatch.md); until they exist the defaults here apply."""
    def get(name, default):
        return getattr(s, name, default)
    auto = get("dispatch_auto_agencies", "")
    return FleetConfig(
        tracking=TrackingConfig(stale_after_s=get("unit_stale_after_s", 120.0)),
        recommend=RecommenderConfig(max_fix_age_s=get("unit_stale_after_s", 120.0)),
        assignments=AssignmentConfig(ack_timeout_s=get("dispatch_ack_timeout_s", 60.0),
                                     onscene_radius_m=get("dispatch_onscene_radius_m", 100.0),
                                     near_radius_m=get("dispatch_near_radius_m", 500.0),
                                     auto_dispatch=frozenset(a for a in str(auto).split(",") if a),
                                     button_feedback=get("dispatch_button_feedback", True)),
        telemetry=TelemetryConfig.from_settings(s),
        history_retention_s=get("unit_history_retention_s", 30 * 86400),
        feed_interval_s=get("unit_feed_interval_s", 1.0),
    )


class Fleet:
    def __init__(self, engine: Engine | None, publish: Publish, config: FleetConfig | None = None,
                 on_event: Callable[[dict], None] | None = None, eta: EtaModel | None = None):
        self.config = c = config or FleetConfig()
        self.store = UnitStore(engine).ensure_schema() if engine is not None else None
        self.batcher = PositionBatcher(self.store, c.persist_batch, c.persist_delay_s) if self.store else None
        self.telemetry = TelemetryWriter(c.telemetry) if c.telemetry else None
        self.tracking = Tracking(c.tracking, PositionFilter(c.filter), persist=self._persist)
        if self.store:
            for u in self.store.load_units():
                self.tracking.add_unit(u)
            self.tracking.on_status(lambda u, old, new, by: self.store.save_status(u.id, new, u.status_at))
        self.feed = PositionFeed(c.feed_interval_s)
        self.tracking.on_position(self.feed.offer)
        self.recommender = Recommender(self.tracking, eta, c.recommend)
        self.dispatch = Dispatch(self.tracking, self.recommender, publish, c.assignments, on_event,
                                 journal=self.store)
        self._stop = threading.Event()
        self._feed_timer: threading.Thread | None = None

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
        if self.store:
            self.store.save_units(units)
        for u in units:
            if u.position is not None:
                self.recommender.index.update(u)

    def purge_history(self, now: float | None = None) -> int:
        """Retention; call it daily (the core's supervisor)."""
        now = time.time() if now is None else now
        return self.store.purge_history(now - self.config.history_retention_s) if self.store else 0

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
        if self.batcher:
            self.batcher.close()
        if self.telemetry:
            self.telemetry.close()

    def stats(self) -> dict:
        return {"positions_accepted": self.tracking.filter.accepted,
                "positions_rejected": dict(self.tracking.filter.rejected),
                "history_written": self.batcher.written if self.batcher else 0,
                "history_dropped": self.batcher.dropped if self.batcher else 0,
                "telemetry": self.telemetry.stats() if self.telemetry else None,
                "feed_sent": self.feed.sent, "feed_suppressed": self.feed.suppressed}

    def _background(self) -> None:
        """Held feed events out on time; history retention now and then."""
        next_purge = time.monotonic()
        while not self._stop.wait(max(0.02, self.config.feed_interval_s / 2)):
            try:
                self.feed.release_due()
                if time.monotonic() >= next_purge:
                    next_purge = time.monotonic() + self.config.retention_every_s
                    gone = self.purge_history()
                    if gone:
                        log.info("history retention removed %d positions", gone)
            except Exception:
                log.exception("units background work failed")

    def _persist(self, unit, pos) -> None:
        if self.batcher:
            self.batcher.add(unit, pos)
        if self.telemetry:
            self.telemetry.write_position(unit, pos)

