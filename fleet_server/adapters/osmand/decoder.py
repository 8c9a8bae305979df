"""OsmAnd protocol (Traccar Client and the apps built on the background-geolocation plugin) ->
Reports. Two forms reach the same decoder:

- query parameters, on GET or in a POST form body: id|deviceid, lat+lon or location=lat,lon,
  timestamp (epoch seconds, epoch milliseconds, ISO 8601, or "YYYY-MM-DD hh:mm:ss"), speed
  (knots), bearing|heading, altitude (m), accuracy|hacc (m), hdop, batt, alarm;
- a JSON body: {"device_id": ..., "location": {...}} or {"location": [{...}, ...]} (a batch of
  stored fixes, as Traccar Client uploads them after being offline), coords.speed in m/s.

Traccar's OsmAndProtocolDecoder is the reference. A report's identity is its fix time
(boot = seconds, seq = milliseconds), so a fix sent again is the same report."""
from __future__ import annotations

import math
from datetime import datetime, timezone
from urllib.parse import parse_qsl

from protocols.rejection import Rejection, BAD_VALUE, NOT_OBJECT, OUT_OF_RANGE
from fleet_server.adapters import vocab

KNOT_CM_S = 51.4444
MAX_BATCH = 1000


def _num(value) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def parse_time(value) -> float | None:
    """Epoch seconds (< 2^31) or milliseconds, ISO 8601, or 'YYYY-MM-DD hh:mm:ss' (UTC)."""
    if value is None or value == "":
        return None
    text = str(value).strip()
    if text.lstrip("-").replace(".", "", 1).isdigit():
        n = float(text)
        return n if n < 2 ** 31 else n / 1000.0
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T", 1))
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


def _identity(ts: float) -> tuple[int, int]:
    s = int(math.floor(ts))
    return s, int(round((ts - s) * 1000)) % 1000


def _reports(dev: str, ts: float, lat, lon, *, spd=None, hdg=None, alt=None, acc=None, hdop=None,
             alarm=None, batt=None) -> list | Rejection:
    out = [vocab.status(dev, "online")]
    boot, seq = _identity(ts)
    has_fix = lat is not None and lon is not None
    if has_fix and not vocab.valid_coordinates(lat, lon):
        return Rejection(OUT_OF_RANGE, "lat %s / lon %s is not a place on Earth" % (str(lat)[:16], str(lon)[:16]))
    if has_fix:
        out.append(vocab.position(dev, boot, seq, int(ts), lat, lon, acc=acc, spd=spd, hdg=hdg, alt=alt, hdop=hdop))
    if alarm:
        out.append(vocab.alarm_or_event(dev, boot, seq, int(ts), alarm, lat, lon, fix=has_fix, acc=acc))
    return out


def decode_params(params, received_at: float) -> list | Rejection:
    """Query or form parameters, as (key, value) pairs (repeated keys allowed)."""
    p: dict[str, str] = {}
    for k, v in params:
        p.setdefault(str(k), str(v))
    dev = p.get("id") or p.get("deviceid")
    if not dev:
        return Rejection(vocab.NO_IDENTITY, "an OsmAnd report needs its id (or deviceid) parameter")
    lat, lon = _num(p.get("lat")), _num(p.get("lon"))
    if "location" in p:
        parts = p["location"].split(",")
        if len(parts) != 2:
            return Rejection(BAD_VALUE, "location must be lat,lon")
        lat, lon = _num(parts[0]), _num(parts[1])
    if (lat is None) != (lon is None) or (("lat" in p or "location" in p) and lat is None):
        return Rejection(BAD_VALUE, "lat and lon must both be numbers")
    ts = parse_time(p.get("timestamp"))
    if p.get("timestamp") and ts is None:
        return Rejection(BAD_VALUE, "timestamp %r is not a time" % p["timestamp"][:32])
    if ts is None:
        ts = received_at
    speed = _num(p.get("speed"))
    hdg = _num(p.get("bearing") if p.get("bearing") is not None else p.get("heading"))
    acc = _num(p.get("accuracy") if p.get("accuracy") is not None else p.get("hacc"))
    return _reports(dev, ts, lat, lon, spd=None if speed is None else speed * KNOT_CM_S, hdg=hdg,
                    alt=_num(p.get("altitude")), acc=acc if acc and acc > 0 else None,
                    hdop=_num(p.get("hdop")), alarm=p.get("alarm") or None)


def _decode_location(dev: str, loc, received_at: float) -> list | Rejection:
    if not isinstance(loc, dict):
        return Rejection(NOT_OBJECT, "location must be a JSON object")
    coords = loc.get("coords")
    if not isinstance(coords, dict):
        return Rejection(BAD_VALUE, "location has no coords object")
    lat, lon = _num(coords.get("latitude")), _num(coords.get("longitude"))
    if lat is None or lon is None:
        return Rejection(BAD_VALUE, "coords.latitude and coords.longitude must be numbers")
    ts = parse_time(loc.get("timestamp")) if loc.get("timestamp") is not None else received_at
    if ts is None:
        return Rejection(BAD_VALUE, "location.timestamp is not a time")
    speed = _num(coords.get("speed"))
    heading = _num(coords.get("heading"))
    acc = _num(coords.get("accuracy"))
    alarm = loc.get("alarm") if isinstance(loc.get("alarm"), str) else None
    extras = loc.get("extras")
    if alarm is None and isinstance(extras, dict) and isinstance(extras.get("alarm"), str):
        alarm = extras["alarm"]
    return _reports(dev, ts, lat, lon, spd=None if speed is None or speed < 0 else speed * 100,
                    hdg=None if heading is None or heading < 0 else heading, alt=_num(coords.get("altitude")),
                    acc=acc if acc is not None and acc > 0 else None, alarm=alarm)


def decode_json(body: bytes | str, received_at: float) -> list | Rejection:
    root = vocab.load_json(body)
    if isinstance(root, Rejection):
        return root
    dev = root.get("device_id") or root.get("deviceId") or root.get("id")
    if isinstance(dev, (int, float)) and not isinstance(dev, bool):
        dev = str(dev)
    if not isinstance(dev, str) or not dev:
        return Rejection(vocab.NO_IDENTITY, "an OsmAnd JSON report needs its device_id")
    locs = root.get("location")
    if isinstance(locs, dict):
        locs = [locs]
    if not isinstance(locs, list) or not locs:
        return Rejection(BAD_VALUE, "location must be an object or a non-empty list")
    if len(locs) > MAX_BATCH:
        return Rejection(OUT_OF_RANGE, "a batch holds at most %d locations" % MAX_BATCH)
    out: list = []
    for loc in locs:
        r = _decode_location(dev, loc, received_at)
        if isinstance(r, Rejection):
            return r
        out.extend(r if not out else r[1:])
    return out


def decode(query, body: bytes, content_type: str, received_at: float) -> list | Rejection:
    """One HTTP request: its query pairs, its body and content type."""
    ct = (content_type or "").split(";")[0].strip().lower()
    if body and ct == "application/json":
        return decode_json(body, received_at)
    params = list(query)
    if body and ct in ("application/x-www-form-urlencoded", ""):
        try:
            params += parse_qsl(body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            return Rejection("not_utf8", "the form body is not UTF-8")
    return decode_params(params, received_at)
