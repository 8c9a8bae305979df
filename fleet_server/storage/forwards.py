"""Forwards to stations and the stations' rosters (the domain's Forwards port,
fleet_server/domain/repositories.py; rules in fleet_server/domain/forwarding.py)."""
from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fleet_server.storage.models import Forward, Incident, User


def add(s: Session, **fields) -> Forward:
    f = Forward(**fields)
    s.add(f)
    s.flush()
    return f


def get(s: Session, forward_id: int, for_update: bool = False) -> Forward | None:
    q = select(Forward).where(Forward.id == forward_id)
    return s.scalars(q.with_for_update() if for_update else q).first()


def _oldest_first(q):
    return q.order_by(Forward.sent_at, Forward.id)


def of_incident(s: Session, incident_id: int) -> list[Forward]:
    return list(s.scalars(_oldest_first(select(Forward).where(Forward.incident_id == incident_id))))


def at_station(s: Session, station_id: str | None, states: tuple) -> list[Forward]:
    q = select(Forward).where(Forward.state.in_(states))
    if station_id is not None:
        q = q.where(Forward.station_id == station_id)
    return list(s.scalars(_oldest_first(q)))


def pending_before(s: Session, before: float) -> list[Forward]:
    q = select(Forward).where(Forward.state == "pending", Forward.sent_at <= before)
    return list(s.scalars(_oldest_first(q).with_for_update()))


def open_of_closed_incidents(s: Session, open_states: tuple, closed_states: tuple) -> list[Forward]:
    q = (select(Forward).join(Incident, Incident.id == Forward.incident_id)
         .where(Forward.state.in_(open_states), Incident.state.in_(closed_states)))
    return list(s.scalars(_oldest_first(q).with_for_update(of=Forward)))


def unforwarded(s: Session, open_states: tuple, since: float) -> list[Incident]:
    sent = select(Forward.id).where(Forward.incident_id == Incident.id).exists()
    q = select(Incident).where(Incident.state.in_(open_states), Incident.received_at >= since, ~sent)
    return list(s.scalars(q.order_by(Incident.id)))


def sent_between(s: Session, since: float, until: float, station_id: str | None = None) -> list[Forward]:
    q = select(Forward).where(Forward.sent_at >= since, Forward.sent_at < until)
    if station_id is not None:
        q = q.where(Forward.station_id == station_id)
    return list(s.scalars(_oldest_first(q)))


def current(s: Session, open_states: tuple) -> list[Forward]:
    latest = (select(func.max(Forward.id)).join(Incident, Incident.id == Forward.incident_id)
              .where(Incident.state.in_(open_states)).group_by(Forward.incident_id))
    return list(s.scalars(select(Forward).where(Forward.id.in_(latest)).order_by(Forward.incident_id)))


def roster(s: Session, station_id: str) -> list[str]:
    q = select(User.username).where(User.station_id == station_id, User.active.is_(True)).order_by(User.username)
    return list(s.scalars(q))
