"""Counts the metrics read at scrape time (fleet_server/api/monitoring.py): small GROUP BY queries
over the device registry and the open incidents."""
from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fleet_server.storage.models import Device, Incident


def devices_by_kind_and_status(s: Session) -> dict[tuple[str, str], int]:
    """Active devices: {(kind, stored status): count}."""
    rows = s.execute(select(Device.kind, Device.status, func.count()).where(Device.active.is_(True))
                     .group_by(Device.kind, Device.status)).all()
    return {(kind, status): n for kind, status, n in rows}


def incidents_by_type_and_state(s: Session, states: tuple[str, ...]) -> dict[tuple[str, str], int]:
    rows = s.execute(select(Incident.type, Incident.state, func.count())
                     .where(Incident.state.in_(states)).group_by(Incident.type, Incident.state)).all()
    return {(type_, state): n for type_, state, n in rows}


def emergencies_received_before(s: Session, states: tuple[str, ...], before: float) -> int:
    return s.scalar(select(func.count()).select_from(Incident).where(
        Incident.type == "emergency", Incident.state.in_(states), Incident.received_at < before)) or 0
