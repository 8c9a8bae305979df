r"""Assignments: a unit sent to an incident, from the order to the scene.

    ordered --cmdres accepted--> accepted --enters radius--> onscene
       |  \--cmdres declined/rejected/expired--> declined  -> next unit proposed
       \----no answer within ack_timeout_s----> unanswered -> next unit proposed, dispatcher alerted
    (any open state) --cancel--> cancelled

The order is a protocols `cmd` op "dispatch" on topics.down(tracker, "cmd") at QoS 1 with an
expiry; the tracker answers with `cmdres` carrying the order id. Publishing goes through one
`publish(topic, payload, qos)` callable (a paho client's publish in production, the same in
tests against the real broker). Everything the dispatcher must see is an event dict passed to
`on_event`; the core maps "incident.progress" events onto its incident lifecycle."""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

from protocols import downlink, topics
from protocols.messages import CATEGORIES
from protocols.rejection import Rejection, BAD_VALUE, IDENTITY_MISMATCH, UNKNOWN_DEVICE
from fleet_server.domain.geo import haversine_m
from fleet_server.domain.recommend import IncidentSite, Recommendation, Recommender, agency_for_incident
from fleet_server.domain.repositories import AlwaysHeld, Journal, Lease
from fleet_server.domain.tracking import Tracking
from fleet_server.domain.units import Position, Unit
from fleet_server.logs import event

log = logging.getLogger("siaga.dispatch")

Publish = Callable[[str, bytes, int], object]
EventSink = Callable[[dict], None]

OPEN = ("ordered", "accepted")
STATES = ("ordered", "accepted", "onscene", "declined", "unanswered", "cancelled")


@dataclass(frozen=True)
class AssignmentConfig:
    ack_timeout_s: float = 60.0        # no cmdres by then: propose the next unit, alert the dispatcher
    order_ttl_s: int = 300             # the order's `exp`: a tracker must not act on an old order
    onscene_radius_m: float = 100.0
    near_radius_m: float = 500.0       # the button shows "unit near" from here
    auto_dispatch: frozenset[str] = frozenset()   # agencies whose top pick is ordered without a human
    tick_s: float = 1.0                # how often the timer looks for unanswered orders
    # Send "dispatched"/"near" to the incident's buttons from here. Off when the core already
    # sends feedback on its incident transitions (it does for dispatched and onscene); "near" at
    # near_radius_m is then still worth keeping on, see docs/dispatch.md.
    button_feedback: bool = True


@dataclass
class Assignment:
    id: str                  # the order id on the wire (cmd.id, echoed in cmdres.id)
    incident: int
    unit: str
    device: str
    by: str                  # a dispatcher's username, or "auto"
    state: str
    ordered_at: float
    lat: int
    lon: int
    category: str
    note: str = ""
    answered_at: float | None = None
    onscene_at: float | None = None
    why: str | None = None
    near_sent: bool = False
    history: list[tuple[float, str, str]] = field(default_factory=list)  # (at, state, by)

    def public(self) -> dict:
        d = asdict(self)
        d["history"] = [{"at": a, "state": s, "by": b} for a, s, b in self.history]
        return d


@dataclass
class _Incident:
    site: IncidentSite
    buttons: tuple[str, ...]
    attempts: int = 0
    feedback_sent: set[str] = field(default_factory=set)


class Dispatch:
    def __init__(self, tracking: Tracking, recommender: Recommender, publish: Publish,
                 config: AssignmentConfig | None = None, on_event: EventSink | None = None,
                 clock: Callable[[], float] = time.time, journal: Journal | None = None):
        self.tracking = tracking
        self.recommender = recommender
        self.publish = publish
        self.config = config or AssignmentConfig()
        self.on_event = on_event or (lambda e: None)
        self.clock = clock
        self._incidents: dict[int, _Incident] = {}
        self._assignments: dict[str, Assignment] = {}
        self._lock = threading.RLock()
        self._on_the_way: set[str] = set()   # units with an accepted order (arrival checks)
        self._timer: threading.Thread | None = None
        self._stop = threading.Event()
        self.journal = journal
        self.lease: Lease = AlwaysHeld()   # the timers run only while it is held
        if journal is not None:
            self._restore(journal)
        tracking.on_position(self._arrival)

    # ---- incidents --------------------------------------------------------------------------
    def open_incident(self, site: IncidentSite, buttons: tuple[str, ...] = ()) -> Recommendation:
        """The core calls this when an incident needs a unit (new, or located). Returns the
        recommendation; under an auto-dispatch policy the top pick is ordered at once."""
        with self._lock:
            inc = self._incidents.get(site.id)
            if inc is None:
                inc = self._incidents[site.id] = _Incident(site, tuple(buttons))
            else:
                inc.site = site
                inc.buttons = tuple(dict.fromkeys(inc.buttons + tuple(buttons)))
            self._save_incident(inc)
        rec = self.recommend(site.id)
        self._emit({"type": "dispatch.recommended", "incident": site.id,
                    "picks": [p.unit for p in rec.picks], "note": rec.note})
        agency = agency_for_incident(site.category)
        if agency in self.config.auto_dispatch and rec.picks and not self.assignments(site.id, open_only=True):
            self.assign(site.id, rec.picks[0].unit, by="auto")
        return rec

    def add_buttons(self, incident: int, buttons: tuple[str, ...]) -> None:
        """More buttons folded into the incident: they get the same feedback."""
        with self._lock:
            inc = self._incidents.get(incident)
            if inc is not None:
                inc.buttons = tuple(dict.fromkeys(inc.buttons + tuple(buttons)))
                self._save_incident(inc)

    def close_incident(self, incident: int, by: str) -> list[Assignment]:
        """The incident is closed: open orders are cancelled (the units become free for others)
        and the incident is forgotten by dispatch. Returns the cancelled orders."""
        cancelled = []
        for a in self.assignments(incident, open_only=True):
            r = self.cancel(a.id, by)
            if not isinstance(r, Rejection):
                cancelled.append(r)
        with self._lock:
            inc = self._incidents.pop(incident, None)
            if inc is not None:
                self._save_incident(inc, open_=False)
        return cancelled

    def recommend(self, incident: int) -> Recommendation | Rejection:
        inc = self._incidents.get(incident)
        if inc is None:
            return Rejection(BAD_VALUE, f"incident {incident} is not open for dispatch")
        return self.recommender.recommend(inc.site, self.clock(), held=self._held(incident))

    # ---- orders -----------------------------------------------------------------------------
    def assign(self, incident: int, unit_id: str, by: str, note: str = "") -> Assignment | Rejection:
        now = self.clock()
        with self._lock:
            inc = self._incidents.get(incident)
            if inc is None:
                return Rejection(BAD_VALUE, f"incident {incident} is not open for dispatch")
            unit = self.tracking.get(unit_id)
            if unit is None:
                return Rejection(UNKNOWN_DEVICE, f"unit {unit_id} is not known")
            if not unit.device_id:
                return Rejection(BAD_VALUE, f"unit {unit_id} has no tracker to receive the order")
            if unit.status != "available":
                return Rejection(BAD_VALUE, f"unit {unit_id} is {unit.status}, not available")
            pending = [a for a in self._assignments.values() if a.unit == unit_id and a.state in OPEN]
            if pending:
                return Rejection(BAD_VALUE, f"unit {unit_id} already has order {pending[0].id} for incident {pending[0].incident}")
            inc.attempts += 1
            category = inc.site.category if inc.site.category in CATEGORIES else (agency_for_incident(inc.site.category) or "unknown")
            a = Assignment(id=f"d{incident}-{inc.attempts}", incident=incident, unit=unit_id, device=unit.device_id,
                           by=by, state="ordered", ordered_at=now, lat=inc.site.lat, lon=inc.site.lon,
                           category=category, note=note[:120])
            a.history.append((now, "ordered", by))
            self._assignments[a.id] = a
            self._save_incident(inc)
            self._save(a)
        self._send(topics.down(a.device, "cmd"), lambda: downlink.dispatch_order(
            a.device, a.id, incident, a.lat, a.lon, a.category, a.note, int(now), self.config.order_ttl_s))
        event(log, logging.INFO, "dispatch ordered", incident=incident, unit=unit_id, order=a.id, by=by)
        self._emit({"type": "dispatch.ordered", "incident": incident, "unit": unit_id, "order": a.id, "by": by})
        self._emit({"type": "incident.progress", "incident": incident, "state": "dispatched", "unit": unit_id, "at": now})
        return a

    def cancel(self, order_id: str, by: str) -> Assignment | Rejection:
        with self._lock:
            a = self._assignments.get(order_id)
            if a is None:
                return Rejection(BAD_VALUE, f"order {order_id} is not known")
            if a.state not in OPEN:
                return Rejection(BAD_VALUE, f"order {order_id} is already {a.state}")
            self._move(a, "cancelled", by, self.clock())
        self._emit({"type": "dispatch.cancelled", "incident": a.incident, "unit": a.unit, "order": a.id, "by": by})
        return a

    def on_cmdres(self, msg: dict, received_at: float | None = None) -> Assignment | Rejection | None:
        """A decoded `cmdres` from a tracker. None when it answers a command that is not a
        dispatch order (feedback, config) so the caller can route it elsewhere."""
        now = self.clock() if received_at is None else received_at
        with self._lock:
            a = self._assignments.get(msg["id"])
            if a is None:
                return None
            if msg["dev"] != a.device:
                return Rejection(IDENTITY_MISMATCH, f"order {a.id} went to {a.device}, not {msg['dev']}")
            if a.state not in ("ordered", "unanswered"):
                return Rejection(BAD_VALUE, f"order {a.id} is already {a.state}")
            late = a.state == "unanswered"
            res = msg["res"]
            a.answered_at, a.why = now, msg.get("why")
            if res in ("accepted", "ok"):
                if late and self._replacement_exists(a):
                    return Rejection(BAD_VALUE, f"order {a.id} was answered after the next unit was ordered")
                self._move(a, "accepted", "device:" + a.device, now)
            else:
                self._move(a, "declined", "device:" + a.device, now)
        if a.state == "accepted":
            self.tracking.set_status(a.unit, "enroute", now, by="dispatch")
            self._emit({"type": "dispatch.accepted", "incident": a.incident, "unit": a.unit, "order": a.id})
            self._emit({"type": "incident.progress", "incident": a.incident, "state": "enroute", "unit": a.unit, "at": now})
            self._feedback(a.incident, "dispatched")
        else:
            self._emit({"type": "dispatch.declined", "incident": a.incident, "unit": a.unit, "order": a.id,
                        "res": res, "why": a.why, "alert": True})
            self._propose_next(a.incident)
        return a

    def tick(self, now: float | None = None) -> list[Assignment]:
        """Orders past their ack timeout become "unanswered"; the next unit is proposed."""
        now = self.clock() if now is None else now
        late = []
        with self._lock:
            for a in self._assignments.values():
                if a.state == "ordered" and now - a.ordered_at >= self.config.ack_timeout_s:
                    self._move(a, "unanswered", "system", now)
                    late.append(a)
        for a in late:
            event(log, logging.WARNING, "dispatch unanswered", incident=a.incident, unit=a.unit, order=a.id)
            self._emit({"type": "dispatch.unanswered", "incident": a.incident, "unit": a.unit, "order": a.id,
                        "after_s": round(now - a.ordered_at, 1), "alert": True})
            self._propose_next(a.incident)
        return late

    def start(self) -> "Dispatch":
        """Run tick() on a background thread every config.tick_s until stop()."""
        self._stop.clear()
        self._timer = threading.Thread(target=self._run, name="dispatch-timer", daemon=True)
        self._timer.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._timer is not None:
            self._timer.join(5)

    def assignments(self, incident: int | None = None, open_only: bool = False) -> list[Assignment]:
        with self._lock:
            out = [a for a in self._assignments.values()
                   if (incident is None or a.incident == incident) and (not open_only or a.state in OPEN)]
        return sorted(out, key=lambda a: a.ordered_at)

    def get(self, order_id: str) -> Assignment | None:
        return self._assignments.get(order_id)

    # ---- inside -----------------------------------------------------------------------------
    def reload(self) -> None:
        """Read the journal again: orders another worker placed or answered (several workers on
        one database; the dispatch lease's new holder calls this)."""
        if self.journal is None:
            return
        with self._lock:
            self._incidents.clear()
            self._assignments.clear()
            self._on_the_way.clear()
            self._restore(self.journal)

    def _run(self) -> None:
        while not self._stop.wait(self.config.tick_s):
            if not self.lease.held():
                continue   # another worker runs the timers (fleet_server/cluster/leases.py)
            try:
                self.tick()
            except Exception:
                log.exception("dispatch tick failed")

    def _held(self, incident: int) -> dict[str, str]:
        with self._lock:
            assignments = list(self._assignments.values())
        held = {}
        for a in assignments:
            if a.incident == incident and a.state in ("declined", "unanswered", "cancelled"):
                held[a.unit] = f"{a.state} order {a.id} for this incident"
            elif a.state in OPEN:
                held[a.unit] = f"has order {a.id} for incident {a.incident}"
        return held

    def _replacement_exists(self, a: Assignment) -> bool:
        return any(b.incident == a.incident and b.id != a.id and b.ordered_at >= a.ordered_at and b.state in OPEN + ("onscene",)
                   for b in self._assignments.values())

    def _propose_next(self, incident: int) -> None:
        rec = self.recommend(incident)
        if isinstance(rec, Rejection):
            return
        if not rec.picks:
            self._emit({"type": "dispatch.no_unit", "incident": incident, "note": rec.note, "alert": True})
            return
        self._emit({"type": "dispatch.proposed", "incident": incident, "unit": rec.picks[0].unit,
                    "picks": [p.unit for p in rec.picks], "alert": True})
        inc = self._incidents[incident]
        if agency_for_incident(inc.site.category) in self.config.auto_dispatch:
            self.assign(incident, rec.picks[0].unit, by="auto")

    def _arrival(self, unit: Unit, pos: Position) -> None:
        """Tracking.on_position listener: "near" to the buttons, then on scene inside the radius."""
        if unit.id not in self._on_the_way:  # the common case, decided without the lock
            return
        with self._lock:
            mine = [a for a in self._assignments.values() if a.unit == unit.id and a.state == "accepted"]
        for a in mine:
            d = haversine_m(pos.lat, pos.lon, a.lat, a.lon)
            if d <= self.config.near_radius_m and not a.near_sent:
                a.near_sent = True
                self._save(a)
                self._emit({"type": "dispatch.near", "incident": a.incident, "unit": a.unit, "distance_m": round(d, 1)})
                self._feedback(a.incident, "near")
            if d <= self.config.onscene_radius_m:
                with self._lock:
                    if a.state != "accepted":
                        continue
                    a.onscene_at = pos.ts
                    self._move(a, "onscene", "movement", pos.ts)
                self.tracking.set_status(a.unit, "onscene", pos.ts, by="arrival")
                self._emit({"type": "dispatch.onscene", "incident": a.incident, "unit": a.unit, "order": a.id})
                self._emit({"type": "incident.progress", "incident": a.incident, "state": "onscene", "unit": a.unit, "at": pos.ts})

    def _feedback(self, incident: int, state: str) -> None:
        """LED feedback to every button of the incident, once per state."""
        if not self.config.button_feedback:
            return
        with self._lock:
            inc = self._incidents.get(incident)
            if inc is None or state in inc.feedback_sent:
                return
            inc.feedback_sent.add(state)
            buttons = inc.buttons
            self._save_incident(inc)
        now = int(self.clock())
        for dev in buttons:
            self._send(topics.down(dev, "cmd"),
                       lambda dev=dev: downlink.feedback(dev, incident, state, now, self.config.order_ttl_s))

    def _send(self, topic: str, build: Callable[[], bytes]) -> None:
        # build() is called here so that a message the schema refuses is logged like a failed publish.
        try:
            self.publish(topic, build(), 1)
        except Exception:
            # The broker link is down: paho queues QoS 1 publishes itself; anything else is logged
            # and the ack timeout proposes the next unit, so an order never silently vanishes.
            log.exception("publishing to %s failed", topic)

    def _move(self, a: Assignment, state: str, by: str, at: float) -> None:
        if state == "accepted":
            self._on_the_way.add(a.unit)
        elif a.state == "accepted":
            self._on_the_way.discard(a.unit)
        a.state = state
        a.history.append((at, state, by))
        self._save(a)

    # ---- the journal: failures are logged, never raised (dispatch goes on in memory) ---------
    def _save(self, a: Assignment) -> None:
        if self.journal is not None:
            try:
                self.journal.save_assignment(a)
            except Exception:
                log.exception("could not keep order %s", a.id)

    def _save_incident(self, inc: _Incident, open_: bool = True) -> None:
        if self.journal is not None:
            try:
                self.journal.save_dispatch_incident(inc.site, inc.buttons, inc.attempts, inc.feedback_sent, open_)
            except Exception:
                log.exception("could not keep dispatch incident %s", inc.site.id)

    def _restore(self, journal: Journal) -> None:
        incidents, assignments = journal.load_dispatch()
        for site, buttons, attempts, sent in incidents:
            self._incidents[site.id] = _Incident(site, tuple(buttons), attempts, set(sent))
        for a in assignments:
            self._assignments[a.id] = a
            if a.state == "accepted":
                self._on_the_way.add(a.unit)
        if incidents or assignments:
            event(log, logging.INFO, "dispatch restored", incidents=len(incidents),
                  open_orders=sum(1 for a in assignments if a.state in OPEN))

    def _emit(self, ev: dict) -> None:
        try:
            self.on_event(ev)
        except Exception:
            log.exception("dispatch event sink failed")
