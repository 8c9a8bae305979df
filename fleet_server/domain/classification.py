"""Category -> agency and priority. 112 replaced the separate numbers; each incident still goes to
the agency behind the old number. An unknown category goes to the 112 operator for triage."""
from __future__ import annotations

AGENCIES = {
    "police": {"agency": "polri", "number": "110", "name": "Polri"},
    "fire": {"agency": "damkar", "number": "113", "name": "Damkar"},
    "sar": {"agency": "basarnas", "number": "115", "name": "Basarnas"},
    "disaster": {"agency": "bpbd", "number": "117", "name": "BPBD"},
    "medical": {"agency": "dinkes", "number": "119", "name": "Ambulans / Dinkes"},
    # Traffic and road incidents (a crash blocking a road, a fallen tree, a broken signal): the
    # Dinas Perhubungan has no old number of its own; the 112 center forwards to it.
    "traffic": {"agency": "dishub", "number": "112", "name": "Dishub"},
    "unknown": {"agency": "triage", "number": "112", "name": "112 operator triage"},
}
AGENCY_CODES = tuple(sorted({a["agency"] for a in AGENCIES.values()}))

# 1 is the most urgent. A citizen pressing the button is life-or-limb until triage says otherwise;
# device-raised alarms (tamper, stuck) are for the technician and never outrank a person.
_TRIGGER_PRIORITY = {"button": 1, "crew": 1, "tamper": 3, "stuck": 3}
REPORT_PRIORITY = 4


def agency_for(category: str) -> str:
    return AGENCIES.get(category, AGENCIES["unknown"])["agency"]


def effective_category(alarm_category: str, device_category: str | None) -> str:
    """A single-purpose button (e.g. a fire-only button) says 'unknown' on the wire; its
    registered category then decides."""
    if alarm_category != "unknown":
        return alarm_category
    return device_category or "unknown"


def priority(category: str, trigger: str, prank_flagged: bool = False) -> int:
    p = _TRIGGER_PRIORITY.get(trigger, 2)
    if category == "unknown" and p == 1:
        p = 2  # still urgent, but triage first decides who goes
    if prank_flagged:
        p = min(p + 1, REPORT_PRIORITY)  # still arrives, marked, but does not jump the queue
    return p
