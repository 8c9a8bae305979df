"""Device registry queries."""
from __future__ import annotations

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.orm import Session

from fleet_server.domain.devices import initial_fields
from fleet_server.storage.models import Device


def get(s: Session, device_id: str) -> Device | None:
    return s.get(Device, device_id)


def many(s: Session, ids: list[str]) -> dict[str, Device]:
    return {d.id: d for d in s.scalars(select(Device).where(Device.id.in_(set(ids))))} if ids else {}


def create(s: Session, device_id: str, kind: str, at: float, **fields) -> Device:
    d = Device(id=device_id, kind=kind, created_at=at, **initial_fields(fields))
    s.add(d)
    s.flush()
    return d


def listing(s: Session, kind: str | None = None, status: str | None = None, site: str | None = None,
            flagged: bool | None = None, limit: int = 100, offset: int = 0) -> list[Device]:
    q = select(Device).order_by(Device.id)
    if kind:
        q = q.where(Device.kind == kind)
    if status:
        q = q.where(Device.status == status)
    if site:
        q = q.where(Device.site == site)
    if flagged is not None:
        q = q.where(Device.prank_flagged == flagged)
    return list(s.scalars(q.limit(limit).offset(offset)))


def touch(s: Session, seen: dict[str, float]) -> None:
    """Bulk last_seen update for chatty traffic (positions), flushed periodically by the ingest.
    One executemany, not one ORM statement per device: with 500 trackers the per-row form held
    SQLite's write lock long enough to delay the alarms committed behind it by hundreds of ms."""
    if not seen:
        return
    t = Device.__table__
    stmt = (update(t).where(t.c.id == bindparam("b_id"))
            .where(or_(t.c.last_seen.is_(None), t.c.last_seen < bindparam("b_at")))
            .values(last_seen=bindparam("b_at")))
    s.execute(stmt, [{"b_id": device_id, "b_at": at} for device_id, at in seen.items()])


def online_devices(s: Session) -> list[Device]:
    return list(s.scalars(select(Device).where(Device.status == "online")))


def active_ids(s: Session) -> set[str]:
    return set(s.scalars(select(Device.id).where(Device.active.is_(True))))
