"""The SQLAlchemy side of the domain's incident store (fleet_server/domain/repositories.py): one
IncidentTransaction per Database session, its repositories thin views over the query modules
(devices.py, incidents.py, audit.py) on that session. The ORM rows are the records the domain
reads and changes; the session writes the changes at flush and commit."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from fleet_server.domain.repositories import StoreUnavailable
from fleet_server.storage import audit, devices, forwards, incidents
from fleet_server.storage.db import Database
from fleet_server.storage.models import Device, Forward, Incident, Note


class SqlDevices:
    __slots__ = ("s",)

    def __init__(self, s: Session):
        self.s = s

    def get(self, device_id: str) -> Device | None:
        return devices.get(self.s, device_id)

    def many(self, ids: list[str]) -> dict[str, Device]:
        return devices.many(self.s, ids)

    def create(self, device_id: str, kind: str, at: float, **fields) -> Device:
        return devices.create(self.s, device_id, kind, at, **fields)

    def touch(self, seen: dict[str, float]) -> None:
        devices.touch(self.s, seen)

    def online(self) -> list[Device]:
        return devices.online_devices(self.s)

    def active_ids(self) -> set[str]:
        return devices.active_ids(self.s)


class SqlIncidents:
    __slots__ = ("s", "staged")

    def __init__(self, s: Session):
        self.s = s
        self.staged: list[tuple[Incident, dict]] = []   # alarms written at the transaction's flush

    def find_alarms(self, keys: list[tuple[str, int, int]]) -> dict[tuple, tuple[int, int | None]]:
        return incidents.find_alarms(self.s, keys)

    def open_emergencies(self, since: float, until: float, open_states: tuple) -> list[Incident]:
        return incidents.open_emergencies(self.s, since, until, open_states)

    def memberships(self, incident_ids: list[int], device_ids: list[str]) -> list[tuple[int, str]]:
        return incidents.memberships(self.s, incident_ids, device_ids)

    def new_incident(self, **fields) -> Incident:
        return incidents.new_incident(self.s, **fields)

    def new_alarm(self, incident: Incident, **fields) -> None:
        # Not an ORM object: a batch of alarms costs one INSERT ... RETURNING at flush, not a unit
        # of work per row (the ORM's bookkeeping was most of an alarm's cost).
        self.staged.append((incident, fields))

    def write_staged(self) -> None:
        staged, self.staged = self.staged, []
        incidents.insert_alarms(self.s, staged)

    def create_incident(self, **fields) -> Incident:
        return incidents.create_incident(self.s, **fields)

    def get(self, incident_id: int, for_update: bool = False) -> Incident | None:
        return incidents.get(self.s, incident_id, for_update)

    def devices_of(self, incident_id: int) -> list[str]:
        return incidents.devices_of(self.s, incident_id)

    def add_note(self, incident_id: int, author: str, text: str, at: float) -> Note:
        return incidents.add_note(self.s, incident_id, author, text, at)

    def unacknowledged_before(self, before: float, below_level: int = 1) -> list[Incident]:
        return incidents.unacknowledged_before(self.s, before, below_level)

    def awaiting_unit_before(self, before: float, open_states: tuple) -> list[Incident]:
        return incidents.awaiting_unit_before(self.s, before, open_states)

    def add_prank(self, device: Device, incident_id: int, kind: str, at: float) -> None:
        incidents.add_prank(self.s, device, incident_id, kind, at)

    def add_number_prank(self, number: str, incident_id: int, kind: str, at: float) -> None:
        incidents.add_number_prank(self.s, number, incident_id, kind, at)

    def number_pranks(self, number: str) -> tuple[int, float | None]:
        return incidents.number_pranks(self.s, number)

    def by_caller(self, numbers: list[str], limit: int) -> list[Incident]:
        return incidents.by_caller(self.s, numbers, limit)

    def number_prank_entries(self, numbers: list[str]) -> list[tuple[int, str, float]]:
        return incidents.number_prank_entries(self.s, numbers)


class SqlAudit:
    __slots__ = ("s",)

    def __init__(self, s: Session):
        self.s = s

    def append(self, at: float, actor: str, action: str, entity: str, entity_id, from_value=None,
               to_value=None, detail: str | None = None) -> None:
        audit.append(self.s, at, actor, action, entity, entity_id, from_value, to_value, detail)

    def append_many(self, rows: list[dict]) -> None:
        audit.append_many(self.s, rows)

    def actions(self, entity: str, entity_id, action: str) -> list[dict]:
        return audit.actions(self.s, entity, entity_id, action)


class SqlForwards:
    __slots__ = ("s",)

    def __init__(self, s: Session):
        self.s = s

    def add(self, **fields) -> Forward:
        return forwards.add(self.s, **fields)

    def get(self, forward_id: int, for_update: bool = False) -> Forward | None:
        return forwards.get(self.s, forward_id, for_update)

    def of_incident(self, incident_id: int) -> list[Forward]:
        return forwards.of_incident(self.s, incident_id)

    def at_station(self, station_id: str | None, states: tuple) -> list[Forward]:
        return forwards.at_station(self.s, station_id, states)

    def pending_before(self, before: float) -> list[Forward]:
        return forwards.pending_before(self.s, before)

    def open_of_closed_incidents(self, open_states: tuple, closed_states: tuple) -> list[Forward]:
        return forwards.open_of_closed_incidents(self.s, open_states, closed_states)

    def unforwarded(self, open_states: tuple, since: float) -> list[Incident]:
        return forwards.unforwarded(self.s, open_states, since)

    def sent_between(self, since: float, until: float, station_id: str | None = None) -> list[Forward]:
        return forwards.sent_between(self.s, since, until, station_id)

    def current(self, open_states: tuple) -> list[Forward]:
        return forwards.current(self.s, open_states)

    def roster(self, station_id: str) -> list[str]:
        return forwards.roster(self.s, station_id)


class SqlTransaction:
    """The domain's IncidentTransaction on one session."""

    def __init__(self, s: Session):
        self.session = s
        self.devices = SqlDevices(s)
        self.incidents = SqlIncidents(s)
        self.audit = SqlAudit(s)
        self.forwards = SqlForwards(s)

    def lock_ingest(self) -> None:
        incidents.lock_ingest(self.session)

    def staging(self):
        return self.session.no_autoflush

    def flush(self) -> None:
        self.session.flush()           # incidents first: the alarms' links need their ids
        self.incidents.write_staged()


class SqlIncidentStore:
    """The domain's IncidentStore on a Database: a transaction is `db.session()` (commit on
    success, rollback on an exception), a read is `db.read()`."""

    def __init__(self, db: Database):
        self.db = db

    @contextmanager
    def transaction(self) -> Iterator[SqlTransaction]:
        with unavailable_as_domain_error():
            with self.db.session() as s:
                tx = SqlTransaction(s)
                yield tx
                if tx.incidents.staged:
                    tx.flush()             # nothing staged is left out of the commit

    @contextmanager
    def read(self) -> Iterator[SqlTransaction]:
        with unavailable_as_domain_error():
            with self.db.read() as s:
                yield SqlTransaction(s)


# SQLSTATEs that mean "this database cannot take the transaction now", not "the transaction is
# wrong": 25006 read-only (a primary being demoted), 57P01-57P03 shutdown, crash or start-up.
_UNAVAILABLE_SQLSTATES = {"25006", "57P01", "57P02", "57P03"}


def is_unavailable(e: BaseException) -> bool:
    """A lost connection or a database that refuses writes for now (a failover), as opposed to
    an error in the transaction itself."""
    if not isinstance(e, DBAPIError):
        return False
    if e.connection_invalidated:
        return True
    if type(e.orig).__module__.startswith("psycopg"):
        # psycopg's OperationalError: no server reachable or none accepting writes (libpq's
        # target_session_attrs=read-write), connections exhausted, a server shutting down. SQLite's
        # OperationalError also means a missing table or a bad statement: not retried.
        import psycopg
        return isinstance(e.orig, psycopg.OperationalError) or e.orig.sqlstate in _UNAVAILABLE_SQLSTATES
    return False


@contextmanager
def unavailable_as_domain_error() -> Iterator[None]:
    """The unit-of-work boundary: a database failover reaches the domain's callers as the port's
    StoreUnavailable (retry the unit), every other error as it was."""
    try:
        yield
    except DBAPIError as e:
        if is_unavailable(e):
            raise StoreUnavailable(f"database unavailable: {type(e.orig).__name__}: "
                                   f"{str(e.orig).strip().splitlines()[0] if str(e.orig).strip() else ''}") from e
        raise
