"""The one entry point every input path calls: MQTT ingest, the SMS gateway and the console.
Each call is one database transaction, committed before it returns, so whoever acknowledges to a
device does so only after the incident is safe. Listeners (the live feed, device feedback) are
told after the commit."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Callable

from fleet_server.domain import classification, folding, lifecycle, prank, supervision
from fleet_server.logs import event
from fleet_server.storage import audit as audit_repo
from fleet_server.storage import devices as device_repo
from fleet_server.storage import incidents as incident_repo
from fleet_server.storage.db import Database
from fleet_server.storage.models import Device, Incident

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
    escalate_after_s: float = 60.0
    response_promise_s: float = 300.0
    prank_flag_threshold: int = 3
    heartbeat_misses_offline: int = 2
    button_heartbeat_s: float = 300.0
    tracker_heartbeat_s: float = 60.0

    @classmethod
    def from_settings(cls, s) -> "Rules":
        return cls(**{k: getattr(s, k) for k in cls.__dataclass_fields__})


class IncidentService:
    def __init__(self, db: Database, rules: Rules, jurisdiction=None, clock: Callable[[], float] = time.time):
        self.db = db
        self.rules = rules
        self.jurisdiction = jurisdiction
        self.clock = clock
        self.listeners: list[Callable[[dict], None]] = []

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
        with self.db.session() as s:
            incident_repo.lock_ingest(s)  # ingest is serialized, so what we read stays true
            # Held here: the session's identity map only keeps weak references.
            devices = device_repo.many(s, [a["dev"] for a, _, _ in batch])
            known: dict[tuple, object] = {k: v[1] for k, v in incident_repo.find_alarms(
                s, [(a["dev"], a["boot"], a["seq"]) for a, _, _ in batch]).items()}
            pressed = [float(a["ts"]) for a, _, _ in batch]
            pool = folding.FoldPool(self.rules.fold_radius_m, w)
            open_incs = incident_repo.open_emergencies(s, min(pressed) - w, max(pressed) + w, lifecycle.OPEN)
            members: dict[int, set] = {}
            for inc_id, dev in incident_repo.memberships(s, [i.id for i in open_incs], list(devices)):
                members.setdefault(inc_id, set()).add(dev)
            for inc in open_incs:
                pool.add(_candidate(inc, members.get(inc.id, set()), inc.id))
            audits: list[tuple] = []
            with s.no_autoflush:
                for n, (alarm, via, received_at) in enumerate(batch):
                    try:
                        out[n] = self._ingest_one(s, alarm, via, received_at, devices, known, pool, audits)
                    except Refused as e:
                        out[n] = e
            s.flush()  # every incident, alarm and link in a few statements; ids from here on
            audit_repo.append_many(s, [
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

    def _ingest_one(self, s, alarm: dict, via: str, received_at: float, devices: dict, known: dict,
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
            inc = incident_repo.new_incident(
                s, type="emergency", category=category, agency=agency,
                priority=classification.priority(category, alarm["trig"], device.prank_flagged),
                station_id=station["id"], station_name=station["name"], station_parent=station["parent"],
                state="new", press_count=alarm["presses"], alarm_count=1, origin_device_id=dev_id,
                site=device.site, lat_udeg=lat, lon_udeg=lon, loc_source=src, loc_acc_m=acc, loc_age_s=age,
                prank_suspect=device.prank_flagged, escalated_at=None, pressed_at=pressed_at,
                last_pressed_at=pressed_at, received_at=received_at)
            pool.add(_candidate(inc, {dev_id}, NEW_ORDER + len(audits)))
            audits.append((received_at, actor, "incident_created", "incident", inc, None, "new",
                           f"{category} -> {agency}, station {station['id']}, via {via}"))
            created = True
        incident_repo.new_alarm(
            s, inc, device_id=dev_id, boot=boot, seq=seq, via=via, pressed_at=pressed_at, received_at=received_at,
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
               received_at: float | None = None) -> int:
        """A non-emergency report (damaged road, broken street light...): its own type and queue,
        lowest priority, never folded with emergencies. Returns the incident id."""
        if category not in classification.AGENCIES:
            raise Refused("bad_category", f"category {category!r} is not one of {', '.join(classification.AGENCIES)}")
        return self._standalone("report", category, classification.REPORT_PRIORITY, summary, actor, reporter,
                                lat_udeg, lon_udeg, "none" if lat_udeg is None else "fixed", None, device_id,
                                received_at, "report_created")

    def caller_location(self, lat_udeg: int | None, lon_udeg: int | None, source: str, acc_m: int | None,
                        summary: str, actor: str, reporter: str | None = None,
                        received_at: float | None = None) -> int:
        """A 112 caller's handset location (AML SMS, ETSI TS 103 625): an emergency in the triage
        queue (category unknown, priority 2) carrying where the phone is and how sure that is; the
        operator classifies it. Never folded into a button's incident. Returns the incident id."""
        if lat_udeg is None:
            source, acc_m = "none", None
        return self._standalone("emergency", "unknown", classification.priority("unknown", "button"), summary,
                                actor, reporter, lat_udeg, lon_udeg, source, acc_m, None, received_at,
                                "caller_location")

    def _standalone(self, type_: str, category: str, priority: int, summary: str, actor: str,
                    reporter: str | None, lat_udeg: int | None, lon_udeg: int | None, loc_source: str,
                    acc_m: int | None, device_id: str | None, received_at: float | None, action: str) -> int:
        at = received_at if received_at is not None else self.clock()
        agency = classification.agency_for(category)
        station = self._station(lat_udeg, lon_udeg, category)
        with self.db.session() as s:
            inc = incident_repo.create_incident(
                s, type=type_, category=category, agency=agency, priority=priority,
                station_id=station["id"], station_name=station["name"], station_parent=station["parent"],
                state="new", press_count=0, alarm_count=0, origin_device_id=device_id, lat_udeg=lat_udeg,
                lon_udeg=lon_udeg, loc_source=loc_source, loc_acc_m=acc_m, summary=summary,
                reporter=reporter, pressed_at=None, last_pressed_at=at, received_at=at)
            audit_repo.append(s, at, actor, action, "incident", inc.id, None, "new", category)
            view = incident_view(inc)
        self._emit({"type": "incident", "event": "created", "incident": view})
        return view["id"]

    # ---- lifecycle ---------------------------------------------------------------------------
    def transition(self, incident_id: int, to_state: str, actor: str, reason: str | None = None,
                   at: float | None = None) -> TransitionResult:
        at = at if at is not None else self.clock()
        flagged_now = []
        with self.db.session() as s:
            inc = incident_repo.get(s, incident_id, for_update=True)
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
            audit_repo.append(s, at, actor, "transition", "incident", inc.id, before, to_state, reason)
            devices = incident_repo.devices_of(s, inc.id)
            if prank.counts_against_device(to_state):
                for dev_id in devices:
                    d = device_repo.get(s, dev_id)
                    incident_repo.add_prank(s, d, inc.id, to_state, at)
                    d.prank_count += 1
                    if not d.prank_flagged and prank.flagged(d.prank_count, self.rules.prank_flag_threshold):
                        d.prank_flagged = True
                        flagged_now.append(dev_id)
                        audit_repo.append(s, at, "system", "prank_flagged", "device", dev_id, False, True,
                                          f"{d.prank_count} pranks/false alarms")
            view = incident_view(inc)
        feedback = lifecycle.FEEDBACK.get(to_state)
        self._emit({"type": "incident", "event": "transition", "from": before, "incident": view,
                    "devices": devices, "feedback": feedback})
        for dev_id in flagged_now:
            self._emit({"type": "device", "event": "prank_flagged", "device_id": dev_id})
        return TransitionResult(incident_id, before, to_state, devices, feedback)

    def add_note(self, incident_id: int, author: str, text: str, at: float | None = None) -> dict:
        at = at if at is not None else self.clock()
        text = (text or "").strip()
        if not text:
            raise Refused("empty_note", "a note needs some text")
        with self.db.session() as s:
            if incident_repo.get(s, incident_id) is None:
                raise NotFound(f"incident {incident_id}")
            n = incident_repo.add_note(s, incident_id, author, text[:4000], at)
            audit_repo.append(s, at, author, "note_added", "incident", incident_id, None, None, None)
            out = {"id": n.id, "incident_id": incident_id, "author": author, "text": n.text, "created_at": at}
        self._emit({"type": "incident", "event": "note", "note": out})
        return out

    def escalate_due(self, now: float | None = None) -> list[int]:
        """Escalate (once) every incident nobody acknowledged within Settings.escalate_after_s:
        priority up one step, audited, announced on the feed."""
        now = now if now is not None else self.clock()
        done = []
        with self.db.session() as s:
            for inc in incident_repo.unacknowledged_before(s, now - self.rules.escalate_after_s):
                if not lifecycle.due_for_escalation(inc.state, inc.received_at, inc.escalated_at, now,
                                                    self.rules.escalate_after_s):
                    continue
                inc.escalated_at = now
                before = inc.priority
                inc.priority = max(1, inc.priority - 1)
                audit_repo.append(s, now, "system", "escalated", "incident", inc.id, before, inc.priority,
                                  f"unacknowledged for {now - inc.received_at:.0f} s")
                done.append(incident_view(inc))
        for v in done:
            self._emit({"type": "incident", "event": "escalated", "incident": v})
        return [v["id"] for v in done]

    # ---- devices -----------------------------------------------------------------------------
    def register_device(self, device_id: str, kind: str, actor: str, **fields) -> dict:
        at = self.clock()
        with self.db.session() as s:
            if device_repo.get(s, device_id) is not None:
                raise Refused("exists", f"device {device_id} is already registered")
            if "agency" not in fields or not fields["agency"]:
                fields["agency"] = classification.agency_for(fields.get("category") or "unknown")
            d = device_repo.create(s, device_id, kind, at, **fields)
            audit_repo.append(s, at, actor, "device_registered", "device", device_id, None, kind, d.site)
            view = device_view(d)
        self._emit({"type": "device", "event": "registered", "device": view})
        return view

    def update_device(self, device_id: str, changes: dict, actor: str) -> dict:
        at = self.clock()
        with self.db.session() as s:
            d = device_repo.get(s, device_id)
            if d is None:
                raise NotFound(f"device {device_id}")
            for k, v in changes.items():
                if k == "prank_flagged":  # the technician clears (or sets) the flag after a visit
                    before = d.prank_flagged
                    d.prank_flagged = bool(v)
                    if not v:
                        d.prank_count = 0
                    audit_repo.append(s, at, actor, "prank_flag", "device", device_id, before, bool(v))
                    continue
                if k not in device_repo.EDITABLE:
                    raise Refused("not_editable", f"field {k} cannot be changed")
                before = getattr(d, k)
                setattr(d, k, v)
                shown = "***" if k in ("broker_password_hash", "sms_key") else v
                audit_repo.append(s, at, actor, f"device_{k}", "device", device_id,
                                  "***" if k in ("broker_password_hash", "sms_key") else before, shown)
            view = device_view(d)
        self._emit({"type": "device", "event": "updated", "device": view})
        return view

    def device_status(self, device_id: str, state: str, at: float, fw: str | None = None,
                      boot: int | None = None) -> None:
        """Birth ("online") or will ("offline") from the device's status topic."""
        with self.db.session() as s:
            d = device_repo.get(s, device_id)
            if d is None:
                raise Refused("unknown_device", f"device {device_id} is not registered")
            before = device_repo.set_status(s, device_id, state, at)
            if fw:
                d.firmware = fw
            if boot is not None and state == "online":
                d.boot = boot
            if before is not None:
                audit_repo.append(s, at, f"device:{device_id}", "device_status", "device", device_id, before, state)
        if before is not None:
            self._emit({"type": "device", "event": "status", "device_id": device_id, "status": state})

    def device_health(self, msg: dict, at: float) -> None:
        values = {"battery_mv": msg.get("batt"), "battery_pct": msg.get("pct"), "rssi_dbm": msg.get("rssi"),
                  "temp_dc": msg.get("temp"), "tamper": msg["tamper"], "stuck": msg["stuck"],
                  "firmware": msg["fw"], "uptime_s": msg["uptime"], "outbox": msg.get("outbox")}
        with self.db.session() as s:
            d = device_repo.get(s, msg["dev"])
            if d is None:
                raise Refused("unknown_device", f"device {msg['dev']} is not registered")
            raised = [k for k in ("tamper", "stuck") if values[k] and not getattr(d, k)]
            device_repo.record_health(s, msg["dev"], values, at)
            before = device_repo.set_status(s, msg["dev"], "online", at)
            for k in raised:
                audit_repo.append(s, at, f"device:{d.id}", f"device_{k}", "device", d.id, False, True)
            if before is not None:
                audit_repo.append(s, at, f"device:{d.id}", "device_status", "device", d.id, before, "online")
        if raised or before is not None:
            self._emit({"type": "device", "event": "health", "device_id": msg["dev"], "raised": raised})

    def touch_devices(self, seen: dict[str, float]) -> None:
        if seen:
            with self.db.session() as s:
                device_repo.touch(s, seen)

    def supervise(self, now: float | None = None) -> list[str]:
        """Mark offline every online device silent past N heartbeats (a crashed broker sends no
        will, and a dead button cannot say goodbye). Returns the ids marked."""
        now = now if now is not None else self.clock()
        r = self.rules
        gone = []
        with self.db.session() as s:
            for d in device_repo.online_devices(s):
                hb = supervision.heartbeat_s(d.kind, r.button_heartbeat_s, r.tracker_heartbeat_s)
                if supervision.silent_too_long(d.last_seen, now, hb, r.heartbeat_misses_offline):
                    device_repo.set_status(s, d.id, "offline", now)
                    audit_repo.append(s, now, "system", "device_status", "device", d.id, "online", "offline",
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


def _candidate(inc: Incident, device_ids: set, order: int) -> dict:
    return {"id": order, "order": order, "incident": inc, "device_ids": set(device_ids),
            "first_pressed_at": inc.pressed_at, "last_pressed_at": inc.last_pressed_at,
            "lat_udeg": inc.lat_udeg, "lon_udeg": inc.lon_udeg}


def incident_view(inc: Incident) -> dict:
    clocks = {c: getattr(inc, c) for c in lifecycle.CLOCKS}
    return {
        "id": inc.id, "type": inc.type, "category": inc.category, "agency": inc.agency,
        "priority": inc.priority, "state": inc.state,
        "station": {"id": inc.station_id, "name": inc.station_name, "parent": inc.station_parent},
        "press_count": inc.press_count, "alarm_count": inc.alarm_count, "origin_device_id": inc.origin_device_id,
        "site": inc.site,
        "location": {"lat_udeg": inc.lat_udeg, "lon_udeg": inc.lon_udeg, "source": inc.loc_source,
                     "acc_m": inc.loc_acc_m, "age_s": inc.loc_age_s},
        "prank_suspect": inc.prank_suspect, "escalated_at": inc.escalated_at, "summary": inc.summary,
        "reporter": inc.reporter, "closure_reason": inc.closure_reason, "last_pressed_at": inc.last_pressed_at,
        "clocks": clocks, "durations": lifecycle.durations(clocks),
    }


def device_view(d: Device) -> dict:
    return {
        "id": d.id, "kind": d.kind, "site": d.site, "lat_udeg": d.lat_udeg, "lon_udeg": d.lon_udeg,
        "category": d.category, "agency": d.agency, "active": d.active, "status": d.status,
        "health": {"battery_mv": d.battery_mv, "battery_pct": d.battery_pct, "rssi_dbm": d.rssi_dbm,
                   "temp_dc": d.temp_dc, "tamper": d.tamper, "stuck": d.stuck, "firmware": d.firmware,
                   "uptime_s": d.uptime_s, "outbox": d.outbox},
        "last_seen": d.last_seen, "prank_count": d.prank_count, "prank_flagged": d.prank_flagged,
        "has_broker_password": bool(d.broker_password_hash), "has_sms_key": bool(d.sms_key),
    }
