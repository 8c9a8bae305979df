"""Console users."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from fleet_server.storage.models import User


def by_name(s: Session, username: str) -> User | None:
    return s.scalars(select(User).where(User.username == username)).first()


def create(s: Session, username: str, password_hash: str, role: str, at: float) -> User:
    u = User(username=username, password_hash=password_hash, role=role, active=True, created_at=at)
    s.add(u)
    s.flush()
    return u


def listing(s: Session) -> list[User]:
    return list(s.scalars(select(User).order_by(User.id)))
