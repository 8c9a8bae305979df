"""Live state of every unit: the latest accepted position in memory, crew status from the tracker's
keys, movement from its fixes, staleness from the fix age. The ingest calls accept_position() and
accept_crew() with decoded messages; dispatch and the API read units and listen for changes."""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Callable

from protocols.rejection import Rejection, UNKNOWN_DEVICE, BAD_VALUE
from fleet_server.domain.geo import haversine_m
from fleet_server.domain.position_filter import PositionFilter
from fleet_server.domain.units import CREW_STATUSES, Position, Unit
from fleet_server.logs import event

log = logging.getLogger("siaga.units")

PositionListener = Callable[[Unit, Position], None]
StatusListener = Callable[[Unit, str, str, str], None]  # unit, old, new, by


@dataclass(frozen=True)
class TrackingConfig:
    stale_after_s: float = 120.0      # no accepted fix for longer: the marker is grey, no dispatch
    moving_above_cm_s: int = 140      # about 5 km/h: slower is a parked unit's GPS wander
    home_radius_m: float = 200.0      # a returning unit this close to its station is available again


class Tracking:
    """Thread-safe: the MQTT thread writes, the API and dispatch read."""

    def __init__(self, config: TrackingConfig | None = None, position_filter: PositionFilter | None = None,
                 persist: Callable[[Unit, Position], None] | None = None):
        self.config = config or TrackingConfig()
        self.filter = position_filter or PositionFilter()
        self._persist = persist
        self._units: dict[str, Unit] = {}
        self._by_device: dict[str, str] = {}
        # Units whose tracker changed since their last accepted fix: that fix is another device's,
        # so the new tracker's first fix is not judged against it (a swap is no teleport).
        self._new_tracker: set[str] = set()
        self._lock = threading.RLock()
        self._position_listeners: list[PositionListener] = []
        self._status_listeners: list[StatusListener] = []

    # ---- the fleet --------------------------------------------------------------------------
    def add_unit(self, unit: Unit) -> Unit:
        with self._lock:
            if unit.device_id and self._by_device.get(unit.device_id, unit.id) != unit.id:
                raise ValueError(f"tracker {unit.device_id} is already bound to unit {self._by_device[unit.device_id]}")
            old = self._units.get(unit.id)
            if old is not None and old.device_id and old.device_id != unit.device_id:
                self._by_device.pop(old.device_id, None)
                self._new_tracker.add(unit.id)
            self._units[unit.id] = unit
            if unit.device_id:
                self._by_device[unit.device_id] = unit.id
        return unit

    def get(self, unit_id: str) -> Unit | None:
        return self._units.get(unit_id)

    def unit_for_device(self, device_id: str) -> Unit | None:
        uid = self._by_device.get(device_id)
        return None if uid is None else self._units.get(uid)

    def units(self, agency: str | None = None, status: str | None = None) -> list[Unit]:
        with self._lock:
            out = list(self._units.values())
        return [u for u in out if (agency is None or u.agency == agency) and (status is None or u.status == status)]

    def stale_units(self, now: float) -> list[Unit]:
        return [u for u in self.units() if u.is_stale(now, self.config.stale_after_s)]

    def on_position(self, listener: PositionListener) -> None:
        self._position_listeners.append(listener)

    def on_status(self, listener: StatusListener) -> None:
        self._status_listeners.append(listener)

    # ---- from the trackers ------------------------------------------------------------------
    def accept_position(self, msg: dict, received_at: float) -> Position | Rejection:
        """A decoded `pos` message (protocols.codec_json.decode). Returns the accepted Position or
        the Rejection saying why the fix was not used (counted in self.filter.rejected)."""
        unit = self.unit_for_device(msg["dev"])
        if unit is None:
            return self._reject(msg, Rejection(UNKNOWN_DEVICE, "tracker %s is bound to no unit" % msg["dev"]))
        with self._lock:
            previous = None if unit.id in self._new_tracker else unit.position
            r = self.filter.check(unit.type, previous, msg, received_at)
            if r is not None:
                return self._reject(msg, r)
            self._new_tracker.discard(unit.id)
            pos = Position.from_message(msg, received_at)
            unit.position = pos
            unit.moving = self._moving(previous, pos)
            back_home = (unit.status == "returning" and not unit.moving and unit.home_lat is not None
                         and haversine_m(pos.lat, pos.lon, unit.home_lat, unit.home_lon) <= self.config.home_radius_m)
        if self._persist is not None:
            self._persist(unit, pos)
        if back_home:
            self.set_status(unit.id, "available", pos.ts, by="movement")
        self._notify(self._position_listeners, unit, pos)
        return pos

    def accept_crew(self, msg: dict, received_at: float) -> Unit | Rejection:
        """A decoded `crew` message: the crew pressed a status key on the tracker."""
        unit = self.unit_for_device(msg["dev"])
        if unit is None:
            return self._reject(msg, Rejection(UNKNOWN_DEVICE, "tracker %s is bound to no unit" % msg["dev"]))
        self.set_status(unit.id, msg["crew"], float(msg["ts"]), by="crew")
        return unit

    def set_status(self, unit_id: str, status: str, at: float, by: str) -> Unit | Rejection:
        """Crew keys, dispatch (accepted -> enroute, arrival -> onscene) and movement all land here."""
        if status not in CREW_STATUSES:
            return Rejection(BAD_VALUE, f"status {status!r} is not one of {', '.join(CREW_STATUSES)}")
        with self._lock:
            unit = self._units.get(unit_id)
            if unit is None:
                return Rejection(UNKNOWN_DEVICE, f"unit {unit_id} is not known")
            old = unit.status
            if old == status:
                return unit
            unit.status, unit.status_at = status, at
        event(log, logging.INFO, "unit status", unit=unit_id, old=old, new=status, by=by)
        self._notify(self._status_listeners, unit, old, status, by)
        return unit

    # ---- inside -----------------------------------------------------------------------------
    def _moving(self, previous: Position | None, pos: Position) -> bool:
        if pos.spd is not None:
            return pos.spd > self.config.moving_above_cm_s
        if previous is None or pos.ts <= previous.ts:
            return False
        cm_s = haversine_m(previous.lat, previous.lon, pos.lat, pos.lon) * 100 / (pos.ts - previous.ts)
        return cm_s > self.config.moving_above_cm_s

    def _reject(self, msg: dict, r: Rejection) -> Rejection:
        # DEBUG, not WARNING: a parked tracker under a roof sends "no fix" every heartbeat.
        event(log, logging.DEBUG, "position rejected", device=msg.get("dev"), code=r.code, reason=r.reason)
        return r

    def _notify(self, listeners, *args) -> None:
        for fn in list(listeners):
            try:
                fn(*args)
            except Exception:  # a listener's bug must never stop the ingest
                log.exception("unit listener %r failed", fn)
