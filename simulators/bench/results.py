"""Where benchmark results go, and the one way to write them."""
from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RESULTS = Path(os.environ.get("SIAGA_BENCH_DIR", REPO / "bench" / "results"))


def machine() -> dict:
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}


def write(name: str, data: dict, smoke: bool = False) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    doc = {"benchmark": name, "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "smoke": smoke,
           "machine": machine(), **data}
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(doc, indent=2) + "\n")
    return path


def percentiles(samples: list[float], ps=(50, 90, 99)) -> dict:
    if not samples:
        return {f"p{p}": None for p in ps} | {"max": None, "n": 0}
    s = sorted(samples)
    out = {f"p{p}": s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))] for p in ps}
    out["max"] = s[-1]
    out["n"] = len(s)
    return out
