# When a vehicle tracker reports its position. Pure: given each new fix (protocols.nmea.parse's
# EpochAssembler output), the ignition level and the time, it says whether to send it and why.
#
#   moving : every report_s, or at once on a turn of more than turn_deg, or after move_m
#   parked : a slow heartbeat every parked_s, or at once if it moved move_m (towed, drifting)
#   a change between moving and parked (or of the ignition) reports at once
#
# Moving means speed >= moving_cms, or ignition on with the fix drifting farther than move_m.
# Headings are trusted only while moving: a parked receiver's course is noise.
import math
import time

MOVING_CMS = 150     # 5.4 km/h: below this a GPS course and speed are mostly noise
SLACK_MS = 200       # a fix this close to due counts as due: 1 Hz fixes arrive with jitter, and
                     # report_s=1 must mean every fix, not every other one
REASONS = ("first", "interval", "turn", "distance", "parked", "start", "stop")


def distance_m(lat1, lon1, lat2, lon2):
    """Metres between two microdegree points (equirectangular; exact enough below 100 km, and it
    works on differences, so ESP32 single-precision floats keep their digits)."""
    k = 0.111195   # metres per microdegree of latitude (6371 km * pi / 180 / 1e6)
    mean_lat = (lat1 + lat2) / 2e6
    dx = (lon2 - lon1) * k * math.cos(math.radians(mean_lat))
    dy = (lat2 - lat1) * k
    return math.sqrt(dx * dx + dy * dy)


def turn_deg(a, b):
    d = abs(a - b) % 360
    return 360 - d if d > 180 else d


class ReportPolicy:
    def __init__(self, report_s=10, turn_deg=30, move_m=200, parked_s=300, moving_cms=MOVING_CMS):
        self.report_s = report_s
        self.turn_deg = turn_deg
        self.move_m = move_m
        self.parked_s = parked_s
        self.moving_cms = moving_cms
        self.last = None          # the last reported fix
        self.last_ms = None       # ticks_ms when it was reported
        self.moving = None

    def configure(self, report_s=None, turn_deg=None, move_m=None, parked_s=None):
        if report_s is not None:
            self.report_s = report_s
        if turn_deg is not None:
            self.turn_deg = turn_deg
        if move_m is not None:
            self.move_m = move_m
        if parked_s is not None:
            self.parked_s = parked_s

    def decide(self, fix, now_ms, ignition=None):
        """The reason to report this fix now ("interval", "turn", ...) or None to skip it."""
        spd = fix.get("spd")
        moving = spd is not None and spd >= self.moving_cms
        last = self.last
        if last is None:
            return self._take(fix, now_ms, moving, "first")
        gone = distance_m(last["lat"], last["lon"], fix["lat"], fix["lon"])
        if not moving and ignition and gone >= self.move_m:
            moving = True
        elapsed_ms = time.ticks_diff(now_ms, self.last_ms) + SLACK_MS
        if moving != self.moving:
            return self._take(fix, now_ms, moving, "start" if moving else "stop")
        if moving:
            if elapsed_ms >= self.report_s * 1000:
                return self._take(fix, now_ms, moving, "interval")
            h0, h1 = last.get("hdg"), fix.get("hdg")
            if h0 is not None and h1 is not None and turn_deg(h0, h1) > self.turn_deg:
                return self._take(fix, now_ms, moving, "turn")
            if gone >= self.move_m:
                return self._take(fix, now_ms, moving, "distance")
            return None
        if gone >= self.move_m:
            return self._take(fix, now_ms, moving, "distance")
        if elapsed_ms >= self.parked_s * 1000:
            return self._take(fix, now_ms, moving, "parked")
        return None

    def _take(self, fix, now_ms, moving, why):
        self.last = fix
        self.last_ms = now_ms
        self.moving = moving
        return why
