"""The audit trail: append and read. There is deliberately no update or delete here, and the
database refuses both (triggers in the initial migration)."""
from __future__ import annotations

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from fleet_server.domain.audit import entry
from fleet_server.storage import bulk
from fleet_server.storage.models import AuditEntry


def append(s: Session, at: float, actor: str, action: str, entity: str, entity_id, from_value=None,
           to_value=None, detail: str | None = None) -> None:
    s.add(AuditEntry(**entry(at, actor, action, entity, entity_id, from_value, to_value, detail)))


def append_many(s: Session, rows: list[dict]) -> None:
    """Many audit rows in one statement (the ingest writes one per alarm): on PostgreSQL one
    unnest insert (bulk.py), elsewhere one executemany. Each dict has the keys of append()."""
    if rows:
        entries = [entry(**r) for r in rows]
        if bulk.insert_rows(s.connection(), AuditEntry.__table__, entries) is None:
            s.execute(insert(AuditEntry), entries)


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


def actions(s: Session, entity: str, entity_id, action: str) -> list[dict]:
    """One action's entries on one entity, oldest first, as dicts."""
    q = select(AuditEntry).where(AuditEntry.entity == entity, AuditEntry.entity_id == str(entity_id),
                                 AuditEntry.action == action).order_by(AuditEntry.id)
    return [{"at": a.at, "actor": a.actor, "action": a.action, "entity": a.entity, "entity_id": a.entity_id,
             "from_value": a.from_value, "to_value": a.to_value, "detail": a.detail} for a in s.scalars(q)]
