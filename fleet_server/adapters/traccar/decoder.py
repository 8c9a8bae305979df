"""Traccar's JSON forwarding -> Reports, so a city that already runs Traccar (and its 200+
tracker protocols) forwards positions and events into the same pipelines.

Traccar posts, per position (`forward.type = json`, `forward.url`), and per event
(`event.forward.url`), a JSON object:
    {"position": {"id", "latitude", "longitude", "fixTime", "speed" (knots), "course",
                  "altitude", "accuracy", "valid", "attributes": {"alarm": "sos", ...}},
     "device":   {"id", "uniqueId", "name", ...},
     "event":    {"type": "alarm" | "deviceOnline" | ..., "positionId",
                  "attributes": {"alarm": "sos"}}}          (event forwarding only)
The device is named by its uniqueId. A report's identity is Traccar's position id, so a position
forwarded again, or forwarded both as a position and as an alarm event, is one report."""
from __future__ import annotations

import math

from protocols.messages import U32
from protocols.rejection import Rejection, BAD_VALUE, MISSING_FIELD, NOT_OBJECT, OUT_OF_RANGE
from fleet_server.adapters import vocab
from fleet_server.adapters.osmand.decoder import parse_time

KNOT_CM_S = 51.4444


def _num(v):
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return None
    return v


def _alarms(value) -> list:
    # Traccar joins several alarms of one position with commas.
    if not isinstance(value, str) or not value:
        return []
    return [a.strip() for a in value.split(",") if a.strip()]


def decode(body: bytes | str, received_at: float) -> list | Rejection:
    root = vocab.load_json(body)
    if isinstance(root, Rejection):
        return root
    device = root.get("device")
    if not isinstance(device, dict) or not isinstance(device.get("uniqueId"), str) or not device["uniqueId"]:
        return Rejection(vocab.NO_IDENTITY, "forwarded JSON needs device.uniqueId")
    dev = device["uniqueId"]
    pos = root.get("position")
    event = root.get("event")
    if pos is not None and not isinstance(pos, dict):
        return Rejection(NOT_OBJECT, "position must be an object")
    if event is not None and not isinstance(event, dict):
        return Rejection(NOT_OBJECT, "event must be an object")
    if pos is None and event is None:
        return Rejection(MISSING_FIELD, "forwarded JSON has neither position nor event")
    out: list = [vocab.status(dev, "online")]
    lat = lon = None
    ts = received_at
    pid = None
    if pos is not None:
        lat, lon = _num(pos.get("latitude")), _num(pos.get("longitude"))
        if lat is None or lon is None:
            return Rejection(MISSING_FIELD, "position needs numeric latitude and longitude")
        if not vocab.valid_coordinates(lat, lon):
            return Rejection(OUT_OF_RANGE, "latitude %s / longitude %s is not a place on Earth" % (lat, lon))
        ts = parse_time(pos.get("fixTime") or pos.get("deviceTime")) or received_at
        pid = _num(pos.get("id"))
    if event is not None:
        if pid is None:
            pid = _num(event.get("positionId"))
        if pos is None:
            ts = parse_time(event.get("eventTime")) or received_at
    if pid is None or pid < 0:
        pid = ts   # no stored id: the fix time names it
    pid = int(pid)
    boot, seq = (pid >> 32) & U32, pid & U32
    valid = pos is not None and pos.get("valid") is not False
    if pos is not None:
        speed, course, alt, acc = (_num(pos.get("speed")), _num(pos.get("course")), _num(pos.get("altitude")),
                                   _num(pos.get("accuracy")))
        out.append(vocab.position(dev, boot, seq, int(ts), lat, lon, acc=acc if acc and acc > 0 else None,
                                  spd=None if speed is None or speed < 0 else speed * KNOT_CM_S, hdg=course,
                                  alt=alt, fix=valid))
    kinds: list = []
    if pos is not None and isinstance(pos.get("attributes"), dict):
        kinds += _alarms(pos["attributes"].get("alarm"))
    if event is not None:
        etype = event.get("type")
        if not isinstance(etype, str):
            return Rejection(BAD_VALUE, "event.type must be text")
        attrs = event.get("attributes") if isinstance(event.get("attributes"), dict) else {}
        if etype == "alarm":
            kinds += [k for k in _alarms(attrs.get("alarm")) if k not in kinds]
        elif etype == "deviceOffline":
            out.append(vocab.status(dev, "offline"))
        elif etype != "deviceOnline":
            out.append(vocab.event(dev, int(ts), etype))
    for kind in kinds:
        out.append(vocab.alarm_or_event(dev, boot, seq, int(ts), kind, lat, lon, fix=valid))
    return out
