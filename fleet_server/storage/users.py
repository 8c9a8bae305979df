"""Console users. Disabling a user or setting a password moves the user's token generation on:
every token issued before stops working (fleet_server.api.deps)."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from fleet_server.storage.models import User


def by_name(s: Session, username: str) -> User | None:
    return s.scalars(select(User).where(User.username == username)).first()


def create(s: Session, username: str, password_hash: str, role: str, at: float, station_id: str | None = None,
           language: str | None = None) -> User:
    u = User(username=username, password_hash=password_hash, role=role, active=True, created_at=at,
             station_id=station_id, language=language)
    s.add(u)
    s.flush()
    return u


def listing(s: Session) -> list[User]:
    return list(s.scalars(select(User).order_by(User.id)))


def set_password(u: User, password_hash: str) -> None:
    u.password_hash = password_hash
    u.token_generation = (u.token_generation or 0) + 1


def set_active(u: User, active: bool) -> None:
    u.active = active
    if not active:
        u.token_generation = (u.token_generation or 0) + 1


def delete(s: Session, u: User) -> None:
    s.delete(u)
    s.flush()
