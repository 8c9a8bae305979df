"""The unit and its position. Coordinates stay integer microdegrees like the wire (ADR 0001);
times are Unix seconds (float on the server side)."""
from __future__ import annotations

from dataclasses import dataclass, field

from protocols.messages import CREW

# A unit's agency is named by the incident category it answers (messages.CATEGORIES minus
# "unknown", plus "traffic": Dishub's road units, for incidents the center classifies as traffic),
# so dispatch matches an incident to units without a translation table.
AGENCIES = ("police", "fire", "medical", "sar", "disaster", "traffic")
UNIT_TYPES = ("ambulance", "fire_truck", "police_car", "motorbike", "sar_boat", "rescue_truck")
CREW_STATUSES = CREW  # available, enroute, onscene, returning, oos: the crew keys on the tracker
# Units that drive on roads; a boat's fixes are not held to the road speed limit.
ROAD_TYPES = ("ambulance", "fire_truck", "police_car", "motorbike", "rescue_truck")


@dataclass(frozen=True)
class Position:
    lat: int            # microdegrees
    lon: int            # microdegrees
    ts: float           # when the fix was taken (device clock, Unix seconds)
    received_at: float  # when the server got it
    acc: int | None = None   # metres
    spd: int | None = None   # cm/s
    hdg: int | None = None   # degrees

    @classmethod
    def from_message(cls, msg: dict, received_at: float) -> "Position":
        return cls(lat=msg["lat"], lon=msg["lon"], ts=float(msg["ts"]), received_at=received_at,
                   acc=msg.get("acc"), spd=msg.get("spd"), hdg=msg.get("hdg"))


@dataclass
class Unit:
    id: str                       # e.g. "AMB-03"
    callsign: str
    agency: str                   # AGENCIES
    type: str                     # UNIT_TYPES
    home_station: str = ""
    home_lat: int | None = None
    home_lon: int | None = None
    capabilities: tuple[str, ...] = ()
    device_id: str | None = None  # the bound tracker
    status: str = "available"     # CREW_STATUSES
    status_at: float | None = None
    moving: bool = False          # from the last fixes' speed, independent of the crew key
    position: Position | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        problems = unit_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        self.capabilities = tuple(self.capabilities)

    def fix_age(self, now: float) -> float | None:
        return None if self.position is None else max(0.0, now - self.position.ts)

    def is_stale(self, now: float, stale_after_s: float) -> bool:
        age = self.fix_age(now)
        return age is None or age > stale_after_s

    def public(self, now: float, stale_after_s: float) -> dict:
        p = self.position
        return {
            "id": self.id, "callsign": self.callsign, "agency": self.agency, "type": self.type,
            "home_station": self.home_station, "home_lat": self.home_lat, "home_lon": self.home_lon,
            "capabilities": list(self.capabilities),
            "device_id": self.device_id, "status": self.status, "status_at": self.status_at,
            "moving": self.moving, "stale": self.is_stale(now, stale_after_s),
            "position": None if p is None else {
                "lat": p.lat, "lon": p.lon, "ts": p.ts, "acc": p.acc, "spd": p.spd, "hdg": p.hdg,
                "age_s": round(self.fix_age(now), 1)},
        }


def unit_problems(u: Unit) -> list[str]:
    """Why a unit record is not acceptable (empty when it is): said once, at the edge."""
    out = []
    if not u.id or len(u.id) > 32:
        out.append("unit id must have 1..32 characters")
    if not u.callsign:
        out.append("callsign is required")
    if u.agency not in AGENCIES:
        out.append(f"agency {u.agency!r} is not one of {', '.join(AGENCIES)}")
    if u.type not in UNIT_TYPES:
        out.append(f"type {u.type!r} is not one of {', '.join(UNIT_TYPES)}")
    if u.status not in CREW_STATUSES:
        out.append(f"status {u.status!r} is not one of {', '.join(CREW_STATUSES)}")
    if (u.home_lat is None) != (u.home_lon is None):
        out.append("home station needs both lat and lon")
    return out
