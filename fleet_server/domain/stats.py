"""Counts and clock percentiles per agency and day, from plain rows (pure)."""
from __future__ import annotations

import math
import time
from collections import defaultdict
from datetime import datetime, timedelta, timezone

from fleet_server.domain import lifecycle


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for no values."""
    if not values:
        return None
    v = sorted(values)
    k = max(1, math.ceil(q / 100 * len(v)))
    return round(v[k - 1], 3)


def per_agency_day(rows, utc_offset_h: int = 7, promise_s: float = 300, now: float | None = None) -> list[dict]:
    """rows: (agency, received_at, acknowledged_at, dispatched_at, onscene_at, closed_at, state, type).
    Days are local days (Indonesia WIB is UTC+7 by default). promise_breached counts the emergencies
    with no unit on scene by the promise while still open (lifecycle.promise_breached, as of `now`)."""
    now = time.time() if now is None else now
    tz = timezone(timedelta(hours=utc_offset_h))
    groups: dict[tuple, list] = defaultdict(list)
    for r in rows:
        day = datetime.fromtimestamp(r[1], tz).date().isoformat()
        groups[(r[0], day)].append(r)
    out = []
    for (agency, day), rs in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        spans = {"to_acknowledge_s": [], "to_dispatch_s": [], "response_s": []}
        states: dict[str, int] = defaultdict(int)
        breached = 0
        for _a, rec, ack, disp, onscene, closed, state, type_ in rs:
            states[state] += 1
            breached += lifecycle.promise_breached(type_, rec, onscene, closed, now, promise_s)
            for name, end in (("to_acknowledge_s", ack), ("to_dispatch_s", disp), ("response_s", onscene)):
                if end is not None:
                    spans[name].append(end - rec)
        clocks = {name: {"n": len(v), "p50": percentile(v, 50), "p90": percentile(v, 90), "max": percentile(v, 100)}
                  for name, v in spans.items()}
        within = sum(1 for v in spans["response_s"] if v <= promise_s)
        out.append({"agency": agency, "day": day, "count": len(rs), "by_state": dict(states),
                    "open": sum(n for s, n in states.items() if s in lifecycle.OPEN),
                    "clocks": clocks, "promise_breached": breached,
                    "within_promise": None if not spans["response_s"] else round(within / len(spans["response_s"]), 3)})
    return out
