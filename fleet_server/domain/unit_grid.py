"""A grid of unit positions for nearest-unit search: cells of `cell_udeg` microdegrees, searched
in square rings outwards from the incident, with a distance lower bound per ring so the search
stops as soon as no farther ring can beat what was found. Plain dicts beat an STRtree here
because positions change every few seconds and a grid update is O(1)."""
from __future__ import annotations

import threading
from math import cos, radians
from typing import Iterator

from fleet_server.domain.units import Unit

M_PER_UDEG_LAT = 0.111195  # metres per microdegree of latitude (mean Earth radius)


class GridIndex:
    def __init__(self, cell_udeg: int = 10_000):  # 0.01 degree: about 1.1 km in Bandung
        self.cell_udeg = cell_udeg
        self._cells: dict[tuple[int, int], dict[str, Unit]] = {}
        self._where: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._where)

    def _cell(self, lat: int, lon: int) -> tuple[int, int]:
        return (lat // self.cell_udeg, lon // self.cell_udeg)

    def update(self, unit: Unit, *_ignored) -> None:
        """Place or move a unit (usable directly as a Tracking.on_position listener)."""
        if unit.position is None:
            self.remove(unit.id)
            return
        cell = self._cell(unit.position.lat, unit.position.lon)
        with self._lock:
            old = self._where.get(unit.id)
            if old == cell:
                return
            if old is not None:
                bucket = self._cells.get(old)
                if bucket is not None:
                    bucket.pop(unit.id, None)
                    if not bucket:
                        del self._cells[old]
            self._cells.setdefault(cell, {})[unit.id] = unit
            self._where[unit.id] = cell

    def remove(self, unit_id: str) -> None:
        with self._lock:
            old = self._where.pop(unit_id, None)
            if old is not None:
                bucket = self._cells.get(old, {})
                bucket.pop(unit_id, None)
                if not bucket:
                    self._cells.pop(old, None)

    def rings(self, lat: int, lon: int, max_radius_m: float) -> Iterator[tuple[float, list[Unit]]]:
        """Yield (lower bound in metres of any unit in this ring, units in the ring), ring 0 first,
        until the bound passes max_radius_m or every indexed unit was yielded."""
        ci, cj = self._cell(lat, lon)
        total = len(self._where)
        seen = 0
        r = 0
        while seen < total:
            # Longitude cells shrink towards the poles: bound with the ring's highest latitude.
            far_lat = min(89.0, abs(lat) * 1e-6 + (r + 1) * self.cell_udeg * 1e-6)
            cell_m = self.cell_udeg * M_PER_UDEG_LAT * min(1.0, cos(radians(far_lat)))
            bound = max(0.0, (r - 1) * cell_m)
            if bound > max_radius_m:
                return
            found: list[Unit] = []
            cells = self._cells
            if r == 0:
                b = cells.get((ci, cj))
                if b:
                    found.extend(b.values())
            else:
                for j in range(cj - r, cj + r + 1):
                    for i in (ci - r, ci + r):
                        b = cells.get((i, j))
                        if b:
                            found.extend(b.values())
                for i in range(ci - r + 1, ci + r):
                    for j in (cj - r, cj + r):
                        b = cells.get((i, j))
                        if b:
                            found.extend(b.values())
            seen += len(found)
            yield bound, found
            r += 1
