"""Great-circle distance on integer microdegrees. One function, used by the position filter,
the arrival radius, dispatch and alarm folding."""
from __future__ import annotations

from math import asin, cos, radians, sin, sqrt

EARTH_RADIUS_M = 6371008.8
_UDEG = 1e-6


def haversine_m(lat1: int, lon1: int, lat2: int, lon2: int) -> float:
    p1, p2 = radians(lat1 * _UDEG), radians(lat2 * _UDEG)
    dp = p2 - p1
    dl = radians((lon2 - lon1) * _UDEG)
    h = sin(dp / 2) ** 2 + cos(p1) * cos(p2) * sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * asin(min(1.0, sqrt(h)))
