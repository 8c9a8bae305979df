"""Folding: a button pressed again, and buttons near each other pressed within a short window, are
one emergency seen several times. The alarm joins an open incident instead of opening a new one.

Rule: an alarm folds into the open emergency incident of the same type whose pressed time is
within window_s of the alarm's and which either came from the same device or lies within radius_m
of the alarm's location. Of several candidates the nearest in time wins (then the oldest id), so
the choice does not depend on the order the database returns them."""
from __future__ import annotations

import math

EARTH_RADIUS_M = 6371008.8


def distance_m(lat1_udeg: int, lon1_udeg: int, lat2_udeg: int, lon2_udeg: int) -> float:
    """Great-circle (haversine) distance between two points in microdegrees."""
    p1, p2 = math.radians(lat1_udeg / 1e6), math.radians(lat2_udeg / 1e6)
    dp = p2 - p1
    dl = math.radians((lon2_udeg - lon1_udeg) / 1e6)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def bounding_box(lat_udeg: int | None, lon_udeg: int | None, radius_m: float) -> tuple[int, int, int, int] | None:
    """A box (min_lat, max_lat, min_lon, max_lon) that holds every point within radius_m, for a
    cheap database pre-filter; None without a location."""
    if lat_udeg is None or lon_udeg is None:
        return None
    dlat = radius_m / (math.pi * EARTH_RADIUS_M / 180) * 1e6
    cos = max(0.01, math.cos(math.radians(lat_udeg / 1e6)))
    dlon = dlat / cos
    pad = 1  # microdegree rounding
    return (int(lat_udeg - dlat) - pad, int(lat_udeg + dlat) + pad, int(lon_udeg - dlon) - pad, int(lon_udeg + dlon) + pad)


def fold_target(alarm: dict, candidates: list[dict], radius_m: float, window_s: float) -> int | None:
    """alarm: {device_id, pressed_at, lat_udeg, lon_udeg}; candidates: open incidents
    {id, device_ids (set), first_pressed_at, last_pressed_at, lat_udeg, lon_udeg}.
    Returns the incident id to fold into, or None for a new incident."""
    best = None
    for c in candidates:
        lo = c["first_pressed_at"] - window_s
        hi = c["last_pressed_at"] + window_s
        if not lo <= alarm["pressed_at"] <= hi:
            continue
        near = alarm["device_id"] in c["device_ids"]
        if not near and None not in (alarm["lat_udeg"], alarm["lon_udeg"], c["lat_udeg"], c["lon_udeg"]):
            near = distance_m(alarm["lat_udeg"], alarm["lon_udeg"], c["lat_udeg"], c["lon_udeg"]) <= radius_m
        if not near:
            continue
        gap = max(0.0, c["first_pressed_at"] - alarm["pressed_at"], alarm["pressed_at"] - c["last_pressed_at"])
        key = (gap, c["id"])
        if best is None or key < best[0]:
            best = (key, c["id"])
    return None if best is None else best[1]
