"""The domain's ports: what the rules need from persistence, as `typing.Protocol`s. The SQLAlchemy
implementations live in fleet_server/storage/ (repositories.py for incidents, devices and the
audit trail; units.py for units and dispatch); the in-memory incident store
(fleet_server/domain/memory.py) is the reference the domain tests run on. Nothing here knows SQL,
sessions or engines."""
from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Iterable, Protocol

if TYPE_CHECKING:
    from fleet_server.domain.assignments import Assignment
    from fleet_server.domain.recommend import IncidentSite
    from fleet_server.domain.units import Position, Unit


# ---- incidents, devices and the audit trail --------------------------------------------------
# Records are plain objects with these attributes: the rules read and set them, and the
# transaction that handed them out writes the changes at its next flush or at commit.
class DeviceRecord(Protocol):
    id: str
    kind: str
    site: str
    lat_udeg: int | None
    lon_udeg: int | None
    category: str
    agency: str
    board: str | None           # esp32_button, picow_button, esp32_tracker, sim; None: not known
    active: bool
    status: str
    battery_mv: int | None
    battery_pct: int | None
    rssi_dbm: int | None
    temp_dc: int | None
    tamper: bool
    stuck: bool
    firmware: str | None
    uptime_s: int | None
    outbox: int | None
    link_security: str | None   # tls | tls_unverified | plain, from the heartbeat
    boot: int | None
    last_seen: float | None
    status_changed_at: float | None
    prank_count: int
    prank_flagged: bool
    broker_password_hash: str | None
    sms_key: str | None
    created_at: float


class IncidentRecord(Protocol):
    id: int | None   # None while staged, set by the flush
    type: str
    category: str
    agency: str
    priority: int
    station_id: str | None
    station_name: str | None
    station_parent: str | None
    state: str
    press_count: int
    alarm_count: int
    origin_device_id: str | None
    site: str | None
    lat_udeg: int | None
    lon_udeg: int | None
    loc_source: str
    loc_acc_m: int | None
    loc_age_s: int | None
    prank_suspect: bool
    summary: str | None
    reporter: str | None
    caller_number: str | None   # in full (normalized); output goes through center.shown_number
    channel: str | None         # button | phone | sms | aml (None: stored before channels were)
    escalated_at: float | None  # when it last went up the escalation ladder
    escalation_level: int       # 0 none, 1 the operator's supervisor, 2 the center head
    last_pressed_at: float
    pressed_at: float | None
    received_at: float
    acknowledged_at: float | None
    dispatched_at: float | None
    enroute_at: float | None
    onscene_at: float | None
    closed_at: float | None
    closure_reason: str | None


class NoteRecord(Protocol):
    id: int
    text: str


class Devices(Protocol):
    """The device registry inside one transaction."""

    def get(self, device_id: str) -> DeviceRecord | None: ...

    def many(self, ids: list[str]) -> dict[str, DeviceRecord]:
        """The registered ones among `ids`, in one lookup."""

    def create(self, device_id: str, kind: str, at: float, **fields) -> DeviceRecord:
        """A new device (fleet_server.domain.devices.initial_fields), written at once."""

    def touch(self, seen: dict[str, float]) -> None:
        """last_seen := at for each device, only forwards, in one bulk write."""

    def online(self) -> list[DeviceRecord]: ...

    def active_ids(self) -> set[str]: ...


class Incidents(Protocol):
    """Incidents, their alarms, notes and the prank ledger inside one transaction."""

    def find_alarms(self, keys: list[tuple[str, int, int]]) -> dict[tuple, tuple[int, int | None]]:
        """Alarms already stored, in one lookup: {(device_id, boot, seq): (alarm id, incident id)}."""

    def open_emergencies(self, since: float, until: float, open_states: tuple) -> list[IncidentRecord]:
        """Open emergencies whose presses overlap [since, until]: what a batch may fold into."""

    def memberships(self, incident_ids: list[int], device_ids: list[str]) -> list[tuple[int, str]]:
        """(incident id, device id): which of these devices have alarms in which of these incidents."""

    def new_incident(self, **fields) -> IncidentRecord:
        """Stage an incident; it gets its id at the next flush."""

    def new_alarm(self, incident: IncidentRecord, **fields) -> None:
        """Stage an alarm linked to a (possibly staged) incident. The store's unique key on
        (device_id, boot, seq) refuses a second copy at the flush, whichever process sent it."""

    def create_incident(self, **fields) -> IncidentRecord:
        """An incident written at once (it has its id on return)."""

    def get(self, incident_id: int, for_update: bool = False) -> IncidentRecord | None: ...

    def devices_of(self, incident_id: int) -> list[str]:
        """The devices with alarms in the incident, sorted."""

    def add_note(self, incident_id: int, author: str, text: str, at: float) -> NoteRecord: ...

    def unacknowledged_before(self, before: float, below_level: int = 1) -> list[IncidentRecord]:
        """New incidents below that escalation level received at or before `before` (locked for
        update)."""

    def awaiting_unit_before(self, before: float, open_states: tuple) -> list[IncidentRecord]:
        """Open emergencies received at or before `before` with no unit on scene."""

    def add_prank(self, device: DeviceRecord, incident_id: int, kind: str, at: float) -> None: ...

    def add_number_prank(self, number: str, incident_id: int, kind: str, at: float) -> None:
        """The prank ledger per caller's number."""

    def number_pranks(self, number: str) -> tuple[int, float | None]:
        """(how many pranks/false alarms from this number, when the last was)."""

    def by_caller(self, numbers: list[str], limit: int) -> list[IncidentRecord]:
        """The incidents of any of these stored forms of one number, newest first, at most `limit`."""

    def number_prank_entries(self, numbers: list[str]) -> list[tuple[int, str, float]]:
        """The prank ledger's entries of these forms of one number: (incident id, kind, at), oldest first."""


class ForwardRecord(Protocol):
    """An incident forwarded to a station (fleet_server/domain/forwarding.py)."""
    id: int
    incident_id: int
    station_id: str
    station_name: str | None
    agency: str
    state: str                 # pending | accepted | handed_down | returned | escalated | closed
    parent_id: int | None      # the forward it came from (hand-down, escalation)
    sent_at: float
    sent_by: str
    holders: str               # the station's roster when it arrived: usernames, comma separated
    accepted_at: float | None
    accepted_by: str | None
    ended_at: float | None
    ended_by: str | None
    outcome: str | None        # closed: done | no_action; handed down / escalated: where to
    reason: str | None


class Forwards(Protocol):
    """Forwards to stations and the stations' rosters, inside one transaction."""

    def add(self, **fields) -> ForwardRecord:
        """A forward written at once (it has its id on return)."""

    def get(self, forward_id: int, for_update: bool = False) -> ForwardRecord | None: ...

    def of_incident(self, incident_id: int) -> list[ForwardRecord]:
        """The incident's forwards, oldest first."""

    def at_station(self, station_id: str | None, states: tuple) -> list[ForwardRecord]:
        """Forwards in these states at one station (every station when None), oldest first."""

    def pending_before(self, before: float) -> list[ForwardRecord]:
        """Pending forwards sent at or before `before` (locked for update), oldest first."""

    def open_of_closed_incidents(self, open_states: tuple, closed_states: tuple) -> list[ForwardRecord]:
        """Forwards still in open_states whose incident is in closed_states (locked for update)."""

    def unforwarded(self, open_states: tuple, since: float) -> list[IncidentRecord]:
        """Open incidents received at or after `since` that were never forwarded."""

    def sent_between(self, since: float, until: float, station_id: str | None = None) -> list[ForwardRecord]:
        """Forwards sent in [since, until), oldest first (one station's when given)."""

    def current(self, open_states: tuple) -> list[ForwardRecord]:
        """The latest forward of each incident in open_states, by incident id."""

    def roster(self, station_id: str) -> list[str]:
        """The usernames of the station's active users, sorted."""


class AuditTrail(Protocol):
    """Append-only: there is no update or delete, and the store refuses both."""

    def append(self, at: float, actor: str, action: str, entity: str, entity_id, from_value=None,
               to_value=None, detail: str | None = None) -> None: ...

    def append_many(self, rows: list[dict]) -> None:
        """Many rows in one write; each dict has the keys of append()."""

    def actions(self, entity: str, entity_id, action: str) -> list[dict]:
        """The entries of one action on one entity, oldest first, as dicts (at, actor, to_value,
        detail...)."""


class IncidentTransaction(Protocol):
    """One transaction: everything in it is committed together, or nothing is."""
    devices: Devices
    incidents: Incidents
    audit: AuditTrail
    forwards: Forwards

    def lock_ingest(self) -> None:
        """Serialize alarm ingest with every other server process until commit, so folding sees
        every committed incident."""

    def staging(self) -> AbstractContextManager:
        """While inside, nothing staged is written before the explicit flush()."""

    def flush(self) -> None:
        """Write everything staged (staged incidents get their ids)."""


class StoreUnavailable(Exception):
    """The store could not be reached for this transaction (its connection was lost, or no
    database accepts writes: a failover is under way). The transaction did not commit, or its
    outcome is unknown (the connection died during COMMIT): retry the whole unit of work, which
    is safe where it is idempotent (alarms, by device, boot and sequence number)."""


class IncidentStore(Protocol):
    def transaction(self) -> AbstractContextManager[IncidentTransaction]:
        """A write transaction: committed when the block ends, rolled back on an exception.
        Raises StoreUnavailable when the database cannot be reached."""

    def read(self) -> AbstractContextManager[IncidentTransaction]:
        """A read-only transaction (never waits for a writer where the store allows)."""


# ---- units and dispatch ---------------------------------------------------------------------
class UnitRepository(Protocol):
    """Units between restarts, and their position history."""

    def load_units(self) -> list[Unit]: ...

    def save_units(self, units: Iterable[Unit]) -> None:
        """Insert or update, all in one transaction."""

    def save_status(self, unit_id: str, status: str, at: float | None) -> None: ...

    def history(self, unit_id: str, since: float | None = None, until: float | None = None,
                limit: int = 10000) -> list[Position]:
        """Fixes of the unit, oldest first, the newest `limit` of them."""

    def purge_history(self, older_than: float) -> int:
        """Drop fixes taken before `older_than`; returns how many went."""


class PositionHistory(Protocol):
    """Accepted fixes on their way to the unit repository's history (batched off the ingest)."""
    written: int
    dropped: int

    def add(self, unit: Unit, pos: Position) -> None: ...

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything added so far is written (or timeout). True when empty."""

    def close(self, timeout: float = 10.0) -> None: ...


class PositionSink(Protocol):
    """Another place accepted fixes go (telemetry); never blocks the caller."""

    def write_position(self, unit: Unit, pos: Position) -> None: ...

    def stats(self) -> dict: ...

    def close(self) -> None: ...


class Journal(Protocol):
    """Where dispatch keeps its state so a restarted server still knows who is on the way."""

    def save_dispatch_incident(self, site: IncidentSite, buttons: tuple[str, ...], attempts: int,
                               feedback_sent: set[str], open_: bool) -> None: ...

    def save_assignment(self, a: Assignment) -> None: ...

    def load_dispatch(self) -> tuple[list[tuple[IncidentSite, tuple[str, ...], int, set[str]]], list[Assignment]]:
        """Open incidents (site, buttons, attempts, feedback sent) and all their orders."""


class Lease(Protocol):
    """A singleton duty's right to run on this worker (several workers share one database; the
    lease table and its fencing tokens live in fleet_server/cluster/leases.py). A duty acts only
    while held() is true; alone on its database a worker always holds it."""

    def held(self) -> bool: ...


class AlwaysHeld:
    """The lease of a worker alone on its database."""

    def held(self) -> bool:
        return True
