"""A simulated vehicle tracker at protocol level: drives (great-circle steps toward a target at its
speed), reports positions, crew status, and accepts dispatch orders. A crew that accepted an order
drives to the scene, stays there a while, then drives back to its station and is available again
(as a real crew presses "returning" and "available"), so a city that runs for hours keeps units."""
from __future__ import annotations

import asyncio
import math
import time

from simulators.fleet.device import SimDevice

EARTH_M = 6371008.8
# The server refuses fixes that imply more than 250 km/h on a road (a teleport, not a drive): an
# accelerated city never shows a unit faster than this, whatever its speed × time scale.
MAX_SHOWN_MPS = 45.0


def step_toward(lat: int, lon: int, tlat: int, tlon: int, metres: float) -> tuple[int, int, float, int]:
    """Move from (lat, lon) toward (tlat, tlon) by up to `metres`; microdegrees in and out.
    Returns (lat, lon, remaining_m, heading_deg)."""
    la1, lo1, la2, lo2 = (math.radians(v / 1e6) for v in (lat, lon, tlat, tlon))
    d = 2 * EARTH_M * math.asin(math.sqrt(math.sin((la2 - la1) / 2) ** 2 +
                                          math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2))
    y = math.sin(lo2 - lo1) * math.cos(la2)
    x = math.cos(la1) * math.sin(la2) - math.sin(la1) * math.cos(la2) * math.cos(lo2 - lo1)
    hdg = int(math.degrees(math.atan2(y, x)) % 360) % 360
    if d <= metres or d == 0:
        return tlat, tlon, 0.0, hdg
    f = metres / d
    return int(round(lat + (tlat - lat) * f)), int(round(lon + (tlon - lon) * f)), d - metres, hdg


class SimTracker(SimDevice):
    kind = "tracker"

    def __init__(self, device_id: str, password: str, host: str, port: int, *, lat: int, lon: int,
                 speed_mps: float = 12.0, report_s: float = 5.0, time_scale: float = 1.0,
                 auto_accept: bool = True, onscene_s: float | None = 300.0, max_shown_mps: float | None = None,
                 **kw):
        """onscene_s: scenario seconds the crew works on scene before it drives home (None: it stays).
        max_shown_mps: the fastest it may appear in real time (MAX_SHOWN_MPS in an accelerated city)."""
        super().__init__(device_id, password, host, port, **kw)
        self.lat, self.lon = lat, lon
        self.home = (lat, lon)
        self.speed_mps = speed_mps
        self.report_s = report_s
        self.time_scale = time_scale
        self.auto_accept = auto_accept
        self.onscene_s = onscene_s
        self.max_shown_mps = max_shown_mps
        self.crew = "available"
        self.target: tuple[int, int] | None = None
        self.orders: list[dict] = []
        self.heading = 0
        self._leave_scene_at: float | None = None

    async def start(self) -> None:
        await super().start()
        self._tasks.append(asyncio.create_task(self._drive()))

    def set_crew(self, crew: str) -> None:
        self.crew = crew
        if self.client.is_connected:
            self.publish(dict(self.header("crew"), ts=self.now(), crew=crew, ign=crew != "oos"))

    def position(self) -> dict:
        moving = self.target is not None
        return dict(self.header("pos"), ts=self.now(), lat=self.lat, lon=self.lon, acc=5,
                    spd=int(self.step_m() / self.report_s * 100) if moving else 0, hdg=self.heading,
                    fixq=1, sats=9, hdop=9)

    def step_m(self) -> float:
        """Metres driven per report, in scenario time: its speed, within what the server believes."""
        speed = self.speed_mps
        if self.max_shown_mps is not None:
            speed = min(speed, self.max_shown_mps / self.time_scale)
        return speed * self.report_s

    async def _drive(self) -> None:
        while True:
            await asyncio.sleep(self.report_s / self.time_scale)
            self.advance()
            if self.client.is_connected:
                self.publish(self.position(), qos=0)

    def advance(self) -> None:
        """One report period: drive toward the target; arrive, leave the scene, come home."""
        now = time.monotonic()
        if self.target is not None:
            self.lat, self.lon, left, self.heading = step_toward(self.lat, self.lon, *self.target, self.step_m())
            if left == 0:
                self.target = None
                if self.crew == "enroute":
                    self.set_crew("onscene")
                    if self.onscene_s is not None:
                        self._leave_scene_at = now + self.onscene_s / self.time_scale
                elif self.crew == "returning":
                    self.set_crew("available")
        elif self._leave_scene_at is not None and now >= self._leave_scene_at and self.crew == "onscene":
            self._leave_scene_at = None
            self.set_crew("returning")
            self.target = self.home

    def on_cmd(self, msg: dict) -> None:
        if msg["op"] != "dispatch":
            return super().on_cmd(msg)
        if msg["exp"] < self.now():
            return self.cmdres(msg, "expired", "received after expiry")
        self.orders.append(msg)
        if self.auto_accept and self.crew == "available":
            self.cmdres(msg, "accepted")
            self.target = (msg["lat"], msg["lon"])
            self.set_crew("enroute")
        elif self.auto_accept:
            self.cmdres(msg, "declined", f"crew is {self.crew}")
