"""The monthly report for the national 112 program (pure): per local month and per regency (kota /
kabupaten), reports by category and by channel, response-time percentiles against the promise,
pranks and false alarms, non-emergencies handed off. From plain rows; CSV as the program asks."""
from __future__ import annotations

import csv
import io
import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterable

from fleet_server.domain.classification import AGENCIES
from fleet_server.domain.lifecycle import HANDED_OFF
from fleet_server.domain.stats import percentile

CATEGORIES = tuple(AGENCIES)
CHANNELS = ("button", "phone", "sms", "aml", "other")
UNLOCATED = "(no location)"
OUTSIDE = "(outside every regency)"
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


@dataclass(frozen=True)
class Row:
    id: int
    type: str                 # emergency | report
    category: str
    channel: str | None
    origin_device_id: str | None
    state: str
    received_at: float
    onscene_at: float | None
    lat_udeg: int | None
    lon_udeg: int | None


def month_bounds(month: str, utc_offset_h: int = 7) -> tuple[float, float]:
    """[since, until) in Unix seconds of the local month 'YYYY-MM'; ValueError for a bad month."""
    m = _MONTH.match(month or "")
    if not m:
        raise ValueError(f"month {month!r} is not YYYY-MM")
    tz = timezone(timedelta(hours=utc_offset_h))
    y, mo = int(m.group(1)), int(m.group(2))
    start = datetime(y, mo, 1, tzinfo=tz)
    end = datetime(y + (mo == 12), mo % 12 + 1, 1, tzinfo=tz)
    return start.timestamp(), end.timestamp()


def channel_of(r: Row) -> str:
    if r.channel in CHANNELS:
        return r.channel
    return "button" if r.origin_device_id else "other"   # stored before channels were


def _block(rows: list[Row], promise_s: float) -> dict:
    response = [r.onscene_at - r.received_at for r in rows if r.type == "emergency" and r.onscene_at is not None]
    states = Counter(r.state for r in rows)
    return {
        "reports": len(rows),
        "emergencies": sum(1 for r in rows if r.type == "emergency"),
        "non_emergencies": sum(1 for r in rows if r.type == "report"),
        "by_category": {c: sum(1 for r in rows if r.category == c) for c in CATEGORIES},
        "by_channel": {c: sum(1 for r in rows if channel_of(r) == c) for c in CHANNELS},
        "response": {"n": len(response), "p50": percentile(response, 50), "p90": percentile(response, 90),
                     "p95": percentile(response, 95), "max": percentile(response, 100),
                     "within_promise": sum(1 for v in response if v <= promise_s),
                     "within_promise_share": round(sum(1 for v in response if v <= promise_s) / len(response), 3)
                     if response else None},
        "pranks": states["prank"], "false_alarms": states["false_alarm"], "handed_off": states[HANDED_OFF],
    }


def monthly_report(rows: Iterable[Row], month: str, regency_of: Callable[[int, int], str | None] | None,
                   promise_s: float = 300, utc_offset_h: int = 7) -> dict:
    """Every row received in the local month, grouped by the regency its location falls in."""
    since, until = month_bounds(month, utc_offset_h)
    inside = [r for r in rows if since <= r.received_at < until]
    groups: dict[str, list[Row]] = {}
    for r in inside:
        if r.lat_udeg is None or r.lon_udeg is None:
            where = UNLOCATED
        else:
            where = (regency_of(r.lat_udeg, r.lon_udeg) if regency_of else None) or OUTSIDE
        groups.setdefault(where, []).append(r)
    return {"month": month, "since": since, "until": until, "utc_offset_h": utc_offset_h, "promise_s": promise_s,
            "regencies": [{"regency": name, **_block(groups[name], promise_s)}   # named regencies first
                          for name in sorted(groups, key=lambda n: (n in (UNLOCATED, OUTSIDE), n))],
            "total": {"regency": "total", **_block(inside, promise_s)}}


def to_csv(report: dict) -> str:
    """One line per regency and a total line; the columns name what they count."""
    head = (["month", "regency", "reports", "emergencies", "non_emergencies"]
            + [f"category_{c}" for c in CATEGORIES] + [f"channel_{c}" for c in CHANNELS]
            + ["response_n", "response_p50_s", "response_p90_s", "response_p95_s", "response_max_s",
               "within_promise", "within_promise_share", "pranks", "false_alarms", "handed_off"])
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(head)
    for b in report["regencies"] + [report["total"]]:
        rs = b["response"]
        w.writerow([report["month"], b["regency"], b["reports"], b["emergencies"], b["non_emergencies"]]
                   + [b["by_category"][c] for c in CATEGORIES] + [b["by_channel"][c] for c in CHANNELS]
                   + ["" if rs[k] is None else rs[k] for k in ("n", "p50", "p90", "p95", "max", "within_promise",
                                                                 "within_promise_share")]
                   + [b["pranks"], b["false_alarms"], b["handed_off"]])
    return out.getvalue()
