"""Alarm, incident, note and prank-ledger queries."""
from __future__ import annotations

from sqlalchemy import and_, func, or_, select, text
from sqlalchemy.orm import Session

from fleet_server.storage.models import Alarm, Device, Incident, IncidentAlarm, Note, PrankEntry


def lock_ingest(s: Session) -> None:
    """Serialize alarm ingest across server processes so folding sees every committed incident.
    SQLite already serializes writers (BEGIN IMMEDIATE); PostgreSQL takes a transaction-scoped
    advisory lock (key: 'SIAGA112' read as an integer)."""
    if s.get_bind().dialect.name == "postgresql":
        s.execute(text("SELECT pg_advisory_xact_lock(5348412)"))


def find_alarms(s: Session, keys: list[tuple[str, int, int]]) -> dict[tuple, tuple[int, int | None]]:
    """Alarms already stored, for many keys in one query: {(device_id, boot, seq): (alarm id, incident id)}."""
    if not keys:
        return {}
    cond = or_(*[and_(Alarm.device_id == d, Alarm.boot == b, Alarm.seq == q) for d, b, q in set(keys)])
    rows = s.execute(select(Alarm.device_id, Alarm.boot, Alarm.seq, Alarm.id, IncidentAlarm.incident_id)
                     .outerjoin(IncidentAlarm, IncidentAlarm.alarm_id == Alarm.id).where(cond))
    return {(r[0], r[1], r[2]): (r[3], r[4]) for r in rows}


def open_emergencies(s: Session, since: float, until: float, open_states: tuple) -> list[Incident]:
    """Open emergency incidents whose presses overlap [since, until]: what a batch of alarms may
    fold into (uses the (state, last_pressed_at) index)."""
    return list(s.scalars(select(Incident).where(
        Incident.type == "emergency", Incident.state.in_(open_states),
        Incident.last_pressed_at >= since, Incident.pressed_at <= until)))


def memberships(s: Session, incident_ids: list[int], device_ids: list[str]) -> list[tuple[int, str]]:
    """(incident id, device id) pairs: which of these devices already have alarms in which of
    these incidents."""
    if not incident_ids or not device_ids:
        return []
    return [tuple(r) for r in s.execute(
        select(IncidentAlarm.incident_id, Alarm.device_id).join(Alarm, Alarm.id == IncidentAlarm.alarm_id)
        .where(IncidentAlarm.incident_id.in_(incident_ids), Alarm.device_id.in_(set(device_ids))).distinct())]


def new_alarm(s: Session, incident: Incident, **fields) -> Alarm:
    """Stage an alarm and its link to the incident; both are written at the next flush."""
    a = Alarm(**fields)
    s.add(a)
    s.add(IncidentAlarm(incident=incident, alarm=a))
    return a


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


def unacknowledged_before(s: Session, before: float) -> list[Incident]:
    return list(s.scalars(select(Incident).where(Incident.state == "new", Incident.escalated_at.is_(None),
                                                 Incident.received_at <= before).with_for_update()))


def add_prank(s: Session, device: Device, incident_id: int, kind: str, at: float) -> None:
    s.add(PrankEntry(device_id=device.id, site=device.site or "", incident_id=incident_id, kind=kind, at=at))


def prank_counts(s: Session) -> dict:
    by_dev = dict(s.execute(select(PrankEntry.device_id, func.count()).group_by(PrankEntry.device_id)).all())
    by_site = dict(s.execute(select(PrankEntry.site, func.count()).group_by(PrankEntry.site)).all())
    return {"by_device": by_dev, "by_site": by_site}


def stats_rows(s: Session, since: float | None, until: float | None) -> list[tuple]:
    """(agency, received_at, acknowledged_at, dispatched_at, onscene_at, closed_at, state) rows."""
    q = select(Incident.agency, Incident.received_at, Incident.acknowledged_at, Incident.dispatched_at,
               Incident.onscene_at, Incident.closed_at, Incident.state, Incident.type)
    if since is not None:
        q = q.where(Incident.received_at >= since)
    if until is not None:
        q = q.where(Incident.received_at < until)
    return list(s.execute(q).all())
