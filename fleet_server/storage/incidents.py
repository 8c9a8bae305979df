"""Alarm, incident, note and prank-ledger queries."""
from __future__ import annotations

from sqlalchemy import and_, bindparam, func, or_, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fleet_server.storage.models import Alarm, Device, Incident, IncidentAlarm, Note, PrankEntry


def lock_ingest(s: Session) -> None:
    """Serialize alarm ingest across server processes so folding sees every committed incident.
    SQLite already serializes writers (BEGIN IMMEDIATE); PostgreSQL takes a transaction-scoped
    advisory lock (key: 'SIAGA112' read as an integer)."""
    if s.get_bind().dialect.name == "postgresql":
        s.execute(text("SELECT pg_advisory_xact_lock(5348412)"))


def find_alarm(s: Session, device_id: str, boot: int, seq: int) -> tuple[int, int | None] | None:
    """(alarm id, incident id) of an alarm already stored, or None."""
    row = s.execute(select(Alarm.id, IncidentAlarm.incident_id)
                    .outerjoin(IncidentAlarm, IncidentAlarm.alarm_id == Alarm.id)
                    .where(Alarm.device_id == device_id, Alarm.boot == boot, Alarm.seq == seq)).first()
    return None if row is None else (row[0], row[1])


def find_alarms(s: Session, keys: list[tuple[str, int, int]]) -> dict[tuple, tuple[int, int | None]]:
    """find_alarm for many keys in one query: {(device_id, boot, seq): (alarm id, incident id)}."""
    if not keys:
        return {}
    cond = or_(*[and_(Alarm.device_id == d, Alarm.boot == b, Alarm.seq == q) for d, b, q in set(keys)])
    rows = s.execute(select(Alarm.device_id, Alarm.boot, Alarm.seq, Alarm.id, IncidentAlarm.incident_id)
                     .outerjoin(IncidentAlarm, IncidentAlarm.alarm_id == Alarm.id).where(cond))
    return {(r[0], r[1], r[2]): (r[3], r[4]) for r in rows}


def insert_alarm(s: Session, exclusive: bool = False, **fields) -> Alarm | None:
    """Insert; None when (device_id, boot, seq) is already there (the unique key decided).
    exclusive: the caller holds the ingest lock and has looked the key up, so no other writer
    can race it: skip the savepoint (the unique key still stands guard and would fail the
    transaction rather than let a duplicate in)."""
    a = Alarm(**fields)
    if exclusive:
        s.add(a)
        s.flush()
        return a
    try:
        with s.begin_nested():
            s.add(a)
            s.flush()
    except IntegrityError:
        return None
    return a


# Built once: the ingest runs this for every alarm, and building a statement costs more than
# running it on an indexed table.
_HAS_DEVICE = (select(IncidentAlarm.incident_id).join(Alarm, Alarm.id == IncidentAlarm.alarm_id)
               .where(IncidentAlarm.incident_id == Incident.id, Alarm.device_id == bindparam("dev"))
               .exists())
_FOLD_CANDIDATES = (
    select(Incident, _HAS_DEVICE.label("has_device"))
    .where(Incident.type == "emergency", Incident.state.in_(bindparam("states", expanding=True)),
           Incident.last_pressed_at >= bindparam("since"), Incident.pressed_at <= bindparam("until"),
           or_(_HAS_DEVICE, and_(Incident.lat_udeg.between(bindparam("lat0"), bindparam("lat1")),
                                 Incident.lon_udeg.between(bindparam("lon0"), bindparam("lon1"))))))
_EMPTY_BOX = (1, 0, 1, 0)  # min > max: matches nothing


def fold_candidates(s: Session, device_id: str, since: float, until: float, open_states: tuple,
                    box: tuple[int, int, int, int] | None) -> list[dict]:
    """Open emergency incidents whose presses overlap [since, until] and that either hold an
    alarm of device_id or lie inside box (min_lat, max_lat, min_lon, max_lon, microdegrees).
    Both filters run in the database, so the cost does not grow with the number of open
    incidents in the city; the exact distance is the domain's to judge."""
    lat0, lat1, lon0, lon1 = box or _EMPTY_BOX
    rows = s.execute(_FOLD_CANDIDATES, {"dev": device_id, "states": list(open_states), "since": since,
                                        "until": until, "lat0": lat0, "lat1": lat1, "lon0": lon0, "lon1": lon1})
    return [{"id": i.id, "device_ids": {device_id} if mine else set(), "first_pressed_at": i.pressed_at,
             "last_pressed_at": i.last_pressed_at, "lat_udeg": i.lat_udeg, "lon_udeg": i.lon_udeg,
             "incident": i} for i, mine in rows]


def create_incident(s: Session, **fields) -> Incident:
    i = Incident(**fields)
    s.add(i)
    s.flush()
    return i


def link(s: Session, incident_id: int, alarm_id: int) -> None:
    s.add(IncidentAlarm(incident_id=incident_id, alarm_id=alarm_id))


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
