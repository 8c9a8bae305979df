"""Alarm, incident, note and prank-ledger queries."""
from __future__ import annotations

from sqlalchemy import func, insert, select, text, tuple_
from sqlalchemy.orm import Session

from fleet_server.storage import bulk
from fleet_server.storage.models import Alarm, Device, Incident, IncidentAlarm, Note, NumberPrank, PrankEntry


def lock_ingest(s: Session) -> None:
    """Serialize alarm ingest across server processes so folding sees every committed incident.
    SQLite already serializes writers (BEGIN IMMEDIATE); PostgreSQL takes a transaction-scoped
    advisory lock (key: 'SIAGA112' read as an integer)."""
    if s.get_bind().dialect.name == "postgresql":
        s.execute(text("SELECT pg_advisory_xact_lock(5348412)"))


def find_alarms(s: Session, keys: list[tuple[str, int, int]]) -> dict[tuple, tuple[int, int | None]]:
    """Alarms already stored, for many keys in one query: {(device_id, boot, seq): (alarm id, incident id)}.
    One row-value IN on the unique key (an OR of ANDs cost more to build than to run)."""
    if not keys:
        return {}
    rows = s.execute(select(Alarm.device_id, Alarm.boot, Alarm.seq, Alarm.id, IncidentAlarm.incident_id)
                     .outerjoin(IncidentAlarm, IncidentAlarm.alarm_id == Alarm.id)
                     .where(tuple_(Alarm.device_id, Alarm.boot, Alarm.seq).in_(list(set(keys)))))
    return {(r[0], r[1], r[2]): (r[3], r[4]) for r in rows}


def open_emergencies(s: Session, since: float, until: float, open_states: tuple) -> list[Incident]:
    """Open emergency incidents whose presses overlap [since, until]: what a batch of alarms may
    fold into (uses the (state, last_pressed_at) index)."""
    return list(s.scalars(select(Incident).where(
        Incident.type == "emergency", Incident.state.in_(open_states),
        Incident.last_pressed_at >= since, Incident.pressed_at <= until)))


def memberships(s: Session, incident_ids: list[int], device_ids: list[str]) -> list[tuple[int, str]]:
    """(incident id, device id) pairs: which of these devices already have alarms in which of
    these incidents. The query filters by incident only and the devices are picked here: with both
    IN lists in SQL, SQLite probes every (incident, alarm) pair, quadratic in the batch."""
    if not incident_ids or not device_ids:
        return []
    wanted = set(device_ids)
    return [(r[0], r[1]) for r in s.execute(
        select(IncidentAlarm.incident_id, Alarm.device_id).join(Alarm, Alarm.id == IncidentAlarm.alarm_id)
        .where(IncidentAlarm.incident_id.in_(incident_ids)).distinct()) if r[1] in wanted]


def insert_alarms(s: Session, staged: list[tuple[Incident, dict]]) -> None:
    """Write staged alarms and their incident links: one INSERT ... RETURNING for the alarms, one
    statement for the links (PostgreSQL: each one unnest insert, bulk.py; elsewhere a multi-row
    INSERT ... RETURNING, ids in the order given, and an executemany). The incidents must have
    their ids (flushed). The unique key (device_id, boot, seq) refuses a copy already stored,
    whichever process wrote it."""
    if not staged:
        return
    conn = s.connection()
    table = Alarm.__table__
    rows = [fields for _inc, fields in staged]
    back = bulk.insert_rows(conn, table, rows, returning=("device_id", "boot", "seq", "id"))
    if back is not None:
        by_key = {(d, b, q): i for d, b, q, i in back}
        ids = [by_key[(f["device_id"], f["boot"], f["seq"])] for f in rows]
    else:
        ids = conn.execute(insert(table).returning(table.c.id, sort_by_parameter_order=True), rows).scalars().all()
    links = [{"incident_id": inc.id, "alarm_id": alarm_id} for (inc, _f), alarm_id in zip(staged, ids)]
    if bulk.insert_rows(conn, IncidentAlarm.__table__, links) is None:
        conn.execute(insert(IncidentAlarm.__table__), links)


def new_incident(s: Session, **fields) -> Incident:
    i = Incident(**fields)
    s.add(i)
    return i


def create_incident(s: Session, **fields) -> Incident:
    i = Incident(**fields)
    s.add(i)
    s.flush()
    return i


def get(s: Session, incident_id: int, for_update: bool = False) -> Incident | None:
    if for_update:
        return s.scalars(select(Incident).where(Incident.id == incident_id).with_for_update()).first()
    return s.get(Incident, incident_id)


def listing(s: Session, type: str | None = None, state: list[str] | None = None, agency: str | None = None,
            station_id: str | None = None, category: str | None = None, since: float | None = None,
            until: float | None = None, device_id: str | None = None, limit: int = 100,
            offset: int = 0) -> list[Incident]:
    q = select(Incident).order_by(Incident.priority, Incident.received_at.desc(), Incident.id.desc())
    if type:
        q = q.where(Incident.type == type)
    if state:
        q = q.where(Incident.state.in_(state))
    if agency:
        q = q.where(Incident.agency == agency)
    if station_id:
        q = q.where(Incident.station_id == station_id)
    if category:
        q = q.where(Incident.category == category)
    if since is not None:
        q = q.where(Incident.received_at >= since)
    if until is not None:
        q = q.where(Incident.received_at < until)
    if device_id:
        q = q.where(Incident.id.in_(select(IncidentAlarm.incident_id).join(Alarm, Alarm.id == IncidentAlarm.alarm_id)
                                    .where(Alarm.device_id == device_id)))
    return list(s.scalars(q.limit(limit).offset(offset)))


def alarms_of(s: Session, incident_id: int) -> list[Alarm]:
    return list(s.scalars(select(Alarm).join(IncidentAlarm, IncidentAlarm.alarm_id == Alarm.id)
                          .where(IncidentAlarm.incident_id == incident_id).order_by(Alarm.pressed_at, Alarm.id)))


def devices_of(s: Session, incident_id: int) -> list[str]:
    return sorted(set(s.scalars(select(Alarm.device_id).join(IncidentAlarm, IncidentAlarm.alarm_id == Alarm.id)
                                .where(IncidentAlarm.incident_id == incident_id))))


def add_note(s: Session, incident_id: int, author: str, text_: str, at: float) -> Note:
    n = Note(incident_id=incident_id, author=author, text=text_, created_at=at)
    s.add(n)
    s.flush()
    return n


def notes_of(s: Session, incident_id: int) -> list[Note]:
    return list(s.scalars(select(Note).where(Note.incident_id == incident_id).order_by(Note.id)))


def unacknowledged_before(s: Session, before: float, below_level: int = 1) -> list[Incident]:
    return list(s.scalars(select(Incident).where(Incident.state == "new", Incident.escalation_level < below_level,
                                                 Incident.received_at <= before).with_for_update()))


def awaiting_unit_before(s: Session, before: float, open_states: tuple) -> list[Incident]:
    """Open emergencies received at or before `before` with no unit on scene."""
    return list(s.scalars(select(Incident).where(Incident.type == "emergency", Incident.state.in_(open_states),
                                                 Incident.onscene_at.is_(None), Incident.received_at <= before)))


def add_prank(s: Session, device: Device, incident_id: int, kind: str, at: float) -> None:
    s.add(PrankEntry(device_id=device.id, site=device.site or "", incident_id=incident_id, kind=kind, at=at))


def add_number_prank(s: Session, number: str, incident_id: int, kind: str, at: float) -> None:
    s.add(NumberPrank(number=number, incident_id=incident_id, kind=kind, at=at))


def number_pranks(s: Session, number: str) -> tuple[int, float | None]:
    n, last = s.execute(select(func.count(), func.max(NumberPrank.at)).where(NumberPrank.number == number)).one()
    return int(n), last


def by_caller(s: Session, numbers: list[str], limit: int) -> list[Incident]:
    """A caller's incidents (any stored form of the number), newest first (ix_incidents_caller_number)."""
    if not numbers:
        return []
    return list(s.scalars(select(Incident).where(Incident.caller_number.in_(numbers))
                          .order_by(Incident.received_at.desc(), Incident.id.desc()).limit(limit)))


def number_prank_entries(s: Session, numbers: list[str]) -> list[tuple[int, str, float]]:
    """(incident id, kind, at) of the prank ledger's entries of a number, oldest first."""
    if not numbers:
        return []
    return [(r[0], r[1], r[2]) for r in s.execute(
        select(NumberPrank.incident_id, NumberPrank.kind, NumberPrank.at)
        .where(NumberPrank.number.in_(numbers)).order_by(NumberPrank.at, NumberPrank.incident_id))]


def prank_counts(s: Session) -> dict:
    by_dev = dict(s.execute(select(PrankEntry.device_id, func.count()).group_by(PrankEntry.device_id)).all())
    by_site = dict(s.execute(select(PrankEntry.site, func.count()).group_by(PrankEntry.site)).all())
    return {"by_device": by_dev, "by_site": by_site}


def monthly_rows(s: Session, since: float, until: float) -> list[tuple]:
    """(id, type, category, channel, origin_device_id, state, received_at, onscene_at, lat, lon) of
    the incidents received in [since, until): the monthly report's input."""
    return [tuple(r) for r in s.execute(
        select(Incident.id, Incident.type, Incident.category, Incident.channel, Incident.origin_device_id,
               Incident.state, Incident.received_at, Incident.onscene_at, Incident.lat_udeg, Incident.lon_udeg)
        .where(Incident.received_at >= since, Incident.received_at < until).order_by(Incident.id))]


def stats_rows(s: Session, since: float | None, until: float | None) -> list[tuple]:
    """(agency, received_at, acknowledged_at, dispatched_at, onscene_at, closed_at, state) rows."""
    q = select(Incident.agency, Incident.received_at, Incident.acknowledged_at, Incident.dispatched_at,
               Incident.onscene_at, Incident.closed_at, Incident.state, Incident.type)
    if since is not None:
        q = q.where(Incident.received_at >= since)
    if until is not None:
        q = q.where(Incident.received_at < until)
    return list(s.execute(q).all())
