"""Folding: a button pressed again, and buttons near each other pressed within a short window, are
one emergency seen several times. The alarm joins an open incident instead of opening a new one.

Rule: an alarm folds into the open emergency incident of the same type whose pressed time is
within window_s of the alarm's and which either came from the same device or lies within radius_m
of the alarm's location. Of several candidates the nearest in time wins (then the oldest id), so
the choice does not depend on the order the database returns them."""
from __future__ import annotations

import math

from fleet_server.domain.geo import EARTH_RADIUS_M, haversine_m

distance_m = haversine_m  # great-circle distance between two points in microdegrees


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


class FoldPool:
    """The open incidents a batch of alarms may fold into, indexed in memory by device and by a
    coarse grid, so each alarm looks at a handful of candidates rather than every open incident
    in the city. Candidates are the dicts fold_target takes; `id` may be any key (a new
    incident has no database id until the batch is written)."""

    def __init__(self, radius_m: float, window_s: float):
        self.radius_m = radius_m
        self.window_s = window_s
        # Cells wide enough that every point within radius_m lies in the 3x3 block around a
        # point, up to 80 degrees of latitude (where a degree of longitude is 0.17 of one at the
        # equator). Indonesia spans 11 degrees either side of the equator.
        self.cell = int(radius_m / (math.pi * EARTH_RADIUS_M / 180) * 1e6 / 0.17) + 2
        self._by_device: dict[str, list[dict]] = {}
        self._by_cell: dict[tuple[int, int], list[dict]] = {}

    def _cell(self, lat: int, lon: int) -> tuple[int, int]:
        return (lat // self.cell, lon // self.cell)

    def add(self, cand: dict) -> dict:
        for dev in cand["device_ids"]:
            self._by_device.setdefault(dev, []).append(cand)
        if cand["lat_udeg"] is not None and cand["lon_udeg"] is not None:
            self._by_cell.setdefault(self._cell(cand["lat_udeg"], cand["lon_udeg"]), []).append(cand)
        return cand

    def joined(self, cand: dict, device_id: str, pressed_at: float, lat: int | None, lon: int | None) -> None:
        """An alarm folded into cand: widen its time span, remember the device, and place it on
        the grid if it just got its first location."""
        cand["first_pressed_at"] = min(cand["first_pressed_at"], pressed_at)
        cand["last_pressed_at"] = max(cand["last_pressed_at"], pressed_at)
        if device_id not in cand["device_ids"]:
            cand["device_ids"].add(device_id)
            self._by_device.setdefault(device_id, []).append(cand)
        if cand["lat_udeg"] is None and lat is not None and lon is not None:
            cand["lat_udeg"], cand["lon_udeg"] = lat, lon
            self._by_cell.setdefault(self._cell(lat, lon), []).append(cand)

    def target(self, alarm: dict) -> dict | None:
        """The candidate this alarm folds into (fold_target's rule), or None."""
        near: dict[int, dict] = {id(c): c for c in self._by_device.get(alarm["device_id"], ())}
        if alarm["lat_udeg"] is not None and alarm["lon_udeg"] is not None:
            cy, cx = self._cell(alarm["lat_udeg"], alarm["lon_udeg"])
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    for c in self._by_cell.get((cy + dy, cx + dx), ()):
                        near[id(c)] = c
        if not near:
            return None
        # fold_target breaks ties by id: "order" is the database id, or for an incident new in
        # this batch a number above every database id, in creation order.
        by_order = {c["order"]: c for c in near.values()}
        hit = fold_target(alarm, [dict(c, id=o) for o, c in by_order.items()], self.radius_m, self.window_s)
        return None if hit is None else by_order[hit]
