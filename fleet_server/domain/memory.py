"""The incident store in memory: the reference implementation of the IncidentStore port
(fleet_server/domain/repositories.py) that the domain's tests run on, with the database's rules
kept where the rules depend on them: one alarm per (device_id, boot, seq), ids given at flush,
transactions serialized and all-or-nothing, the audit trail append-only. Nothing is kept across
processes; the server runs on the SQLAlchemy store (fleet_server/storage/repositories.py)."""
from __future__ import annotations

import copy
import threading
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Iterator

from fleet_server.domain.audit import entry
from fleet_server.domain.devices import initial_fields


class Conflict(Exception):
    """A write the store's constraints refuse (what the database reports as an integrity error)."""


@dataclass(eq=False)
class DeviceRow:
    id: str
    kind: str
    created_at: float
    site: str = ""
    lat_udeg: int | None = None
    lon_udeg: int | None = None
    category: str = "unknown"
    agency: str = "112"
    board: str | None = None
    active: bool = True
    status: str = "unknown"
    battery_mv: int | None = None
    battery_pct: int | None = None
    rssi_dbm: int | None = None
    temp_dc: int | None = None
    tamper: bool = False
    stuck: bool = False
    firmware: str | None = None
    uptime_s: int | None = None
    outbox: int | None = None
    link_security: str | None = None
    boot: int | None = None
    last_seen: float | None = None
    status_changed_at: float | None = None
    prank_count: int = 0
    prank_flagged: bool = False
    broker_password_hash: str | None = None
    sms_key: str | None = None


@dataclass(eq=False)
class IncidentRow:
    type: str
    category: str
    agency: str
    priority: int
    state: str
    last_pressed_at: float
    received_at: float
    id: int | None = None
    station_id: str | None = None
    station_name: str | None = None
    station_parent: str | None = None
    press_count: int = 0
    alarm_count: int = 0
    origin_device_id: str | None = None
    site: str | None = None
    lat_udeg: int | None = None
    lon_udeg: int | None = None
    loc_source: str = "none"
    loc_acc_m: int | None = None
    loc_age_s: int | None = None
    prank_suspect: bool = False
    summary: str | None = None
    reporter: str | None = None
    caller_number: str | None = None
    channel: str | None = None
    escalated_at: float | None = None
    escalation_level: int = 0
    pressed_at: float | None = None
    acknowledged_at: float | None = None
    dispatched_at: float | None = None
    enroute_at: float | None = None
    onscene_at: float | None = None
    closed_at: float | None = None
    closure_reason: str | None = None


@dataclass(eq=False)
class AlarmRow:
    device_id: str
    boot: int
    seq: int
    via: str
    pressed_at: float
    received_at: float
    category: str
    trigger: str
    presses: int
    loc_source: str
    lat_udeg: int | None = None
    lon_udeg: int | None = None
    loc_acc_m: int | None = None
    loc_age_s: int | None = None
    prank_flagged: bool = False
    id: int | None = None
    incident_id: int | None = None


@dataclass(frozen=True)
class NoteRow:
    id: int
    incident_id: int
    author: str
    text: str
    created_at: float


@dataclass(frozen=True)
class AuditRow:
    """Frozen: an entry, once appended, cannot be changed."""
    id: int
    at: float
    actor: str
    action: str
    entity: str
    entity_id: str
    from_value: str | None
    to_value: str | None
    detail: str | None


@dataclass(eq=False)
class ForwardRow:
    incident_id: int
    station_id: str
    agency: str
    state: str
    sent_at: float
    sent_by: str
    station_name: str | None = None
    parent_id: int | None = None
    holders: str = ""
    accepted_at: float | None = None
    accepted_by: str | None = None
    ended_at: float | None = None
    ended_by: str | None = None
    outcome: str | None = None
    reason: str | None = None
    id: int | None = None


@dataclass(frozen=True)
class PrankRow:
    device_id: str
    site: str
    incident_id: int
    kind: str
    at: float


@dataclass
class _State:
    devices: dict[str, DeviceRow] = field(default_factory=dict)
    incidents: dict[int, IncidentRow] = field(default_factory=dict)
    alarms: dict[tuple, AlarmRow] = field(default_factory=dict)
    notes: list[NoteRow] = field(default_factory=list)
    pranks: list[PrankRow] = field(default_factory=list)
    number_pranks: list[tuple[str, int, str, float]] = field(default_factory=list)  # number, incident, kind, at
    audit: list[AuditRow] = field(default_factory=list)
    forwards: dict[int, ForwardRow] = field(default_factory=dict)
    users: dict[str, tuple[str | None, bool]] = field(default_factory=dict)   # username: (station id, active)
    next_incident: int = 1
    next_alarm: int = 1


class MemoryIncidentStore:
    """IncidentStore in memory. Transactions (and reads) run one at a time; a transaction that
    raises leaves the store as it was."""

    def __init__(self):
        self._state = _State()
        self._lock = threading.RLock()
        self.transactions = 0   # committed write transactions (what the SQL store's commits would be)

    @contextmanager
    def transaction(self) -> Iterator[MemoryTransaction]:
        with self._lock:
            saved = copy.deepcopy(self._state)
            tx = MemoryTransaction(self._state)
            try:
                yield tx
                tx.flush()
            except BaseException:
                self._state = saved
                raise
            self.transactions += 1

    @contextmanager
    def read(self) -> Iterator[MemoryTransaction]:
        with self._lock:
            yield MemoryTransaction(self._state)

    # ---- what the tests look at -------------------------------------------------------------
    def audit_trail(self, entity: str | None = None, entity_id=None) -> list[AuditRow]:
        return [a for a in self._state.audit if (entity is None or a.entity == entity)
                and (entity_id is None or a.entity_id == str(entity_id))]

    def alarms_of(self, incident_id: int) -> list[AlarmRow]:
        return sorted((a for a in self._state.alarms.values() if a.incident_id == incident_id),
                      key=lambda a: (a.pressed_at, a.id))

    def incidents(self) -> list[IncidentRow]:
        return sorted(self._state.incidents.values(), key=lambda i: i.id)

    def pranks(self) -> list[PrankRow]:
        return list(self._state.pranks)

    def add_user(self, username: str, station_id: str | None, active: bool = True) -> None:
        """A console user (the SQL store keeps them in its users table): the stations' rosters."""
        self._state.users[username] = (station_id, active)


class MemoryTransaction:
    def __init__(self, state: _State):
        self._state = state
        self._staged_incidents: list[IncidentRow] = []
        self._staged_alarms: list[tuple[IncidentRow, AlarmRow]] = []
        self._staging = 0
        self.devices = _Devices(state)
        self.incidents = _Incidents(self, state)
        self.audit = _Audit(state)
        self.forwards = _Forwards(self, state)

    def lock_ingest(self) -> None:
        pass  # the store's lock already runs one transaction at a time

    @contextmanager
    def staging(self) -> Iterator[None]:
        self._staging += 1
        try:
            yield
        finally:
            self._staging -= 1

    def flush(self) -> None:
        st = self._state
        for inc in self._staged_incidents:
            inc.id = st.next_incident
            st.next_incident += 1
            st.incidents[inc.id] = inc
        for inc, a in self._staged_alarms:
            key = (a.device_id, a.boot, a.seq)
            if key in st.alarms:
                raise Conflict(f"alarm {key} is already stored")
            a.id, a.incident_id = st.next_alarm, inc.id
            st.next_alarm += 1
            st.alarms[key] = a
        self._staged_incidents, self._staged_alarms = [], []

    def _autoflush(self) -> None:
        """Queries see what was staged, except while staging (as a session's autoflush)."""
        if not self._staging and (self._staged_incidents or self._staged_alarms):
            self.flush()


class _Devices:
    def __init__(self, state: _State):
        self._state = state

    def get(self, device_id: str) -> DeviceRow | None:
        return self._state.devices.get(device_id)

    def many(self, ids: list[str]) -> dict[str, DeviceRow]:
        have = self._state.devices
        return {i: have[i] for i in set(ids) if i in have}

    def create(self, device_id: str, kind: str, at: float, **fields) -> DeviceRow:
        if device_id in self._state.devices:
            raise Conflict(f"device {device_id} is already stored")
        d = DeviceRow(id=device_id, kind=kind, created_at=at, **initial_fields(fields))
        self._state.devices[device_id] = d
        return d

    def touch(self, seen: dict[str, float]) -> None:
        for device_id, at in seen.items():
            d = self._state.devices.get(device_id)
            if d is not None and (d.last_seen is None or d.last_seen < at):
                d.last_seen = at

    def online(self) -> list[DeviceRow]:
        return [d for d in self._state.devices.values() if d.status == "online"]

    def active_ids(self) -> set[str]:
        return {d.id for d in self._state.devices.values() if d.active}


class _Incidents:
    def __init__(self, tx: MemoryTransaction, state: _State):
        self._tx = tx
        self._state = state

    def find_alarms(self, keys: list[tuple[str, int, int]]) -> dict[tuple, tuple[int, int | None]]:
        self._tx._autoflush()
        have = self._state.alarms
        return {k: (have[k].id, have[k].incident_id) for k in set(keys) if k in have}

    def open_emergencies(self, since: float, until: float, open_states: tuple) -> list[IncidentRow]:
        self._tx._autoflush()
        return [i for i in self._state.incidents.values()
                if i.type == "emergency" and i.state in open_states and i.last_pressed_at >= since
                and i.pressed_at is not None and i.pressed_at <= until]

    def memberships(self, incident_ids: list[int], device_ids: list[str]) -> list[tuple[int, str]]:
        self._tx._autoflush()
        incs, devs = set(incident_ids), set(device_ids)
        return sorted({(a.incident_id, a.device_id) for a in self._state.alarms.values()
                       if a.incident_id in incs and a.device_id in devs})

    def new_incident(self, **fields) -> IncidentRow:
        inc = IncidentRow(**fields)
        self._tx._staged_incidents.append(inc)
        return inc

    def new_alarm(self, incident: IncidentRow, **fields) -> None:
        self._tx._staged_alarms.append((incident, AlarmRow(**fields)))

    def create_incident(self, **fields) -> IncidentRow:
        inc = self.new_incident(**fields)
        self._tx.flush()
        return inc

    def get(self, incident_id: int, for_update: bool = False) -> IncidentRow | None:
        self._tx._autoflush()
        return self._state.incidents.get(incident_id)

    def devices_of(self, incident_id: int) -> list[str]:
        self._tx._autoflush()
        return sorted({a.device_id for a in self._state.alarms.values() if a.incident_id == incident_id})

    def add_note(self, incident_id: int, author: str, text: str, at: float) -> NoteRow:
        if incident_id not in self._state.incidents:
            raise Conflict(f"incident {incident_id} does not exist")
        n = NoteRow(len(self._state.notes) + 1, incident_id, author, text, at)
        self._state.notes.append(n)
        return n

    def unacknowledged_before(self, before: float, below_level: int = 1) -> list[IncidentRow]:
        self._tx._autoflush()
        return [i for i in self._state.incidents.values()
                if i.state == "new" and i.escalation_level < below_level and i.received_at <= before]

    def awaiting_unit_before(self, before: float, open_states: tuple) -> list[IncidentRow]:
        self._tx._autoflush()
        return [i for i in self._state.incidents.values()
                if i.type == "emergency" and i.state in open_states and i.onscene_at is None
                and i.received_at <= before]

    def add_prank(self, device: DeviceRow, incident_id: int, kind: str, at: float) -> None:
        self._state.pranks.append(PrankRow(device.id, device.site or "", incident_id, kind, at))

    def add_number_prank(self, number: str, incident_id: int, kind: str, at: float) -> None:
        self._state.number_pranks.append((number, incident_id, kind, at))

    def number_pranks(self, number: str) -> tuple[int, float | None]:
        ats = [at for n, _i, _k, at in self._state.number_pranks if n == number]
        return len(ats), max(ats, default=None)

    def by_caller(self, numbers: list[str], limit: int) -> list[IncidentRow]:
        self._tx._autoflush()
        forms = set(numbers)
        mine = [i for i in self._state.incidents.values() if i.caller_number in forms]
        return sorted(mine, key=lambda i: (-i.received_at, -i.id))[:limit]

    def number_prank_entries(self, numbers: list[str]) -> list[tuple[int, str, float]]:
        forms = set(numbers)
        return sorted(((i, k, at) for n, i, k, at in self._state.number_pranks if n in forms), key=lambda e: (e[2], e[0]))


class _Forwards:
    def __init__(self, tx: MemoryTransaction, state: _State):
        self._tx = tx
        self._state = state

    def add(self, **fields) -> ForwardRow:
        if fields["incident_id"] not in self._state.incidents:
            raise Conflict(f"incident {fields['incident_id']} does not exist")
        f = ForwardRow(**fields)
        f.id = max(self._state.forwards, default=0) + 1
        self._state.forwards[f.id] = f
        return f

    def get(self, forward_id: int, for_update: bool = False) -> ForwardRow | None:
        return self._state.forwards.get(forward_id)

    def _sorted(self, rows) -> list[ForwardRow]:
        return sorted(rows, key=lambda f: (f.sent_at, f.id))

    def of_incident(self, incident_id: int) -> list[ForwardRow]:
        return self._sorted(f for f in self._state.forwards.values() if f.incident_id == incident_id)

    def at_station(self, station_id: str | None, states: tuple) -> list[ForwardRow]:
        return self._sorted(f for f in self._state.forwards.values()
                            if (station_id is None or f.station_id == station_id) and f.state in states)

    def pending_before(self, before: float) -> list[ForwardRow]:
        return self._sorted(f for f in self._state.forwards.values() if f.state == "pending" and f.sent_at <= before)

    def open_of_closed_incidents(self, open_states: tuple, closed_states: tuple) -> list[ForwardRow]:
        incs = self._state.incidents
        return self._sorted(f for f in self._state.forwards.values()
                            if f.state in open_states and incs[f.incident_id].state in closed_states)

    def unforwarded(self, open_states: tuple, since: float) -> list[IncidentRow]:
        self._tx._autoflush()
        sent = {f.incident_id for f in self._state.forwards.values()}
        return sorted((i for i in self._state.incidents.values()
                       if i.state in open_states and i.received_at >= since and i.id not in sent),
                      key=lambda i: i.id)

    def sent_between(self, since: float, until: float, station_id: str | None = None) -> list[ForwardRow]:
        return self._sorted(f for f in self._state.forwards.values() if since <= f.sent_at < until
                            and (station_id is None or f.station_id == station_id))

    def current(self, open_states: tuple) -> list[ForwardRow]:
        latest: dict[int, ForwardRow] = {}
        for f in self._state.forwards.values():
            if self._state.incidents[f.incident_id].state in open_states:
                if f.incident_id not in latest or latest[f.incident_id].id < f.id:
                    latest[f.incident_id] = f
        return [latest[i] for i in sorted(latest)]

    def roster(self, station_id: str) -> list[str]:
        return sorted(u for u, (st, active) in self._state.users.items() if st == station_id and active)


class _Audit:
    def __init__(self, state: _State):
        self._state = state

    def append(self, at: float, actor: str, action: str, entity: str, entity_id, from_value=None,
               to_value=None, detail: str | None = None) -> None:
        trail = self._state.audit
        trail.append(AuditRow(len(trail) + 1, **entry(at, actor, action, entity, entity_id, from_value,
                                                      to_value, detail)))

    def append_many(self, rows: list[dict]) -> None:
        for r in rows:
            self.append(**r)

    def actions(self, entity: str, entity_id, action: str) -> list[dict]:
        return [asdict(a) for a in self._state.audit if a.entity == entity and a.entity_id == str(entity_id)
                and a.action == action]
