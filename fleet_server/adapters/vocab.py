"""The one vocabulary every adapter decodes into: what third-party trackers and phone apps say,
in the words of our own wire protocol (protocols/messages.py), so the units and incident pipelines
never learn a foreign format.

A decoder returns a list of Reports or a Rejection. A Report's `msg` is one of our message dicts
(`pos`, `alarm`, `status`) with every field in our units (microdegrees, cm/s, ...), except that
`dev` is still the device's own identifier (a GT06 IMEI, an OsmAnd id, an OwnTracks user/device)
and `boot`/`seq` are the adapter's stable derivation of the report's identity. binding.py swaps
`dev` for the registered device id and validates the result against our schema.

`event` Reports carry the tracker alarms that are not emergencies (power cut, vibration, low
battery, geofence, ...): they are logged and counted, never turned into incidents."""
from __future__ import annotations

import json
import math
from collections import Counter

from protocols.messages import LAT, LON, U32
from protocols.rejection import Rejection, NOT_JSON, NOT_OBJECT

# Alarm kinds across protocols (Traccar's names, so a Traccar-forwarded event keeps its meaning).
SOS = "sos"
# Kinds that are an emergency of the crew: they become an `alarm` (an incident). The rest are events.
EMERGENCY_KINDS = (SOS, "fallDown", "accident")

# Adapter-level rejection codes, beside protocols.rejection's.
ENCRYPTED = "encrypted"
NO_IDENTITY = "no_identity"
UNSUPPORTED = "unsupported"


class Report:
    """One thing a device said. kind: 'pos' | 'alarm' | 'status' | 'event'."""
    __slots__ = ("kind", "msg", "alarm")

    def __init__(self, kind: str, msg: dict, alarm: str | None = None):
        self.kind = kind
        self.msg = msg
        self.alarm = alarm   # the device's alarm kind, for 'alarm' and 'event'

    def __repr__(self):
        return "Report(%s%s %r)" % (self.kind, "/" + self.alarm if self.alarm else "", self.msg)


def load_json(body, objects_only: bool = True):
    """A request body or payload as JSON (an object unless objects_only is False), or a Rejection."""
    try:
        root = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return Rejection(NOT_JSON, "the body is not JSON")
    if objects_only and not isinstance(root, dict):
        return Rejection(NOT_OBJECT, "the body must be a JSON object")
    return root


def udeg(deg: float) -> int:
    return int(round(deg * 1_000_000))


def valid_coordinates(lat: float, lon: float) -> bool:
    return (isinstance(lat, (int, float)) and isinstance(lon, (int, float)) and math.isfinite(lat)
            and math.isfinite(lon) and -90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0)


def cm_s_from_kmh(kmh: float) -> int:
    return int(round(kmh * 100000 / 3600))


def _clamp_seq(n: int) -> int:
    return int(n) & U32


def position(dev: str, boot: int, seq: int, ts: int, lat: float, lon: float, *, acc=None, spd=None,
             hdg=None, alt=None, fix=True, sats=None, hdop=None) -> Report:
    """A fix. lat/lon in degrees, acc metres, spd cm/s, hdg degrees, alt metres."""
    msg = {"v": 1, "t": "pos", "dev": dev, "boot": _clamp_seq(boot), "seq": _clamp_seq(seq), "ts": int(ts),
           "lat": max(-LAT, min(LAT, udeg(lat))), "lon": max(-LON, min(LON, udeg(lon)))}
    if acc is not None and acc >= 0:
        msg["acc"] = int(round(acc))
    if spd is not None and spd >= 0:
        msg["spd"] = min(int(round(spd)), 50000)
    if hdg is not None and hdg >= 0:
        msg["hdg"] = int(hdg) % 360
    if alt is not None:
        msg["alt"] = max(-50000, min(1000000, int(round(alt * 10))))
    msg["fixq"] = 1 if fix else 0
    if sats is not None:
        msg["sats"] = max(0, min(99, int(sats)))
    if hdop is not None and hdop >= 0:
        msg["hdop"] = min(9999, int(round(hdop * 10)))
    return Report("pos", msg)


def alarm(dev: str, boot: int, seq: int, ts: int, kind: str, lat=None, lon=None, *, src="gps",
          acc=None, age=None) -> Report:
    """A crew emergency: our `alarm` message (trigger `crew`, category left to the operator).
    Without a usable fix it still is an alarm, with lat/lon null and source `none`."""
    if lat is None or lon is None or not valid_coordinates(lat, lon):
        la = lo = None
        src = "none"
        acc = None
    else:
        la, lo = udeg(lat), udeg(lon)
    msg = {"v": 1, "t": "alarm", "dev": dev, "boot": _clamp_seq(boot), "seq": _clamp_seq(seq), "ts": int(ts),
           "cat": "unknown", "trig": "crew", "presses": 1, "lat": la, "lon": lo, "src": src,
           "acc": None if acc is None else max(0, int(round(acc))), "age": None if age is None else max(0, int(age))}
    return Report("alarm", msg, alarm=kind)


def status(dev: str, state: str = "online") -> Report:
    return Report("status", {"v": 1, "t": "status", "dev": dev, "boot": 0, "seq": 0, "state": state,
                             "kind": "tracker"})


def event(dev: str, ts: int, kind: str) -> Report:
    """A tracker alarm that is not an emergency (power cut, vibration, geofence, ...)."""
    return Report("event", {"dev": dev, "ts": int(ts), "kind": kind}, alarm=kind)


def alarm_or_event(dev: str, boot: int, seq: int, ts: int, kind: str, lat=None, lon=None, fix=True,
                   **loc) -> Report:
    if kind in EMERGENCY_KINDS:
        return alarm(dev, boot, seq, ts, kind, lat if fix else None, lon if fix else None, **loc)
    return event(dev, ts, kind)


class Counts:
    """Decoded and rejected input of one adapter, rejections counted by code."""

    def __init__(self):
        self.decoded = 0
        self.rejected: Counter[str] = Counter()

    def count(self, result) -> None:
        if isinstance(result, Rejection):
            self.rejected[result.code] += 1
        else:
            self.decoded += 1

    def as_dict(self) -> dict:
        return {"decoded": self.decoded, "rejected": dict(self.rejected)}
