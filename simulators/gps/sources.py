"""Where a simulated receiver's sentences come from. A source yields epochs: the lines one
receiver sends for one fix (exact bytes, terminators included) and the receiver time until the
next epoch. Sources are re-iterable: every call to epochs() starts from the beginning."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

from protocols.nmea import parse as nmea
from simulators.gps.sentences import hhmmss, ddmmyy, lat_fields, lon_fields, sentence

EARTH_M = 6_371_000.0


@dataclass
class Epoch:
    lines: list[bytes]
    gap_s: float            # receiver time until the next epoch
    tod_ms: int | None      # the epoch's time of day in the source, if it had one


class CaptureSource:
    """A gpsd regression log (`#` header lines skipped), epoch by epoch. Epochs are split where a
    sentence's time of day changes, as the firmware's EpochAssembler does; the gap to the next
    epoch is the difference of their times (1 s where unknown). A line holding glued sentences
    is cut before each '$' so each piece goes out with its own epoch (and is re-timed with it):
    the bytes on the wire are still the capture's, in order."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        raw = self.path.read_bytes()
        self.lines = [ln for ln in raw.splitlines(keepends=True)
                      if ln.strip(b"\r\n") and not ln.startswith(b"#")]
        self.pieces = []
        for line in self.lines:
            start = 0
            while True:
                nxt = line.find(b"$", start + 1)
                if nxt < 0:
                    self.pieces.append(line[start:])
                    break
                self.pieces.append(line[start:nxt])
                start = nxt

    def data(self) -> bytes:
        """Every data line, byte for byte, as a replay writes it."""
        return b"".join(self.lines)

    def epochs(self) -> Iterator[Epoch]:
        groups: list[tuple[int | None, list[bytes]]] = []
        for line in self.pieces:
            r = nmea.parse_sentence(line.rstrip(b"\r\n"))
            tod = r.get("tod") if isinstance(r, dict) else None
            if not groups or (tod is not None and groups[-1][0] is not None and tod != groups[-1][0]):
                groups.append((tod, [line]))
            else:
                if groups[-1][0] is None and tod is not None:
                    groups[-1] = (tod, groups[-1][1])
                groups[-1][1].append(line)
        for i, (tod, lines) in enumerate(groups):
            nxt = groups[i + 1][0] if i + 1 < len(groups) else None
            gap = 1.0 if tod is None or nxt is None else ((nxt - tod) % 86_400_000) / 1000.0
            yield Epoch(lines, gap, tod)


def distance_m(a: tuple[int, int], b: tuple[int, int]) -> float:
    """Great-circle distance between two (lat, lon) microdegree points (haversine)."""
    la1, lo1, la2, lo2 = (math.radians(v / 1e6) for v in (a[0], a[1], b[0], b[1]))
    h = math.sin((la2 - la1) / 2) ** 2 + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2
    return 2 * EARTH_M * math.asin(min(1.0, math.sqrt(h)))


def bearing_deg(a: tuple[int, int], b: tuple[int, int]) -> float:
    la1, lo1, la2, lo2 = (math.radians(v / 1e6) for v in (a[0], a[1], b[0], b[1]))
    y = math.sin(lo2 - lo1) * math.cos(la2)
    x = math.cos(la1) * math.sin(la2) - math.sin(la1) * math.cos(la2) * math.cos(lo2 - lo1)
    return math.degrees(math.atan2(y, x)) % 360


def fix_sentences(ts: int, lat: int, lon: int, speed_mps: float, course: float, talker: str = "GP",
                  hdop: float = 0.9, sats: int = 9, alt_m: float = 700.0) -> list[bytes]:
    """The GGA, GSA and RMC one receiver sends for a fix."""
    t, la, lo = hhmmss(ts), lat_fields(lat), lon_fields(lon)
    knots = speed_mps * 3600 / 1852
    return [
        sentence("%sGGA,%s,%s,%s,1,%02d,%.1f,%.1f,M,0.0,M,," % (talker, t, la, lo, sats, hdop, alt_m)),
        sentence("%sGSA,A,3,02,05,07,09,13,15,18,20,30,,,,%.1f,%.1f,1.0" % (talker, hdop * 1.6, hdop)),
        sentence("%sRMC,%s,A,%s,%s,%.3f,%.2f,%s,,,A" % (talker, t, la, lo, knots, course, ddmmyy(ts))),
    ]


def nofix_sentences(ts: int, talker: str = "GP") -> list[bytes]:
    """What a receiver without a fix sends: RMC void, GGA quality 0, GSA fix type 1."""
    t = hhmmss(ts)
    return [
        sentence("%sGGA,%s,,,,,0,00,99.99,,,,,," % (talker, t)),
        sentence("%sGSA,A,1,,,,,,,,,,,,,99.99,99.99,99.99" % talker),
        sentence("%sRMC,%s,V,,,,,,,%s,,,N" % (talker, t, ddmmyy(ts))),
    ]


class RouteSource:
    """A generated drive: along `waypoints` ((lat, lon) in microdegrees) at `speeds_mps` (one
    speed, or one per segment), one fix per `period_s` of receiver time, then parked at the last
    waypoint for `park_s` seconds (None: for ever). Receiver time starts at `start_ts` (default:
    the time epochs() is called)."""

    def __init__(self, waypoints: Sequence[tuple[int, int]], speeds_mps: float | Sequence[float] = 12.0,
                 period_s: float = 1.0, park_s: float | None = None, start_ts: int | None = None,
                 talker: str = "GP", hdop: float = 0.9):
        if len(waypoints) < 1:
            raise ValueError("a route needs at least one waypoint")
        self.waypoints = list(waypoints)
        n = max(1, len(self.waypoints) - 1)
        self.speeds = [float(speeds_mps)] * n if isinstance(speeds_mps, (int, float)) else [float(s) for s in speeds_mps]
        if len(self.speeds) != n or any(s <= 0 for s in self.speeds):
            raise ValueError("give one positive speed, or one per segment")
        self.period_s, self.park_s, self.start_ts = period_s, park_s, start_ts
        self.talker, self.hdop = talker, hdop

    def positions(self) -> Iterator[tuple[float, int, int, float, float]]:
        """(t, lat, lon, speed m/s, course) every period: driving, then parked."""
        legs = []          # (t_start, t_end, a, b, speed, course)
        t_end = 0.0
        for i in range(len(self.waypoints) - 1):
            a, b = self.waypoints[i], self.waypoints[i + 1]
            length = distance_m(a, b)
            if length > 0:
                legs.append((t_end, t_end + length / self.speeds[i], a, b, self.speeds[i], bearing_deg(a, b)))
                t_end += length / self.speeds[i]
        course = legs[-1][5] if legs else 0.0
        k = 0
        for t0, t1, a, b, v, c in legs:
            while k * self.period_s < t1:
                f = (k * self.period_s - t0) / (t1 - t0)
                yield k * self.period_s, round(a[0] + (b[0] - a[0]) * f), round(a[1] + (b[1] - a[1]) * f), v, c
                k += 1
        last = self.waypoints[-1]
        parked_from = k
        while self.park_s is None or (k - parked_from) * self.period_s <= self.park_s:
            yield k * self.period_s, last[0], last[1], 0.0, course
            k += 1

    def epochs(self) -> Iterator[Epoch]:
        start = self.start_ts if self.start_ts is not None else int(time.time())
        for t, lat, lon, v, course in self.positions():
            ts = start + int(t)
            yield Epoch(fix_sentences(ts, lat, lon, v, course, self.talker, self.hdop), self.period_s,
                        (ts % 86400) * 1000)


class NoFixSource:
    """A receiver that never gets a fix (indoors, antenna cut): void sentences once a second."""

    def __init__(self, start_ts: int | None = None, seconds: int | None = None):
        self.start_ts, self.seconds = start_ts, seconds

    def epochs(self) -> Iterator[Epoch]:
        start = self.start_ts if self.start_ts is not None else int(time.time())
        k = 0
        while self.seconds is None or k < self.seconds:
            yield Epoch(nofix_sentences(start + k), 1.0, ((start + k) % 86400) * 1000)
            k += 1
