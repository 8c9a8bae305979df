from __future__ import annotations

from fleet_server.domain.units import Position, Unit
from fleet_server.domain.tracking import Tracking

NOW = 1_790_000_000.0
INCIDENT = (-6902481, 107618767)   # Gedung Sate, Bandung
M_UDEG = 9.0                       # about 1 m of latitude in microdegrees


def north_of(metres: float) -> tuple[int, int]:
    return (INCIDENT[0] + int(metres * M_UDEG), INCIDENT[1])


def place(t: Tracking, uid: str, metres_north: float, agency="medical", type_="ambulance", status="available",
          age_s: float = 5.0, acc: int | None = 8, device: str | None = None) -> Unit:
    """A unit whose tracker reported `age_s` ago, `metres_north` of the incident."""
    lat, lon = north_of(metres_north)
    u = Unit(id=uid, callsign=uid.replace("-", " "), agency=agency, type=type_, status=status,
             device_id=device or f"trk-{uid.lower()}")
    t.add_unit(u)
    u.position = Position(lat=lat, lon=lon, ts=NOW - age_s, received_at=NOW - age_s, acc=acc)
    return u
