"""Forwarding an incident to the responsible station chain, acceptance, escalation and the
accountability report: the rules, pure (fleet_server/domain/forwards.py runs them in transactions).

The chain is read from the station areas an incident was routed to: for Polri the Polres first,
which hands the report down to its Polsek; for the other agencies their post or hospital. A
forward is *pending* at its station until a user of that station accepts it; from *accepted* the
station hands it down to a child station, returns it to the center with a reason, or closes it
(with action taken, or without). A forward nobody accepts within the agency's time escalates up
the chain: Polsek -> Polres -> the center's supervisor. Each forward keeps who held it (the
station's roster when it arrived) and for how long: the accountability report is built from them.

    pending --accept--> accepted --hand_down--> handed_down  (a new forward to the child station)
       |                    |------return-----> returned     (back to the center, with a reason)
       |                    '------close------> closed       (outcome done | no_action)
       |--return--> returned
       |--(time)--> escalated  (a new forward to the parent station, or the center's supervisor)
       '--(incident closed)--> closed (outcome no_action)
"""
from __future__ import annotations

from dataclasses import dataclass

PENDING, ACCEPTED, HANDED_DOWN, RETURNED, ESCALATED, CLOSED = (
    "pending", "accepted", "handed_down", "returned", "escalated", "closed")
STATES = (PENDING, ACCEPTED, HANDED_DOWN, RETURNED, ESCALATED, CLOSED)
OPEN = (PENDING, ACCEPTED)
DONE, NO_ACTION = "done", "no_action"
SUPERVISOR = "supervisor"     # the top of every chain: the center's supervisor (role dispatcher)
SUPERVISOR_ROLE = "dispatcher"
COMMAND_CENTER = "112"        # the station id of incidents no station area holds

# Audit actions (entity "incident", entity id the incident; to_value the station, detail says more).
FORWARDED, ACCEPTED_A, HANDED_DOWN_A, RETURNED_A, CLOSED_A, ESCALATED_A = (
    "forwarded", "forward_accepted", "forward_handed_down", "forward_returned", "forward_closed",
    "forward_escalated")


class ForwardError(Exception):
    """A forwarding step the rules refuse; code is stable, reason a sentence."""

    def __init__(self, code: str, reason: str):
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True)
class ForwardRules:
    accept_s: float = 120.0       # a forward unaccepted this long escalates up the chain
    accept_by_agency: str = ""    # agency=seconds, comma separated (e.g. "polri=60,dinkes=30")
    auto_agencies: str = ""       # agencies forwarded on routing, without an operator: comma separated, or "all"

    @classmethod
    def from_settings(cls, s) -> "ForwardRules":
        return cls(accept_s=s.forward_accept_s, accept_by_agency=s.forward_accept_by_agency,
                   auto_agencies=s.forward_auto_agencies)

    def accept_after_s(self, agency: str) -> float:
        return self.per_agency().get(agency, self.accept_s)

    def per_agency(self) -> dict[str, float]:
        """{agency: seconds}; a broken setting is refused by name at start (check())."""
        out = {}
        for part in (p.strip() for p in self.accept_by_agency.split(",")):
            if not part:
                continue
            agency, sep, secs = part.partition("=")
            try:
                value = float(secs)
            except ValueError:
                value = -1.0
            if not sep or not agency.strip() or value <= 0:
                raise ForwardError("bad_setting", f"forward_accept_by_agency: {part!r} is not agency=seconds (> 0)")
            out[agency.strip()] = value
        return out

    def auto(self, agency: str) -> bool:
        names = {a.strip() for a in self.auto_agencies.split(",") if a.strip()}
        return "all" in names or agency in names

    def check(self) -> None:
        if self.accept_s <= 0:
            raise ForwardError("bad_setting", f"forward_accept_s must be above 0 (got {self.accept_s:g})")
        self.per_agency()


def chain(service: str, station_id: str | None, station_parent: str | None) -> list[str]:
    """The stations an incident goes through, top first: for the police the Polres then its Polsek
    (the Polres hands the report down); for the others the post or hospital itself. Empty when no
    station area holds the incident (the command center keeps it)."""
    if not station_id or station_id == COMMAND_CENTER:
        return []
    if service == "police" and station_parent:
        return [station_parent, station_id]
    return [station_id]


def first_target(service: str, station_id: str | None, station_parent: str | None) -> str:
    c = chain(service, station_id, station_parent)
    if not c:
        raise ForwardError("no_station", "no station area holds this incident: the command center keeps it")
    return c[0]


def escalation_target(station_id: str, parent_of) -> str:
    """Where a forward left unaccepted at `station_id` goes: the station's parent (Polsek -> Polres),
    else the center's supervisor. parent_of(station id) -> parent id or None."""
    return parent_of(station_id) or SUPERVISOR


def due(state: str, sent_at: float, now: float, after_s: float) -> bool:
    return state == PENDING and now - sent_at >= after_s


def may_act(station_id: str, user_station: str | None, user_is_center: bool) -> bool:
    """A station's own users act on its forwards; the center (operator and above) may act for a
    station that answered by phone or radio (the audit says on whose behalf)."""
    return user_is_center or (user_station is not None and user_station == station_id)


def check_step(step: str, state: str, reason: str | None = None) -> None:
    """Raises ForwardError when `step` (accept, hand_down, return, close) is not allowed from `state`."""
    allowed = {"accept": (PENDING,), "hand_down": (ACCEPTED,), "return": (PENDING, ACCEPTED),
               "close": (ACCEPTED,)}[step]
    if state not in allowed:
        raise ForwardError("illegal_forward_step", f"cannot {step.replace('_', ' ')} a forward that is {state} "
                                                   f"(only when {' or '.join(allowed)})")
    if step == "return" and not (reason or "").strip():
        raise ForwardError("reason_needed", "returning a forward to the center needs a reason")


def parse_holders(text: str | None) -> list[str]:
    return [h for h in (text or "").split(",") if h]


# ---- the accountability report -------------------------------------------------------------
def held_until(f, now: float) -> float:
    """When the station stopped holding the forward unaccepted-or-open: acceptance ends the wait,
    the end (hand-down, return, close, escalation) ends the hold."""
    return f.ended_at if f.ended_at is not None else now


def hold(f, now: float) -> dict:
    """One forward as the report shows it: who held it and for how long."""
    end = held_until(f, now)
    wait_end = f.accepted_at if f.accepted_at is not None else end
    return {"forward": f.id, "incident": f.incident_id, "station": f.station_id, "station_name": f.station_name,
            "agency": f.agency, "state": f.state, "outcome": f.outcome, "sent_at": f.sent_at, "sent_by": f.sent_by,
            "holders": parse_holders(f.holders), "accepted_by": f.accepted_by, "accepted_at": f.accepted_at,
            "ended_at": f.ended_at, "ended_by": f.ended_by, "reason": f.reason,
            "unaccepted_s": round(wait_end - f.sent_at, 3), "held_s": round(end - f.sent_at, 3),
            "left_unaccepted": f.accepted_at is None and f.state in (ESCALATED, CLOSED),
            "closed_without_action": f.state == CLOSED and f.outcome == NO_ACTION}


def _pct(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile; None without values."""
    if not values:
        return None
    v = sorted(values)
    k = max(0, min(len(v) - 1, int(-(-q * len(v) // 1)) - 1))
    return round(v[k], 3)


def _tally(holds: list[dict], accepted_by: str | None = None) -> dict:
    mine = [h for h in holds if accepted_by is None or h["accepted_by"] == accepted_by]
    waits = [h["unaccepted_s"] for h in mine if h["accepted_at"] is not None]
    return {"received": len(holds), "accepted": len(waits),
            "accept_p50_s": _pct(waits, 0.5), "accept_max_s": max(waits) if waits else None,
            "left_unaccepted": sum(1 for h in holds if h["left_unaccepted"]),
            "pending": sum(1 for h in holds if h["state"] == PENDING),
            "closed_without_action": sum(1 for h in holds if h["closed_without_action"])}


def accountability(forwards, now: float) -> dict:
    """Per station and per person: received, accepted, time to accept (p50 and max), left
    unaccepted (escalated or closed before anyone accepted), still pending, closed without action;
    and every hold (who held which report, for how long). A person is counted for each forward
    that reached a station while they were on its roster, and for the forwards they accepted."""
    holds = sorted((hold(f, now) for f in forwards), key=lambda h: (h["sent_at"], h["forward"]))
    stations: dict[str, list] = {}
    people: dict[str, list] = {}
    for h in holds:
        stations.setdefault(h["station"], []).append(h)
        for who in set(h["holders"]) | ({h["accepted_by"]} if h["accepted_by"] else set()):
            people.setdefault(who, []).append(h)
    names = {h["station"]: h["station_name"] for h in holds}
    return {
        "now": now,
        "stations": [{"station": s, "station_name": names[s], **_tally(hs)} for s, hs in sorted(stations.items())],
        "people": [{"user": u, "stations": sorted({h["station"] for h in hs}),
                    **{**_tally(hs), **{k: v for k, v in _tally(hs, accepted_by=u).items()
                                        if k in ("accepted", "accept_p50_s", "accept_max_s")}},
                    "held_unaccepted_s": round(sum(h["unaccepted_s"] for h in hs if h["left_unaccepted"]), 3)}
                   for u, hs in sorted(people.items())],
        "holds": holds,
    }


CSV_COLUMNS = ("forward", "incident", "station", "station_name", "agency", "state", "outcome", "sent_at", "sent_by",
               "holders", "accepted_by", "accepted_at", "unaccepted_s", "held_s", "ended_at", "ended_by",
               "left_unaccepted", "closed_without_action", "reason")
