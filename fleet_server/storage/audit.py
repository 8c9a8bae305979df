"""The audit trail: append and read. There is deliberately no update or delete here, and the
database refuses both (triggers in the initial migration)."""
from __future__ import annotations

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from fleet_server.storage.models import AuditEntry


def append(s: Session, at: float, actor: str, action: str, entity: str, entity_id, from_value=None,
           to_value=None, detail: str | None = None) -> None:
    s.add(AuditEntry(at=at, actor=actor[:64], action=action, entity=entity, entity_id=str(entity_id),
                     from_value=None if from_value is None else str(from_value)[:64],
                     to_value=None if to_value is None else str(to_value)[:64], detail=detail))


def append_many(s: Session, rows: list[dict]) -> None:
    """Many audit rows in one executemany (the ingest writes one per alarm). Each dict has the
    keys of append()."""
    if rows:
        s.execute(insert(AuditEntry), [
            {"at": r["at"], "actor": r["actor"][:64], "action": r["action"], "entity": r["entity"],
             "entity_id": str(r["entity_id"]),
             "from_value": None if r.get("from_value") is None else str(r["from_value"])[:64],
             "to_value": None if r.get("to_value") is None else str(r["to_value"])[:64],
             "detail": r.get("detail")} for r in rows])


def listing(s: Session, entity: str | None = None, entity_id: str | None = None, actor: str | None = None,
            since: float | None = None, limit: int = 200, offset: int = 0) -> list[AuditEntry]:
    q = select(AuditEntry).order_by(AuditEntry.id)
    if entity:
        q = q.where(AuditEntry.entity == entity)
    if entity_id is not None:
        q = q.where(AuditEntry.entity_id == str(entity_id))
    if actor:
        q = q.where(AuditEntry.actor == actor)
    if since is not None:
        q = q.where(AuditEntry.at >= since)
    return list(s.scalars(q.limit(limit).offset(offset)))
