"""Forwarding through the incident store: each call one transaction, audited (who, when) and on
the live feed after the commit. The rules are fleet_server/domain/forwarding.py; the periodic job
is `Forwarding.tick` (escalate what nobody accepted, forward automatically where the center's
settings say so, close what the center closed), run beside the escalation ladder's job."""
from __future__ import annotations

from fleet_server.domain import center, forwarding as fw, lifecycle
from fleet_server.domain.service import IncidentService, NotFound, Refused, incident_view

AUTO_LOOKBACK_S = 3600.0   # automatic forwarding looks at incidents received this recently


class Forwarding:
    def __init__(self, service: IncidentService, rules: fw.ForwardRules):
        try:
            rules.check()
        except fw.ForwardError as e:
            raise ValueError(e.reason) from None
        self.service = service
        self.rules = rules

    # ---- helpers -----------------------------------------------------------------------------
    @property
    def store(self):
        return self.service.store

    def _now(self, at):
        return at if at is not None else self.service.clock()

    def _area(self, station_id: str) -> dict | None:
        j = self.service.jurisdiction
        return j.area(station_id) if j is not None else None

    def _name(self, station_id: str, inc) -> str:
        if station_id == fw.SUPERVISOR:
            return "the center's supervisor"
        a = self._area(station_id)
        if a:
            return a["name"]
        return inc.station_name if station_id == inc.station_id and inc.station_name else station_id

    def _parent_of(self, station_id: str, inc) -> str | None:
        a = self._area(station_id)
        if a is not None:
            return a["parent"]["id"] if a.get("parent") else None
        return inc.station_parent if station_id == inc.station_id else None

    def _chain(self, inc) -> list[str]:
        return fw.chain(center.service_of(inc.agency), inc.station_id, inc.station_parent)

    def view(self, f, inc=None) -> dict:
        out = fw.hold(f, self.service.clock())
        after = self.rules.accept_after_s(f.agency)
        out["accept_after_s"] = after
        out["due_at"] = f.sent_at + after if f.state == fw.PENDING else None
        out["parent"] = f.parent_id
        if inc is not None:
            out["incident_summary"] = {"id": inc.id, "type": inc.type, "category": inc.category, "agency": inc.agency,
                                       "priority": inc.priority, "state": inc.state, "site": inc.site,
                                       "summary": inc.summary, "received_at": inc.received_at,
                                       "station": inc.station_id, "station_name": inc.station_name,
                                       "location": {"lat_udeg": inc.lat_udeg, "lon_udeg": inc.lon_udeg}}
        return out

    def _send(self, tx, inc, station_id: str, actor: str, at: float, why: str, parent_id: int | None = None):
        roster = tx.forwards.roster(station_id)
        name = self._name(station_id, inc)
        f = tx.forwards.add(incident_id=inc.id, station_id=station_id, station_name=name, agency=inc.agency,
                            state=fw.PENDING, parent_id=parent_id, sent_at=at, sent_by=actor, holders=",".join(roster))
        tx.audit.append(at, actor, fw.FORWARDED, "incident", inc.id, None, station_id,
                        f"{why}: forward {f.id} to {name}; held by {', '.join(roster) or 'nobody on its roster'}; "
                        f"to be accepted within {self.rules.accept_after_s(inc.agency):g} s")
        return f

    def _event(self, events: list, name: str, inc, f) -> None:
        events.append({"type": "incident", "event": name, "incident": incident_view(inc),
                       "forward": self.view(f, inc)})

    def _emit(self, events: list) -> None:
        for ev in events:
            self.service._emit(ev)

    def _step(self, tx, forward_id: int, step: str, user: str, user_station: str | None, is_center: bool,
              reason: str | None = None):
        f = tx.forwards.get(forward_id, for_update=True)
        if f is None:
            raise NotFound(f"forward {forward_id}")
        if not fw.may_act(f.station_id, user_station, is_center):
            raise Refused("not_your_station", f"forward {forward_id} is at {f.station_name or f.station_id}; "
                                              f"you are {'at ' + user_station if user_station else 'at no station'}")
        try:
            fw.check_step(step, f.state, reason)
        except fw.ForwardError as e:
            raise Refused(e.code, e.reason) from None
        inc = tx.incidents.get(f.incident_id, for_update=True)
        return f, inc

    @staticmethod
    def _who(user: str, user_station: str | None, f) -> str:
        return "" if user_station == f.station_id else f" (recorded by the center for {f.station_name or f.station_id})"

    # ---- the operator's forward ----------------------------------------------------------------
    def forward(self, incident_id: int, actor: str, station_id: str | None = None, at: float | None = None) -> dict:
        """Send an open incident to its station chain's first station (for Polri the Polres), or to
        the station named. Refused while another forward of it is open."""
        at = self._now(at)
        events: list = []
        with self.store.transaction() as tx:
            inc = tx.incidents.get(incident_id, for_update=True)
            if inc is None:
                raise NotFound(f"incident {incident_id}")
            if inc.state not in lifecycle.OPEN:
                raise Refused("incident_closed", f"incident {incident_id} is closed ({inc.state})")
            busy = [f for f in tx.forwards.of_incident(inc.id) if f.state in fw.OPEN]
            if busy:
                raise Refused("already_forwarded", f"incident {incident_id} is already forwarded to "
                                                   f"{busy[-1].station_name or busy[-1].station_id} ({busy[-1].state})")
            chain = self._chain(inc)
            if station_id is None:
                try:
                    station_id = fw.first_target(center.service_of(inc.agency), inc.station_id, inc.station_parent)
                except fw.ForwardError as e:
                    raise Refused(e.code, e.reason) from None
            elif station_id not in chain:
                a = self._area(station_id)
                if a is None or a["agency"] != center.service_of(inc.agency):
                    raise Refused("unknown_station", f"{station_id} is not a station of {inc.agency}")
            f = self._send(tx, inc, station_id, actor, at, "forwarded by the center")
            self._event(events, fw.FORWARDED, inc, f)
            out = self.view(f, inc)
        self._emit(events)
        return out

    # ---- the station's steps -------------------------------------------------------------------
    def accept(self, forward_id: int, user: str, user_station: str | None, is_center: bool,
               at: float | None = None) -> dict:
        at = self._now(at)
        events: list = []
        with self.store.transaction() as tx:
            f, inc = self._step(tx, forward_id, "accept", user, user_station, is_center)
            f.state, f.accepted_at, f.accepted_by = fw.ACCEPTED, at, user
            tx.audit.append(at, user, fw.ACCEPTED_A, "incident", inc.id, fw.PENDING, f.station_id,
                            f"forward {f.id} accepted at {f.station_name} after {at - f.sent_at:.0f} s"
                            + self._who(user, user_station, f))
            self._event(events, fw.ACCEPTED_A, inc, f)
            out = self.view(f, inc)
        self._emit(events)
        return out

    def hand_down(self, forward_id: int, user: str, user_station: str | None, is_center: bool,
                  to: str | None = None, at: float | None = None) -> dict:
        """The accepting station gives the report to a child station (the Polres to its Polsek):
        by default the next station of the incident's chain. Returns the new forward."""
        at = self._now(at)
        events: list = []
        with self.store.transaction() as tx:
            f, inc = self._step(tx, forward_id, "hand_down", user, user_station, is_center)
            chain = self._chain(inc)
            if to is None:
                nxt = chain.index(f.station_id) + 1 if f.station_id in chain else len(chain)
                if nxt >= len(chain):
                    raise Refused("no_child_station", f"{f.station_name} is the last station of this incident's chain")
                to = chain[nxt]
            elif self._parent_of(to, inc) != f.station_id:
                raise Refused("not_a_child_station", f"{to} is not a station under {f.station_name}")
            f.state, f.ended_at, f.ended_by, f.outcome = fw.HANDED_DOWN, at, user, to
            tx.audit.append(at, user, fw.HANDED_DOWN_A, "incident", inc.id, f.station_id, to,
                            f"forward {f.id} handed down by {f.station_name}" + self._who(user, user_station, f))
            new = self._send(tx, inc, to, user, at, f"handed down by {f.station_name}", parent_id=f.id)
            self._event(events, fw.HANDED_DOWN_A, inc, f)
            self._event(events, fw.FORWARDED, inc, new)
            out = self.view(new, inc)
        self._emit(events)
        return out

    def return_(self, forward_id: int, user: str, user_station: str | None, is_center: bool, reason: str,
                at: float | None = None) -> dict:
        """Back to the center with a reason (not ours, wrong area...): the operator forwards again."""
        at = self._now(at)
        events: list = []
        with self.store.transaction() as tx:
            f, inc = self._step(tx, forward_id, "return", user, user_station, is_center, reason)
            before = f.state
            f.state, f.ended_at, f.ended_by, f.reason = fw.RETURNED, at, user, reason.strip()[:500]
            tx.audit.append(at, user, fw.RETURNED_A, "incident", inc.id, before, f.station_id,
                            f"forward {f.id} returned by {f.station_name}: {f.reason}" + self._who(user, user_station, f))
            self._event(events, fw.RETURNED_A, inc, f)
            out = self.view(f, inc)
        self._emit(events)
        return out

    def close(self, forward_id: int, user: str, user_station: str | None, is_center: bool, action_taken: bool,
              note: str | None = None, at: float | None = None) -> dict:
        """The station is done with the report: with action taken, or without (counted as closed
        without action in the accountability report)."""
        at = self._now(at)
        events: list = []
        with self.store.transaction() as tx:
            f, inc = self._step(tx, forward_id, "close", user, user_station, is_center)
            f.state, f.ended_at, f.ended_by = fw.CLOSED, at, user
            f.outcome = fw.DONE if action_taken else fw.NO_ACTION
            f.reason = (note or "").strip()[:500] or None
            tx.audit.append(at, user, fw.CLOSED_A, "incident", inc.id, fw.ACCEPTED, f.outcome,
                            f"forward {f.id} closed by {f.station_name}" + (f": {f.reason}" if f.reason else "")
                            + self._who(user, user_station, f))
            self._event(events, fw.CLOSED_A, inc, f)
            out = self.view(f, inc)
        self._emit(events)
        return out

    # ---- the periodic job ----------------------------------------------------------------------
    def tick(self, now: float | None = None) -> dict:
        """One round: forward automatically, escalate what nobody accepted, close the forwards of
        incidents the center closed. Returns the forward ids each touched."""
        now = self._now(now)
        return {"auto": self.auto_forward_due(now), "escalated": self.escalate_due(now),
                "closed": self.close_finished(now)}

    def escalate_due(self, now: float | None = None) -> list[int]:
        """Every pending forward unaccepted past its agency's time goes up the chain: to the
        station's parent (a new pending forward there), else to the center's supervisor. Audited
        (who held it and for how long), announced on the feed. Returns the forwards that escalated."""
        now = self._now(now)
        shortest = min([self.rules.accept_s, *self.rules.per_agency().values()])
        done, events = [], []
        with self.store.transaction() as tx:
            for f in tx.forwards.pending_before(now - shortest):
                after = self.rules.accept_after_s(f.agency)
                if not fw.due(f.state, f.sent_at, now, after):
                    continue
                inc = tx.incidents.get(f.incident_id, for_update=True)
                target = fw.escalation_target(f.station_id, lambda s: self._parent_of(s, inc))
                f.state, f.ended_at, f.ended_by, f.outcome = fw.ESCALATED, now, "system", target
                holders = fw.parse_holders(f.holders)
                tx.audit.append(now, "system", fw.ESCALATED_A, "incident", inc.id, f.station_id, target,
                                f"forward {f.id} unaccepted at {f.station_name} for {now - f.sent_at:.0f} s "
                                f"(limit {after:g} s; held by {', '.join(holders) or 'nobody on its roster'}); "
                                f"to {self._name(target, inc)}"
                                + (f" ({fw.SUPERVISOR_ROLE})" if target == fw.SUPERVISOR else ""))
                self._event(events, fw.ESCALATED_A, inc, f)
                if target != fw.SUPERVISOR:
                    new = self._send(tx, inc, target, "system", now, f"escalated from {f.station_name}", parent_id=f.id)
                    self._event(events, fw.FORWARDED, inc, new)
                done.append(f.id)
        self._emit(events)
        return done

    def auto_forward_due(self, now: float | None = None) -> list[int]:
        """Emergencies of the agencies the settings name (forward_auto_agencies) are forwarded on
        routing, by the system, once. Returns the new forwards."""
        now = self._now(now)
        if not self.rules.auto_agencies.strip():
            return []
        done, events = [], []
        with self.store.transaction() as tx:
            for inc in tx.forwards.unforwarded(lifecycle.OPEN, now - AUTO_LOOKBACK_S):
                if inc.type != "emergency" or not self.rules.auto(inc.agency) or not self._chain(inc):
                    continue
                # Locked, then checked again: another server process may have forwarded it meanwhile.
                inc = tx.incidents.get(inc.id, for_update=True)
                if tx.forwards.of_incident(inc.id):
                    continue
                f = self._send(tx, inc, self._chain(inc)[0], "system", now, "forwarded on routing")
                self._event(events, fw.FORWARDED, inc, f)
                done.append(f.id)
        self._emit(events)
        return done

    def close_finished(self, now: float | None = None) -> list[int]:
        """The center closed the incident: its open forwards close too, pending ones as closed
        without action (nobody at the station took it), accepted ones as done."""
        now = self._now(now)
        done, events = [], []
        with self.store.transaction() as tx:
            for f in tx.forwards.open_of_closed_incidents(fw.OPEN, lifecycle.CLOSED):
                inc = tx.incidents.get(f.incident_id)
                before = f.state
                f.state, f.ended_at, f.ended_by = fw.CLOSED, now, "system"
                f.outcome = fw.DONE if before == fw.ACCEPTED else fw.NO_ACTION
                tx.audit.append(now, "system", fw.CLOSED_A, "incident", inc.id, before, f.outcome,
                                f"forward {f.id} at {f.station_name} closed: the incident was closed ({inc.state}) "
                                f"while the forward was {before}")
                self._event(events, fw.CLOSED_A, inc, f)
                done.append(f.id)
        self._emit(events)
        return done

    # ---- what the console reads --------------------------------------------------------------
    def of_incident(self, incident_id: int) -> dict:
        with self.store.read() as tx:
            inc = tx.incidents.get(incident_id)
            if inc is None:
                raise NotFound(f"incident {incident_id}")
            rows = [self.view(f) for f in tx.forwards.of_incident(incident_id)]
            chain = [{"id": s, "name": self._name(s, inc)} for s in self._chain(inc)]
        return {"incident": incident_id, "chain": chain, "forwards": rows,
                "accept_after_s": self.rules.accept_after_s(inc.agency)}

    def at_station(self, station_id: str | None, states: tuple = fw.OPEN) -> list[dict]:
        with self.store.read() as tx:
            return [self.view(f, tx.incidents.get(f.incident_id)) for f in tx.forwards.at_station(station_id, states)]

    def current(self) -> list[dict]:
        """The latest forward of every open incident (the queue's forward tags)."""
        with self.store.read() as tx:
            return [self.view(f) for f in tx.forwards.current(lifecycle.OPEN)]

    def report(self, since: float, until: float, station_id: str | None = None, now: float | None = None) -> dict:
        """The accountability report over the forwards sent in [since, until)."""
        now = self._now(now)
        with self.store.read() as tx:
            rows = tx.forwards.sent_between(since, until, station_id)
            out = fw.accountability(rows, now)
        out.update({"since": since, "until": until, "station": station_id, "accept_s": self.rules.accept_s,
                    "accept_by_agency": self.rules.per_agency()})
        return out
