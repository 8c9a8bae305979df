"""Which `pos` fixes may move a unit's marker. Pure: it sees the previous accepted position and
the new one, never the clock directly, and never touches state.

Only for `pos` messages. An alarm with a bad fix is still an alarm: it carries its location
confidence instead (ARCHITECTURE invariant 4), so nothing here is ever applied to alarms."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from protocols.rejection import Rejection
from fleet_server.domain.geo import haversine_m
from fleet_server.domain.units import ROAD_TYPES, Position

NO_FIX = "no_fix"
ZERO_COORDINATES = "zero_coordinates"
FUTURE_TIME = "future_time"
DUPLICATE = "duplicate"
OUT_OF_ORDER = "out_of_order"
POOR_ACCURACY = "poor_accuracy"
SPEED_JUMP = "speed_jump"
REASONS = (NO_FIX, ZERO_COORDINATES, FUTURE_TIME, DUPLICATE, OUT_OF_ORDER, POOR_ACCURACY, SPEED_JUMP)


@dataclass(frozen=True)
class FilterConfig:
    max_future_s: float = 30.0        # device clocks drift; more than this ahead is a broken clock
    max_accuracy_m: int = 100         # worse than this cannot place a unit on the right street
    max_hdop_x10: int = 100           # HDOP 10: geometry too poor even when acc is missing
    max_road_speed_kmh: float = 250.0
    max_boat_speed_kmh: float = 120.0
    # Below this distance a "jump" is GPS jitter between fixes a second apart, not a teleport.
    jump_floor_m: float = 50.0


class PositionFilter:
    """check() returns None for a good fix or a Rejection; every rejection is counted by code."""

    def __init__(self, config: FilterConfig | None = None):
        self.config = config or FilterConfig()
        self.rejected: Counter[str] = Counter()
        self.accepted = 0

    def check(self, unit_type: str, previous: Position | None, msg: dict, received_at: float) -> Rejection | None:
        r = self._check(unit_type, previous, msg, received_at)
        if r is None:
            self.accepted += 1
        else:
            self.rejected[r.code] += 1
        return r

    def _check(self, unit_type, previous, msg, received_at):
        c = self.config
        fixq = msg.get("fixq")
        if fixq == 0 or msg.get("sats") == 0:
            return Rejection(NO_FIX, "the receiver reports no fix")
        lat, lon = msg["lat"], msg["lon"]
        if lat == 0 and lon == 0:
            return Rejection(ZERO_COORDINATES, "0,0 is a receiver's placeholder, not a place")
        ts = float(msg["ts"])
        if ts > received_at + c.max_future_s:
            return Rejection(FUTURE_TIME, "fix time is %.0f s ahead of the server clock" % (ts - received_at))
        acc = msg.get("acc")
        if acc is not None and acc > c.max_accuracy_m:
            return Rejection(POOR_ACCURACY, "accuracy %d m is worse than %d m" % (acc, c.max_accuracy_m))
        hdop = msg.get("hdop")
        if hdop is not None and hdop > c.max_hdop_x10:
            return Rejection(POOR_ACCURACY, "HDOP %.1f is worse than %.1f" % (hdop / 10, c.max_hdop_x10 / 10))
        if previous is None:
            return None
        if ts == previous.ts:
            return Rejection(DUPLICATE, "a fix for this time was already accepted")
        if ts < previous.ts:
            return Rejection(OUT_OF_ORDER, "fix is %.0f s older than the latest accepted one" % (previous.ts - ts))
        dist = haversine_m(previous.lat, previous.lon, lat, lon)
        if dist > c.jump_floor_m:
            limit = c.max_road_speed_kmh if unit_type in ROAD_TYPES else c.max_boat_speed_kmh
            kmh = dist / (ts - previous.ts) * 3.6
            if kmh > limit:
                return Rejection(SPEED_JUMP, "jump of %.0f m implies %.0f km/h, over %.0f km/h" % (dist, kmh, limit))
        return None
