"""Run a GPS on a pty until interrupted; prints the device path to give the firmware.

    python -m simulators.gps --log ../shared/data/nmea/gpsd/mt3339.log --speed 1 --now --loop
    python -m simulators.gps --route=-6902480,107618790:-6900000,107618790 --mps 12
"""
from __future__ import annotations

import argparse
import signal
import sys
import threading

from simulators.gps import CaptureSource, GpsPty, NoFixSource, RouteSource


def _route(text: str) -> list[tuple[int, int]]:
    points = []
    for pair in text.split(":"):
        lat, lon = pair.split(",")
        points.append((int(lat), int(lon)))
    return points


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m simulators.gps", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--log", help="gpsd capture to replay")
    src.add_argument("--route", help="waypoints lat,lon:lat,lon:... in microdegrees")
    src.add_argument("--nofix", action="store_true", help="a receiver that never gets a fix")
    ap.add_argument("--mps", type=float, default=12.0, help="route speed, m/s")
    ap.add_argument("--speed", type=float, default=1.0, help="replay speed factor")
    ap.add_argument("--now", action="store_true", help="rewrite times and dates to now")
    ap.add_argument("--loop", action="store_true", help="start again at the end")
    a = ap.parse_args(argv)
    if a.log:
        source = CaptureSource(a.log)
    elif a.route:
        source = RouteSource(_route(a.route), a.mps)
    else:
        source = NoFixSource()
    gps = GpsPty(source, speed=a.speed, retime_to_now=a.now, loop=a.loop)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        print(gps.open(), flush=True)
        gps.start()
        while not stop.wait(0.5) and not (gps.done.is_set() and not a.loop):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        gps.stop()
    print(gps.stats, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
