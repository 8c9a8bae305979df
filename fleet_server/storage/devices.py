"""Device registry queries."""
from __future__ import annotations

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.orm import Session

from fleet_server.storage.models import Device

EDITABLE = ("site", "lat_udeg", "lon_udeg", "category", "agency", "active", "broker_password_hash", "sms_key")
HEALTH = ("battery_mv", "battery_pct", "rssi_dbm", "temp_dc", "tamper", "stuck", "firmware", "uptime_s", "outbox")


def get(s: Session, device_id: str) -> Device | None:
    return s.get(Device, device_id)


def many(s: Session, ids: list[str]) -> dict[str, Device]:
    return {d.id: d for d in s.scalars(select(Device).where(Device.id.in_(set(ids))))} if ids else {}


def create(s: Session, device_id: str, kind: str, at: float, **fields) -> Device:
    d = Device(id=device_id, kind=kind, created_at=at, status="unknown", prank_count=0, prank_flagged=False,
               tamper=False, stuck=False, active=fields.pop("active", True), site=fields.pop("site", "") or "",
               category=fields.pop("category", "unknown"), agency=fields.pop("agency", "triage"))
    for k, v in fields.items():
        if k in EDITABLE:
            setattr(d, k, v)
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


def set_status(s: Session, device_id: str, status: str, at: float) -> str | None:
    """Returns the previous status when it changed, else None."""
    d = s.get(Device, device_id)
    if d is None:
        return None
    before = d.status
    d.last_seen = max(d.last_seen or 0.0, at) if status == "online" else d.last_seen
    if before != status:
        d.status = status
        d.status_changed_at = at
        return before
    return None


def record_health(s: Session, device_id: str, values: dict, at: float) -> Device | None:
    d = s.get(Device, device_id)
    if d is None:
        return None
    for k, v in values.items():
        if k in HEALTH:
            setattr(d, k, v)
    d.last_seen = max(d.last_seen or 0.0, at)
    return d


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
