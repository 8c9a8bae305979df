"""Estimated time of arrival. The default is great-circle distance times a road factor over a
speed profile per unit type; a road router (OSRM, Valhalla) replaces it by implementing EtaModel.
Recommender relies on `min_speed_factor()` to stop searching early, so a router must give a
lower bound of seconds per metre (its fastest possible travel) there."""
from __future__ import annotations

from typing import Protocol

from fleet_server.domain.geo import haversine_m

# Urban emergency driving in Bandung traffic, sirens on (km/h). Boats only where there is water.
SPEED_KMH = {"ambulance": 40.0, "fire_truck": 32.0, "police_car": 45.0, "motorbike": 50.0,
             "sar_boat": 25.0, "rescue_truck": 35.0}
ROAD_FACTOR = 1.35   # city street networks run about a third longer than the straight line


class EtaModel(Protocol):
    def eta_s(self, unit_type: str, distance_m: float, from_lat: int, from_lon: int, to_lat: int, to_lon: int) -> float:
        ...

    def min_seconds_per_metre(self, unit_type: str | None = None) -> float:
        """A lower bound: ETA >= straight distance * this, for that unit type (None: any type)."""
        ...


class GreatCircleEta:
    def __init__(self, speeds_kmh: dict[str, float] | None = None, road_factor: float = ROAD_FACTOR):
        self.speeds_kmh = dict(SPEED_KMH if speeds_kmh is None else speeds_kmh)
        self.road_factor = road_factor
        self._s_per_m = {t: road_factor * 3.6 / v for t, v in self.speeds_kmh.items()}
        self._min = min(self._s_per_m.values())

    def eta_s(self, unit_type, distance_m, from_lat=0, from_lon=0, to_lat=0, to_lon=0):
        return distance_m * self._s_per_m.get(unit_type, self._min)

    def min_seconds_per_metre(self, unit_type: str | None = None) -> float:
        return self._min if unit_type is None else self._s_per_m.get(unit_type, self._min)

    @staticmethod
    def distance_m(lat1: int, lon1: int, lat2: int, lon2: int) -> float:
        return haversine_m(lat1, lon1, lat2, lon2)
