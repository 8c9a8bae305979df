"""Incident states, the transitions allowed between them, and the clocks they stop.

new -> acknowledged -> dispatched -> enroute -> onscene -> resolved, and from any open state the
closures false_alarm, prank, duplicate, cancelled. A unit may reach the scene without reporting
"en route", so dispatched -> onscene is allowed; nothing goes backwards, and closed is final."""
from __future__ import annotations

FLOW = ("new", "acknowledged", "dispatched", "enroute", "onscene", "resolved")
CLOSURES = ("false_alarm", "prank", "duplicate", "cancelled")
STATES = FLOW + CLOSURES
CLOSED = ("resolved",) + CLOSURES
OPEN = tuple(s for s in FLOW if s not in CLOSED)

_NEXT = {
    "new": ("acknowledged",),
    "acknowledged": ("dispatched",),
    "dispatched": ("enroute", "onscene"),
    "enroute": ("onscene",),
    "onscene": ("resolved",),
}

# The clock each state stops (a closure stops "closed").
CLOCK = {"acknowledged": "acknowledged_at", "dispatched": "dispatched_at", "enroute": "enroute_at",
         "onscene": "onscene_at", "resolved": "closed_at"}
for _c in CLOSURES:
    CLOCK[_c] = "closed_at"
CLOCKS = ("pressed_at", "received_at", "acknowledged_at", "dispatched_at", "enroute_at",
          "onscene_at", "closed_at")

# What the originating button's LED shows for a state (protocols.messages.FEEDBACK).
FEEDBACK = {"dispatched": "dispatched", "enroute": "dispatched", "onscene": "near",
            "resolved": "closed", "false_alarm": "closed", "prank": "closed",
            "duplicate": "closed", "cancelled": "closed"}


def check_transition(current: str, target: str, reason: str | None = None) -> str | None:
    """None when allowed, else a sentence saying why not."""
    if target not in STATES:
        return f"{target!r} is not an incident state ({', '.join(STATES)})"
    if current in CLOSED:
        return f"incident is already closed ({current})"
    if target == current:
        return f"incident is already {current}"
    if target in CLOSURES:
        if not reason or not reason.strip():
            return f"closing as {target} needs a reason"
        return None
    if target not in _NEXT.get(current, ()):
        allowed = ", ".join(_NEXT.get(current, ()) + CLOSURES)
        return f"cannot go from {current} to {target}; allowed: {allowed}"
    return None


def durations(clocks: dict, promise_s: int | None = None) -> dict:
    """Derived durations in seconds (None while a clock is still running or was skipped)."""
    def span(a: str, b: str):
        x, y = clocks.get(a), clocks.get(b)
        return None if x is None or y is None else round(y - x, 3)

    out = {
        "transport_s": span("pressed_at", "received_at"),
        "to_acknowledge_s": span("received_at", "acknowledged_at"),
        "to_dispatch_s": span("received_at", "dispatched_at"),
        "travel_s": span("dispatched_at", "onscene_at"),
        "response_s": span("received_at", "onscene_at"),
        "to_close_s": span("received_at", "closed_at"),
    }
    if promise_s is not None:
        r = out["response_s"]
        out["within_promise"] = None if r is None else r <= promise_s
    return out


def due_for_escalation(state: str, received_at: float, escalated_at: float | None, now: float,
                       after_s: float) -> bool:
    """An incident nobody acknowledged within after_s escalates, once."""
    return state == "new" and escalated_at is None and now - received_at >= after_s
