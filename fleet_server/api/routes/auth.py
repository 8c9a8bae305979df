"""POST /api/v1/auth/token (OAuth2 password flow), /auth/me, and user administration."""
from __future__ import annotations

import logging
import time
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordRequestForm
from sqlalchemy.exc import IntegrityError

from fleet_server.api.deps import CurrentUser, DbDep, needs
from fleet_server.api.schemas import Token, UserCreate
from fleet_server.api.security import hash_password, issue_token, verify_password
from fleet_server.logs import event
from fleet_server.storage import audit as audit_repo
from fleet_server.storage import users as user_repo

log = logging.getLogger("siaga.api.auth")
router = APIRouter(tags=["auth"])


@router.post("/auth/token", response_model=Token, openapi_extra={"x-required-role": "public"})
def token(request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()], db: DbDep) -> Token:
    with db.read() as s:
        u = user_repo.by_name(s, form.username)
        ok = u is not None and u.active and verify_password(form.password, u.password_hash)
        role = u.role if ok else None
    if not ok:
        event(log, logging.WARNING, "login refused", username=form.username[:64])
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong username or password",
                            headers={"WWW-Authenticate": "Bearer"})
    s = request.app.state
    return Token(access_token=issue_token(s.jwt_secret, form.username, role, s.settings.token_ttl_s), role=role)


@router.get("/auth/me", **needs("viewer"))
def me(user: CurrentUser) -> dict:
    return {"username": user.username, "role": user.role}


@router.get("/users", **needs("admin"))
def list_users(db: DbDep) -> list[dict]:
    with db.read() as s:
        return [{"username": u.username, "role": u.role, "active": u.active} for u in user_repo.listing(s)]


@router.post("/users", status_code=201, **needs("admin"))
def create_user(body: UserCreate, db: DbDep, user: CurrentUser) -> dict:
    return create_user_record(db, body.username, body.password, body.role, user.username)


def create_user_record(db, username: str, password: str, role: str, actor: str) -> dict:
    """Used by the API and by `siaga admin create-user`."""
    at = time.time()
    try:
        with db.session() as s:
            if user_repo.by_name(s, username) is not None:
                raise HTTPException(status.HTTP_409_CONFLICT, f"user {username} exists")
            user_repo.create(s, username, hash_password(password), role, at)
            audit_repo.append(s, at, actor, "user_created", "user", username, None, role)
    except IntegrityError:
        raise HTTPException(status.HTTP_409_CONFLICT, f"user {username} exists") from None
    return {"username": username, "role": role, "active": True}
