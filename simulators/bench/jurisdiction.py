"""Jurisdiction lookup time on the Bandung sample city: load time, and per-call locate p50/p99/max
for points inside the city (every agency) and outside it. `python -m simulators.bench.jurisdiction [--smoke]`"""
from __future__ import annotations

import random
import sys
import time

from fleet_server.domain.jurisdiction import AGENCIES, Jurisdiction
from simulators.bench.results import REPO, percentiles, write

BANDUNG = REPO / "fleet_server" / "data" / "bandung"
# A box around the city: about 60% of these points fall inside it, the rest exercise the misses.
LAT = (-6.975, -6.835)
LON = (107.540, 107.750)


def main(smoke: bool = False) -> dict:
    n = 2_000 if smoke else 100_000
    t0 = time.perf_counter()
    j = Jurisdiction.load(BANDUNG)
    load_ms = (time.perf_counter() - t0) * 1000
    rng = random.Random(112)
    points = [(int(rng.uniform(*LAT) * 1e6), int(rng.uniform(*LON) * 1e6), AGENCIES[i % len(AGENCIES)])
              for i in range(n)]
    hit_us, miss_us = [], []
    clock = time.perf_counter_ns
    for lat, lon, agency in points:
        t = clock()
        found = j.locate(lat, lon, agency)
        dt = (clock() - t) / 1000
        (hit_us if found else miss_us).append(dt)
    everything = percentiles(hit_us + miss_us)
    result = {
        "unit": "microseconds per locate() call",
        "areas": len(j.areas()),
        "load_ms": round(load_ms, 2),
        "calls": n,
        "inside_city": {k: (round(v, 2) if isinstance(v, float) else v) for k, v in percentiles(hit_us).items()},
        "outside_city": {k: (round(v, 2) if isinstance(v, float) else v) for k, v in percentiles(miss_us).items()},
        "all": {k: (round(v, 2) if isinstance(v, float) else v) for k, v in everything.items()},
        "locates_per_s": round(n / (sum(hit_us + miss_us) / 1e6)),
    }
    path = write("jurisdiction", result, smoke=smoke)
    print(f"jurisdiction: p50 {result['all']['p50']} us, p99 {result['all']['p99']} us, "
          f"{result['locates_per_s']} locates/s, load {result['load_ms']} ms -> {path}")
    return result


if __name__ == "__main__":
    main(smoke="--smoke" in sys.argv[1:])
