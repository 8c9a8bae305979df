"""Incident states, the transitions allowed between them, and the clocks they stop.

new -> acknowledged -> dispatched -> enroute -> onscene -> resolved, and from any open state the
closures false_alarm, prank, duplicate, cancelled. A unit may reach the scene without reporting
"en route", so dispatched -> onscene is allowed; nothing goes backwards, and closed is final."""
from __future__ import annotations

FLOW = ("new", "acknowledged", "dispatched", "enroute", "onscene", "resolved")
CLOSURES = ("false_alarm", "prank", "duplicate", "cancelled")
STATES = FLOW + CLOSURES
# A non-emergency given to another channel (complaints service, the agency's desk) is closed as
# handed off: only by the hand-off itself (fleet_server.domain.center), never by a transition.
HANDED_OFF = "handed_off"
CLOSED = ("resolved",) + CLOSURES + (HANDED_OFF,)
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
    """An incident nobody acknowledged within after_s escalates (the ladder's first rung), once."""
    return state == "new" and escalated_at is None and now - received_at >= after_s


# The escalation ladder: an unacknowledged incident goes to the operator's supervisor, then to the
# center head. Each rung: (level, who, the role that answers for it).
LADDER = ((1, "supervisor", "dispatcher"), (2, "center_head", "admin"))


def ladder(supervisor_after_s: float, head_after_s: float) -> tuple[tuple[int, str, str, float], ...]:
    """The rungs with their times: (level, who, role, after_s). The head's rung comes after the
    supervisor's."""
    if not 0 < supervisor_after_s < head_after_s:
        raise ValueError(f"escalation: the supervisor's time ({supervisor_after_s:g} s) must be above 0 "
                         f"and below the center head's ({head_after_s:g} s)")
    (l1, w1, r1), (l2, w2, r2) = LADDER
    return ((l1, w1, r1, supervisor_after_s), (l2, w2, r2, head_after_s))


def escalation_of(level: int) -> dict:
    """The level with who holds it now: {"level": 1, "to": "supervisor", "role": "dispatcher"}."""
    for lvl, who, role in LADDER:
        if lvl == level:
            return {"level": level, "to": who, "role": role}
    return {"level": 0, "to": None, "role": None}


def rungs_due(state: str, received_at: float, level: int, now: float, rungs) -> list[tuple[int, str, str, float]]:
    """The rungs an incident climbs now: every rung above its level whose time has come, in order
    (a sweep that comes late climbs several, each audited); none once acknowledged."""
    if state != "new":
        return []
    return [r for r in rungs if r[0] > level and now - received_at >= r[3]]


def promise_breached(type_: str, received_at: float, onscene_at: float | None, closed_at: float | None,
                     now: float, promise_s: float) -> bool:
    """The promise (a unit on scene within promise_s of the report) is breached when no unit was on
    scene by the deadline and the incident was still open then. Non-emergencies promise nothing."""
    if type_ != "emergency" or not promise_s:
        return False
    deadline = received_at + promise_s
    if onscene_at is not None:
        return onscene_at > deadline
    return (closed_at if closed_at is not None else now) > deadline
