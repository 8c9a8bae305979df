"""The one entry point every input path calls: MQTT ingest, the SMS gateway and the console.
Each call is one transaction of the incident store (the IncidentStore port of
fleet_server/domain/repositories.py), committed before it returns, so whoever acknowledges to a
device does so only after the incident is safe. Listeners (the live feed, device feedback) are
told after the commit."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Callable

from fleet_server.domain import calltaking, center, classification, devices as device_rules, folding, lifecycle, prank, sop, supervision
from fleet_server.domain.repositories import DeviceRecord, IncidentRecord, Incidents, IncidentStore
from fleet_server.logs import event

log = logging.getLogger("siaga.service")

COMMAND_CENTER = {"id": "112", "name": "Command Center 112", "parent": None}
JURISDICTION_SERVICES = ("police", "fire", "medical", "sar", "disaster")


class Refused(Exception):
    """A request the rules refuse; code is stable (for metrics and HTTP), reason is a sentence."""

    def __init__(self, code: str, reason: str):
        super().__init__(reason)
        self.code = code
        self.reason = reason


class NotFound(Refused):
    def __init__(self, what: str):
        super().__init__("not_found", f"{what} not found")


PROMISE_BREACHED = "promise_breached"   # the audit action and feed event of a breached promise


@dataclass(frozen=True)
class IngestResult:
    incident_id: int
    created_incident: bool
    duplicate_alarm: bool
    prank_flagged: bool = False


@dataclass(frozen=True)
class TransitionResult:
    incident_id: int
    from_state: str
    to_state: str
    devices: list[str] = field(default_factory=list)   # buttons whose LED should follow
    feedback: str | None = None                         # protocols FEEDBACK state, if any


@dataclass
class Rules:
    fold_radius_m: float = 150.0
    fold_window_s: float = 300.0
    escalate_after_s: float = 15.0        # the ladder's first rung: the operator's supervisor
    escalate_head_after_s: float = 60.0   # the second: the center head
    response_promise_s: float = 300.0
    prank_flag_threshold: int = 3
    heartbeat_misses_offline: int = 2
    button_heartbeat_s: float = 300.0
    tracker_heartbeat_s: float = 60.0
    handoff_channels: str = ""   # code=Name,...; empty: center.DEFAULT_CHANNELS

    @classmethod
    def from_settings(cls, s) -> "Rules":
        return cls(**{k: getattr(s, k) for k in cls.__dataclass_fields__})


class IncidentService:
    def __init__(self, store: IncidentStore, rules: Rules, jurisdiction=None,
                 clock: Callable[[], float] = time.time, run_cards: sop.RunCards | None = None):
        self.store = store
        self.rules = rules
        self.jurisdiction = jurisdiction
        self.run_cards = run_cards if run_cards is not None else sop.RunCards()
        self._breached: set[int] = set()   # already marked promise_breached (the audit is the record)
        lifecycle.ladder(rules.escalate_after_s, rules.escalate_head_after_s)   # refused at start if out of order
        self.clock = clock
        self.listeners: list[Callable[[dict], None]] = []
        self.forwarding = None   # fleet_server.domain.forwards.Forwarding, when the center forwards to stations

    # ---- alarms ------------------------------------------------------------------------------
    def ingest_alarm(self, alarm: dict, via: str, received_at: float) -> IngestResult:
        """alarm: a decoded protocols alarm dict (codec_json.decode or codec_sms.decode_alarm).
        Committed before it returns; idempotent on (dev, boot, seq). Raises Refused for an
        unknown or inactive device."""
        [r] = self.ingest_alarms([(alarm, via, received_at)])
        if isinstance(r, Refused):
            raise r
        return r

    def ingest_alarms(self, batch: list[tuple[dict, str, float]]) -> list[IngestResult | Refused]:
        """Alarms in one transaction, in order (the ingest under load: one commit, then every
        ack). A refused alarm does not spoil the others. Everything is looked up once per batch,
        folding runs in memory, and the rows are written in one flush."""
        if not batch:
            return []
        out: list = [None] * len(batch)
        w = self.rules.fold_window_s
        with self.store.transaction() as tx:
            tx.lock_ingest()  # ingest is serialized, so what we read stays true
            # Held here: a store may keep its records by weak reference only.
            devices = tx.devices.many([a["dev"] for a, _, _ in batch])
            known: dict[tuple, object] = {k: v[1] for k, v in tx.incidents.find_alarms(
                [(a["dev"], a["boot"], a["seq"]) for a, _, _ in batch]).items()}
            pressed = [float(a["ts"]) for a, _, _ in batch]
            pool = folding.FoldPool(self.rules.fold_radius_m, w)
            open_incs = tx.incidents.open_emergencies(min(pressed) - w, max(pressed) + w, lifecycle.OPEN)
            members: dict[int, set] = {}
            for inc_id, dev in tx.incidents.memberships([i.id for i in open_incs], list(devices)):
                members.setdefault(inc_id, set()).add(dev)
            for inc in open_incs:
                pool.add(_candidate(inc, members.get(inc.id, set()), inc.id))
            audits: list[tuple] = []
            with tx.staging():
                for n, (alarm, via, received_at) in enumerate(batch):
                    try:
                        out[n] = self._ingest_one(tx.incidents, alarm, via, received_at, devices, known, pool,
                                                  audits)
                    except Refused as e:
                        out[n] = e
            tx.flush()  # every incident, alarm and link in a few statements; ids from here on
            tx.audit.append_many([
                {"at": at, "actor": actor, "action": action, "entity": entity,
                 "entity_id": inc.id if entity == "incident" else inc, "from_value": before, "to_value": after,
                 "detail": detail} for at, actor, action, entity, inc, before, after, detail in audits])
            results, events = [], []
            for r in out:
                if isinstance(r, Refused):
                    results.append(r)
                    continue
                inc, created, duplicate, flagged = r
                inc_id = inc if isinstance(inc, int) else inc.id
                results.append(IngestResult(inc_id, created, duplicate, flagged))
                if not duplicate:
                    events.append({"type": "incident", "event": "created" if created else "folded",
                                   "incident": incident_view(inc)})
        for ev in events:
            self._emit(ev)
        return results

    def _ingest_one(self, incidents: Incidents, alarm: dict, via: str, received_at: float, devices: dict, known: dict,
                    pool: "folding.FoldPool", audits: list):
        """Stage one alarm. Returns (incident or its id, created, duplicate, prank_flagged)."""
        dev_id, boot, seq = alarm["dev"], alarm["boot"], alarm["seq"]
        key = (dev_id, boot, seq)
        device = devices.get(dev_id)
        if device is None or not device.active:
            raise Refused("unknown_device", f"device {dev_id} is not registered and active")
        if known.get(key) is not None:
            return known[key], False, True, device.prank_flagged

        lat, lon, src, acc, age = alarm["lat"], alarm["lon"], alarm["src"], alarm["acc"], alarm["age"]
        if lat is None and device.lat_udeg is not None:
            # A button without a fix still has the place it is mounted: the location's confidence
            # says so (source "fixed") instead of the SOS being dropped.
            lat, lon, src, acc, age = device.lat_udeg, device.lon_udeg, "fixed", None, None
        category = classification.effective_category(alarm["cat"], device.category)
        pressed_at = float(alarm["ts"])
        actor = f"device:{dev_id}"
        cand = pool.target({"device_id": dev_id, "pressed_at": pressed_at, "lat_udeg": lat, "lon_udeg": lon})
        if cand is not None:
            inc = cand["incident"]
            inc.press_count += alarm["presses"]
            inc.alarm_count += 1
            inc.pressed_at = min(inc.pressed_at, pressed_at)
            inc.last_pressed_at = max(inc.last_pressed_at, pressed_at)
            inc.prank_suspect = inc.prank_suspect or device.prank_flagged
            if inc.lat_udeg is None and lat is not None:
                inc.lat_udeg, inc.lon_udeg, inc.loc_source, inc.loc_acc_m, inc.loc_age_s = lat, lon, src, acc, age
            pool.joined(cand, dev_id, pressed_at, lat, lon)
            audits.append((received_at, actor, "alarm_folded", "incident", inc, None, inc.press_count,
                           f"alarm {boot}/{seq} via {via}"))
            created = False
        else:
            agency = classification.agency_for(category)
            station = self._station(lat, lon, category)
            inc = incidents.new_incident(
                type="emergency", category=category, agency=agency,
                priority=classification.priority(category, alarm["trig"], device.prank_flagged),
                station_id=station["id"], station_name=station["name"], station_parent=station["parent"],
                state="new", press_count=alarm["presses"], alarm_count=1, origin_device_id=dev_id, channel="button",
                site=device.site, lat_udeg=lat, lon_udeg=lon, loc_source=src, loc_acc_m=acc, loc_age_s=age,
                prank_suspect=device.prank_flagged, escalated_at=None, pressed_at=pressed_at,
                last_pressed_at=pressed_at, received_at=received_at)
            pool.add(_candidate(inc, {dev_id}, NEW_ORDER + len(audits)))
            audits.append((received_at, actor, "incident_created", "incident", inc, None, "new",
                           f"{category} -> {agency}, station {station['id']}, via {via}"))
            created = True
        incidents.new_alarm(
            inc, device_id=dev_id, boot=boot, seq=seq, via=via, pressed_at=pressed_at, received_at=received_at,
            category=category, trigger=alarm["trig"], presses=alarm["presses"], lat_udeg=lat, lon_udeg=lon,
            loc_source=src, loc_acc_m=acc, loc_age_s=age, prank_flagged=device.prank_flagged)
        known[key] = inc
        if device.status != "online":
            audits.append((received_at, actor, "device_status", "device", dev_id, device.status, "online", None))
            device.status, device.status_changed_at = "online", received_at
        if device.last_seen is None or received_at - device.last_seen > 1.0:  # a burst needs one write, not one each
            device.last_seen = received_at
        return inc, created, False, device.prank_flagged

    def _station(self, lat, lon, category) -> dict:
        # Station areas are drawn per responding service, named like the categories (police, fire,
        # medical, sar, disaster); an "unknown" alarm is triaged by the 112 operators themselves.
        if self.jurisdiction is None or lat is None or category not in JURISDICTION_SERVICES:
            return COMMAND_CENTER
        try:
            found = self.jurisdiction.locate(lat, lon, category)
        except Exception as e:  # a broken area file must never stop an SOS
            event(log, logging.ERROR, "jurisdiction lookup failed", error=repr(e))
            return COMMAND_CENTER
        if not found:
            return COMMAND_CENTER  # outside every station area: the command center itself
        parent = found.get("parent")
        return {"id": str(found["id"]), "name": found.get("name"),
                "parent": parent.get("id") if isinstance(parent, dict) else parent}

    # ---- non-emergency reports --------------------------------------------------------------
    def report(self, category: str, summary: str, actor: str, reporter: str | None = None,
               lat_udeg: int | None = None, lon_udeg: int | None = None, device_id: str | None = None,
               received_at: float | None = None, caller_number: str | None = None,
               channel: str = "phone") -> int:
        """A non-emergency report (damaged road, broken street light...): its own type and queue,
        lowest priority, never folded with emergencies. Returns the incident id."""
        if category not in classification.AGENCIES:
            raise Refused("bad_category", f"category {category!r} is not one of {', '.join(classification.AGENCIES)}")
        return self._standalone("report", category, classification.REPORT_PRIORITY, summary, actor, reporter,
                                lat_udeg, lon_udeg, "none" if lat_udeg is None else "fixed", None, device_id,
                                received_at, "report_created", caller_number, channel)

    def caller_location(self, lat_udeg: int | None, lon_udeg: int | None, source: str, acc_m: int | None,
                        summary: str, actor: str, reporter: str | None = None,
                        received_at: float | None = None, caller_number: str | None = None) -> int:
        """A 112 caller's handset location (AML SMS, ETSI TS 103 625): an emergency in the triage
        queue (category unknown, priority 2) carrying where the phone is and how sure that is; the
        operator classifies it. Never folded into a button's incident. Returns the incident id."""
        if lat_udeg is None:
            source, acc_m = "none", None
        return self._standalone("emergency", "unknown", classification.priority("unknown", "button"), summary,
                                actor, reporter, lat_udeg, lon_udeg, source, acc_m, None, received_at,
                                "caller_location", caller_number, "aml")

    # ---- call-taking (rules: fleet_server/domain/calltaking.py) --------------------------------
    def phone_report(self, category: str, summary: str, actor: str, caller_number: str | None = None,
                     caller_name: str | None = None, located_by: str = "none", lat_udeg: int | None = None,
                     lon_udeg: int | None = None, site: str | None = None,
                     received_at: float | None = None) -> int:
        """An emergency taken on the phone: into the emergency queue, routed by its location to
        agency and station like any other. `actor` is the call-taker, `caller_name` who called;
        located_by "aml" places it at the caller's last AML fix (read here, by the number).
        Returns the incident id."""
        try:
            summary = calltaking.check_call("emergency", category, summary, located_by, lat_udeg, lon_udeg, site)
            number = center.normalize_number(caller_number)
        except center.RuleError as e:
            raise Refused(e.code, e.reason) from None
        fix, source, acc = None, "fixed" if located_by in ("map", "site") else "none", None
        if located_by == "aml":
            with self.store.read() as tx:
                fix = calltaking.last_fix(tx.incidents.by_caller(calltaking.number_variants(number),
                                                                 calltaking.HISTORY_LIMIT))
            if fix is None:
                raise Refused("no_aml_fix", "no AML location has come from this number")
            lat_udeg, lon_udeg, source, acc = fix["lat_udeg"], fix["lon_udeg"], fix["source"], fix["acc_m"]
        if located_by == "none":
            lat_udeg = lon_udeg = None
        name = (caller_name or "").strip()[:120] or None
        return self._standalone("emergency", category, calltaking.priority(category, False), summary, actor,
                                name, lat_udeg, lon_udeg, source, acc, None, received_at, "phone_report",
                                number, "phone", site=(site or "").strip()[:120] or None,
                                note=f"taken by {actor}; caller {name or 'unnamed'}; "
                                     + calltaking.located_note(located_by, site, fix))

    def caller_history(self, number: str | None) -> dict:
        """A caller's earlier reports (phone, SMS, AML: one number, any way it was written) with
        their outcomes, why the number is flagged, and its last AML fix. Numbers in full: the
        API masks them by role."""
        try:
            normalized = center.normalize_number(number)
        except center.RuleError as e:
            raise Refused(e.code, e.reason) from None
        forms = calltaking.number_variants(normalized)
        with self.store.read() as tx:
            incidents = tx.incidents.by_caller(forms, calltaking.HISTORY_LIMIT) if forms else []
            pranks = tx.incidents.number_prank_entries(forms) if forms else []
            return calltaking.history(normalized, incidents, pranks, self.rules.prank_flag_threshold)

    def _standalone(self, type_: str, category: str, priority: int, summary: str, actor: str,
                    reporter: str | None, lat_udeg: int | None, lon_udeg: int | None, loc_source: str,
                    acc_m: int | None, device_id: str | None, received_at: float | None, action: str,
                    caller_number: str | None = None, channel: str = "phone", site: str | None = None,
                    note: str | None = None) -> int:
        at = received_at if received_at is not None else self.clock()
        agency = classification.agency_for(category)
        station = self._station(lat_udeg, lon_udeg, category)
        try:
            number = center.normalize_number(caller_number)
        except center.RuleError as e:
            raise Refused(e.code, e.reason) from None
        with self.store.transaction() as tx:
            flagged, why = False, category
            if number is not None:
                # A number flagged for pranks still reaches the queue, marked and one step lower.
                count, last = tx.incidents.number_pranks(number)
                flagged = prank.flagged(count, self.rules.prank_flag_threshold)
                if flagged:
                    priority = min(priority + 1, classification.REPORT_PRIORITY)
                    why = f"{category}; number flagged: {count} pranks/false alarms"
            if note:
                why = f"{why}; {note}"
            inc = tx.incidents.create_incident(
                type=type_, category=category, agency=agency, priority=priority, caller_number=number,
                channel=channel, prank_suspect=flagged,
                station_id=station["id"], station_name=station["name"], station_parent=station["parent"],
                state="new", press_count=0, alarm_count=0, origin_device_id=device_id, lat_udeg=lat_udeg,
                lon_udeg=lon_udeg, loc_source=loc_source, loc_acc_m=acc_m, summary=summary, site=site,
                reporter=reporter, pressed_at=None, last_pressed_at=at, received_at=at)
            tx.audit.append(at, actor, action, "incident", inc.id, None, "new", why)
            view = incident_view(inc)
        self._emit({"type": "incident", "event": "created", "incident": view})
        return view["id"]

    # ---- lifecycle ---------------------------------------------------------------------------
    def transition(self, incident_id: int, to_state: str, actor: str, reason: str | None = None,
                   at: float | None = None) -> TransitionResult:
        at = at if at is not None else self.clock()
        flagged_now = []
        with self.store.transaction() as tx:
            inc = tx.incidents.get(incident_id, for_update=True)
            if inc is None:
                raise NotFound(f"incident {incident_id}")
            why = lifecycle.check_transition(inc.state, to_state, reason)
            if why:
                raise Refused("illegal_transition", why)
            before = inc.state
            inc.state = to_state
            setattr(inc, lifecycle.CLOCK[to_state], at)
            if to_state in lifecycle.CLOSURES:
                inc.closure_reason = reason
            tx.audit.append(at, actor, "transition", "incident", inc.id, before, to_state, reason)
            devices = tx.incidents.devices_of(inc.id)
            if prank.counts_against_device(to_state):
                for dev_id in devices:
                    d = tx.devices.get(dev_id)
                    tx.incidents.add_prank(d, inc.id, to_state, at)
                    d.prank_count += 1
                    if not d.prank_flagged and prank.flagged(d.prank_count, self.rules.prank_flag_threshold):
                        d.prank_flagged = True
                        flagged_now.append(dev_id)
                        tx.audit.append(at, "system", "prank_flagged", "device", dev_id, False, True,
                                        f"{d.prank_count} pranks/false alarms")
                if inc.caller_number:
                    self._count_number_prank(tx, inc, to_state, at)
            view = incident_view(inc)
        feedback = lifecycle.FEEDBACK.get(to_state)
        self._emit({"type": "incident", "event": "transition", "from": before, "incident": view,
                    "devices": devices, "feedback": feedback})
        for dev_id in flagged_now:
            self._emit({"type": "device", "event": "prank_flagged", "device_id": dev_id})
        return TransitionResult(incident_id, before, to_state, devices, feedback)

    def _count_number_prank(self, tx, inc: IncidentRecord, kind: str, at: float) -> None:
        """The prank ledger per caller's number, as per device: audited when it crosses the threshold."""
        before, _ = tx.incidents.number_pranks(inc.caller_number)
        tx.incidents.add_number_prank(inc.caller_number, inc.id, kind, at)
        t = self.rules.prank_flag_threshold
        if not prank.flagged(before, t) and prank.flagged(before + 1, t):
            tx.audit.append(at, "system", "prank_flagged", "caller", center.shown_number(inc.caller_number),
                            False, True, f"{before + 1} pranks/false alarms from this number")

    # ---- the center's triage and hand-off (rules: fleet_server/domain/center.py) --------------
    def reclassify(self, incident_id: int, category: str, priority: int, reason: str, actor: str,
                   agency: str | None = None, at: float | None = None) -> dict:
        """Triage: a new category, agency and priority, with the reason, audited; the station
        follows the new class, and dispatch recommends for it (the "reclassified" event)."""
        at = at if at is not None else self.clock()
        with self.store.transaction() as tx:
            inc = tx.incidents.get(incident_id, for_update=True)
            if inc is None:
                raise NotFound(f"incident {incident_id}")
            try:
                agency = center.check_reclassify(inc.state, category, agency, priority, reason)
            except center.RuleError as e:
                raise Refused(e.code, e.reason) from None
            before = center.class_of(inc.category, inc.agency, inc.priority)
            station = self._station(inc.lat_udeg, inc.lon_udeg, center.service_of(agency))
            inc.category, inc.agency, inc.priority = category, agency, priority
            inc.station_id, inc.station_name, inc.station_parent = station["id"], station["name"], station["parent"]
            tx.audit.append(at, actor, "reclassified", "incident", inc.id, before,
                            center.class_of(category, agency, priority),
                            f"{reason.strip()[:400]} (station {station['id']})")
            view = incident_view(inc)
        self._emit({"type": "incident", "event": "reclassified", "incident": view})
        return view

    def sop_checklist(self, incident_id: int) -> dict:
        """The incident's run card (by its agency and category) as a checklist: who ticked each
        step and when; `card` is None when no card covers the incident."""
        with self.store.transaction() as tx:
            inc = tx.incidents.get(incident_id)
            if inc is None:
                raise NotFound(f"incident {incident_id}")
            card = self.run_cards.card_for(inc.agency, inc.category)
            rows = tx.audit.actions("incident", inc.id, sop.TICKED) if card else []
        return {"incident": incident_id, "card": sop.checklist(card, rows)}

    def tick_sop_step(self, incident_id: int, step_id: str, actor: str, at: float | None = None) -> dict:
        """One step of the incident's run card done: timed and audited (who, when), on the feed."""
        at = at if at is not None else self.clock()
        with self.store.transaction() as tx:
            inc = tx.incidents.get(incident_id, for_update=True)
            if inc is None:
                raise NotFound(f"incident {incident_id}")
            card = self.run_cards.card_for(inc.agency, inc.category)
            rows = tx.audit.actions("incident", inc.id, sop.TICKED) if card else []
            done = any(r["to_value"] == step_id and r["detail"] == card.id for r in rows)
            try:
                sop.check_tick(card, inc.agency, inc.category, step_id, done)
            except center.RuleError as e:
                raise Refused(e.code, e.reason) from None
            tx.audit.append(at, actor, sop.TICKED, "incident", inc.id, None, step_id, card.id)
            rows.append({"action": sop.TICKED, "to_value": step_id, "detail": card.id, "actor": actor, "at": at})
            out = {"incident": inc.id, "card": sop.checklist(card, rows)}
        self._emit({"type": "incident", "event": "sop_ticked", "incident_id": incident_id, "step": step_id,
                    "by": actor, "at": at})
        return out

    def hand_off(self, incident_id: int, channel: str, actor: str, reference: str | None = None,
                 at: float | None = None) -> dict:
        """A non-emergency given to another channel with a reference number: closed as handed
        off, audited. Returns the incident, the channel and the reference."""
        at = at if at is not None else self.clock()
        channels = self.handoff_channels()
        with self.store.transaction() as tx:
            inc = tx.incidents.get(incident_id, for_update=True)
            if inc is None:
                raise NotFound(f"incident {incident_id}")
            try:
                ref = center.check_hand_off(inc.type, inc.state, channel, channels, reference, inc.id)
            except center.RuleError as e:
                raise Refused(e.code, e.reason) from None
            before = inc.state
            inc.state, inc.closed_at = center.HANDED_OFF, at
            inc.closure_reason = f"handed off to {channels[channel]}, reference {ref}"
            tx.audit.append(at, actor, "handed_off", "incident", inc.id, before, channel,
                            f"{channels[channel]}, reference {ref}")
            view = incident_view(inc)
        self._emit({"type": "incident", "event": "transition", "from": before, "incident": view,
                    "devices": [], "feedback": None})
        return {"incident": view, "channel": channel, "channel_name": channels[channel], "reference": ref}

    def handoff_channels(self) -> dict[str, str]:
        """The configured hand-off channels {code: name}; a broken setting is refused by name."""
        try:
            return center.parse_channels(self.rules.handoff_channels)
        except center.RuleError as e:
            raise Refused(e.code, e.reason) from None

    def caller_flag(self, incident_id: int) -> dict:
        """Why the incident's caller number is (or is not) flagged: count and last prank."""
        with self.store.read() as tx:
            inc = tx.incidents.get(incident_id)
            if inc is None:
                raise NotFound(f"incident {incident_id}")
            if inc.caller_number is None:
                return {"number": None, "flag": None}
            count, last = tx.incidents.number_pranks(inc.caller_number)
            return {"number": center.shown_number(inc.caller_number),
                    "flag": center.number_flag(count, last, self.rules.prank_flag_threshold)}

    def add_note(self, incident_id: int, author: str, text: str, at: float | None = None) -> dict:
        at = at if at is not None else self.clock()
        text = (text or "").strip()
        if not text:
            raise Refused("empty_note", "a note needs some text")
        with self.store.transaction() as tx:
            if tx.incidents.get(incident_id) is None:
                raise NotFound(f"incident {incident_id}")
            n = tx.incidents.add_note(incident_id, author, text[:4000], at)
            tx.audit.append(at, author, "note_added", "incident", incident_id, None, None, None)
            out = {"id": n.id, "incident_id": incident_id, "author": author, "text": n.text, "created_at": at}
        self._emit({"type": "incident", "event": "note", "note": out})
        return out

    def escalate_due(self, now: float | None = None) -> list[int]:
        """Climb the escalation ladder for every incident nobody acknowledged: to the operator's
        supervisor after Rules.escalate_after_s, to the center head after
        Rules.escalate_head_after_s. Each rung: priority up one step, audited (to whom, after how
        long), announced on the feed. Returns the incidents that climbed."""
        now = now if now is not None else self.clock()
        rungs = lifecycle.ladder(self.rules.escalate_after_s, self.rules.escalate_head_after_s)
        done, events = [], []
        with self.store.transaction() as tx:
            for inc in tx.incidents.unacknowledged_before(now - rungs[0][3], below_level=rungs[-1][0]):
                due = lifecycle.rungs_due(inc.state, inc.received_at, inc.escalation_level or 0, now, rungs)
                for level, who, role, _after in due:
                    before = inc.priority
                    inc.priority = max(1, inc.priority - 1)
                    inc.escalation_level, inc.escalated_at = level, now
                    # Already at the top priority: the rung is still audited, with no change of value.
                    changed = inc.priority != before
                    tx.audit.append(now, "system", "escalated", "incident", inc.id,
                                    before if changed else None, inc.priority if changed else None,
                                    f"to the {who.replace('_', ' ')} ({role}): unacknowledged for "
                                    f"{now - inc.received_at:.0f} s"
                                    + ("" if changed else f"; already at the top priority {before}"))
                    events.append((incident_view(inc), level, who, role))
                if due:
                    done.append(inc.id)
        for v, level, who, role in events:
            self._emit({"type": "incident", "event": "escalated", "incident": v, "level": level, "to": who,
                        "role": role})
        return done

    def promise_board(self, now: float | None = None) -> dict:
        """The escalation ladder and the promise as configured, and every open emergency past the
        promise with no unit on scene now, longest waiting first."""
        now = now if now is not None else self.clock()
        promise = self.rules.response_promise_s
        rungs = lifecycle.ladder(self.rules.escalate_after_s, self.rules.escalate_head_after_s)
        with self.store.transaction() as tx:
            late = tx.incidents.awaiting_unit_before(now - promise, lifecycle.OPEN) if promise else []
            rows = [{"id": i.id, "agency": i.agency, "category": i.category, "priority": i.priority,
                     "state": i.state, "received_at": i.received_at, "waiting_s": round(now - i.received_at, 1),
                     "station": i.station_id, "escalation": lifecycle.escalation_of(i.escalation_level or 0)}
                    for i in late]
        return {"promise_s": promise, "now": now,
                "ladder": [{"level": lvl, "to": who, "role": role, "after_s": after} for lvl, who, role, after in rungs],
                "breached": sorted(rows, key=lambda r: r["received_at"])}

    def breach_due(self, now: float | None = None) -> list[int]:
        """Mark (once) every open emergency past the promise (Rules.response_promise_s) with no
        unit on scene: audited as promise_breached, announced on the feed. Returns them."""
        now = now if now is not None else self.clock()
        promise = self.rules.response_promise_s
        if not promise:
            return []
        events = []
        with self.store.transaction() as tx:
            for inc in tx.incidents.awaiting_unit_before(now - promise, lifecycle.OPEN):
                if inc.id in self._breached or tx.audit.actions("incident", inc.id, PROMISE_BREACHED):
                    self._breached.add(inc.id)
                    continue
                tx.audit.append(now, "system", PROMISE_BREACHED, "incident", inc.id, None, None,
                                f"no unit on scene {now - inc.received_at:.0f} s after the report "
                                f"(promise {promise:.0f} s)")
                self._breached.add(inc.id)
                events.append(incident_view(inc))
        for v in events:
            self._emit({"type": "incident", "event": PROMISE_BREACHED, "incident": v})
        return [v["id"] for v in events]

    # ---- devices -----------------------------------------------------------------------------
    def register_device(self, device_id: str, kind: str, actor: str, **fields) -> dict:
        at = self.clock()
        with self.store.transaction() as tx:
            if tx.devices.get(device_id) is not None:
                raise Refused("exists", f"device {device_id} is already registered")
            if "agency" not in fields or not fields["agency"]:
                fields["agency"] = classification.agency_for(fields.get("category") or "unknown")
            d = tx.devices.create(device_id, kind, at, **fields)
            tx.audit.append(at, actor, "device_registered", "device", device_id, None, kind, d.site)
            view = device_view(d)
        self._emit({"type": "device", "event": "registered", "device": view})
        return view

    def update_device(self, device_id: str, changes: dict, actor: str) -> dict:
        at = self.clock()
        with self.store.transaction() as tx:
            d = tx.devices.get(device_id)
            if d is None:
                raise NotFound(f"device {device_id}")
            for k, v in changes.items():
                if k == "prank_flagged":  # the technician clears (or sets) the flag after a visit
                    before = d.prank_flagged
                    d.prank_flagged = bool(v)
                    if not v:
                        d.prank_count = 0
                    tx.audit.append(at, actor, "prank_flag", "device", device_id, before, bool(v))
                    continue
                if k not in device_rules.EDITABLE:
                    raise Refused("not_editable", f"field {k} cannot be changed")
                before = getattr(d, k)
                setattr(d, k, v)
                shown = "***" if k in ("broker_password_hash", "sms_key") else v
                tx.audit.append(at, actor, f"device_{k}", "device", device_id,
                                "***" if k in ("broker_password_hash", "sms_key") else before, shown)
            view = device_view(d)
        self._emit({"type": "device", "event": "updated", "device": view})
        return view

    def device_status(self, device_id: str, state: str, at: float, fw: str | None = None,
                      boot: int | None = None) -> None:
        """Birth ("online") or will ("offline") from the device's status topic."""
        with self.store.transaction() as tx:
            d = tx.devices.get(device_id)
            if d is None:
                raise Refused("unknown_device", f"device {device_id} is not registered")
            before = device_rules.set_status(d, state, at)
            if fw:
                d.firmware = fw
            if boot is not None and state == "online":
                d.boot = boot
            if before is not None:
                tx.audit.append(at, f"device:{device_id}", "device_status", "device", device_id, before, state)
        if before is not None:
            self._emit({"type": "device", "event": "status", "device_id": device_id, "status": state})

    def device_health(self, msg: dict, at: float) -> None:
        values = {"battery_mv": msg.get("batt"), "battery_pct": msg.get("pct"), "rssi_dbm": msg.get("rssi"),
                  "temp_dc": msg.get("temp"), "tamper": msg["tamper"], "stuck": msg["stuck"],
                  "firmware": msg["fw"], "uptime_s": msg["uptime"], "outbox": msg.get("outbox"),
                  "link_security": msg.get("sec")}
        with self.store.transaction() as tx:
            d = tx.devices.get(msg["dev"])
            if d is None:
                raise Refused("unknown_device", f"device {msg['dev']} is not registered")
            raised = [k for k in ("tamper", "stuck") if values[k] and not getattr(d, k)]
            device_rules.record_health(d, values, at)
            before = device_rules.set_status(d, "online", at)
            for k in raised:
                tx.audit.append(at, f"device:{d.id}", f"device_{k}", "device", d.id, False, True)
            if before is not None:
                tx.audit.append(at, f"device:{d.id}", "device_status", "device", d.id, before, "online")
        if raised or before is not None:
            self._emit({"type": "device", "event": "health", "device_id": msg["dev"], "raised": raised})

    def touch_devices(self, seen: dict[str, float]) -> None:
        if seen:
            with self.store.transaction() as tx:
                tx.devices.touch(seen)

    def supervise(self, now: float | None = None) -> list[str]:
        """Mark offline every online device silent past N heartbeats (a crashed broker sends no
        will, and a dead button cannot say goodbye). Returns the ids marked."""
        now = now if now is not None else self.clock()
        r = self.rules
        gone = []
        with self.store.transaction() as tx:
            for d in tx.devices.online():
                hb = supervision.heartbeat_s(d.kind, r.button_heartbeat_s, r.tracker_heartbeat_s)
                if supervision.silent_too_long(d.last_seen, now, hb, r.heartbeat_misses_offline):
                    device_rules.set_status(d, "offline", now)
                    tx.audit.append(now, "system", "device_status", "device", d.id, "online", "offline",
                                    f"silent for {now - d.last_seen:.0f} s")
                    gone.append(d.id)
        for dev_id in gone:
            self._emit({"type": "device", "event": "status", "device_id": dev_id, "status": "offline"})
        return gone

    # ---- listeners ---------------------------------------------------------------------------
    def _emit(self, ev: dict | None) -> None:
        if ev is None:
            return
        for fn in list(self.listeners):
            try:
                fn(ev)
            except Exception as e:  # a listener's bug must not undo a committed incident
                event(log, logging.ERROR, "event listener failed", error=repr(e))


NEW_ORDER = 2 ** 62  # fold tie-break order of incidents new in a batch: after every database id


def _candidate(inc: IncidentRecord, device_ids: set, order: int) -> dict:
    return {"id": order, "order": order, "incident": inc, "device_ids": set(device_ids),
            "first_pressed_at": inc.pressed_at, "last_pressed_at": inc.last_pressed_at,
            "lat_udeg": inc.lat_udeg, "lon_udeg": inc.lon_udeg}


def incident_view(inc: IncidentRecord) -> dict:
    clocks = {c: getattr(inc, c) for c in lifecycle.CLOCKS}
    return {
        "id": inc.id, "type": inc.type, "category": inc.category, "agency": inc.agency,
        "priority": inc.priority, "state": inc.state,
        "station": {"id": inc.station_id, "name": inc.station_name, "parent": inc.station_parent},
        "press_count": inc.press_count, "alarm_count": inc.alarm_count, "origin_device_id": inc.origin_device_id,
        "site": inc.site,
        "location": {"lat_udeg": inc.lat_udeg, "lon_udeg": inc.lon_udeg, "source": inc.loc_source,
                     "acc_m": inc.loc_acc_m, "age_s": inc.loc_age_s},
        "prank_suspect": inc.prank_suspect, "escalated_at": inc.escalated_at,
        "escalation": lifecycle.escalation_of(inc.escalation_level or 0), "summary": inc.summary,
        "reporter": inc.reporter, "caller": inc.caller_number, "channel": inc.channel,
        "closure_reason": inc.closure_reason, "last_pressed_at": inc.last_pressed_at,
        "clocks": clocks, "durations": lifecycle.durations(clocks),
    }


def device_view(d: DeviceRecord) -> dict:
    return {
        "id": d.id, "kind": d.kind, "site": d.site, "lat_udeg": d.lat_udeg, "lon_udeg": d.lon_udeg,
        "category": d.category, "agency": d.agency, "board": d.board, "active": d.active, "status": d.status,
        "health": {"battery_mv": d.battery_mv, "battery_pct": d.battery_pct, "rssi_dbm": d.rssi_dbm,
                   "temp_dc": d.temp_dc, "tamper": d.tamper, "stuck": d.stuck, "firmware": d.firmware,
                   "uptime_s": d.uptime_s, "outbox": d.outbox, "link_security": d.link_security},
        "last_seen": d.last_seen, "prank_count": d.prank_count, "prank_flagged": d.prank_flagged,
        "has_broker_password": bool(d.broker_password_hash), "has_sms_key": bool(d.sms_key),
    }
