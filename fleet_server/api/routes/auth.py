"""POST /api/v1/auth/token (OAuth2 password flow), /auth/me, and user administration."""
from __future__ import annotations

import logging
import math
import time
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.security import OAuth2PasswordRequestForm
from sqlalchemy.exc import IntegrityError

from fleet_server.api.deps import CurrentUser, DbDep, ServiceDep, needs
from fleet_server.api.refusals import HttpRefused, responses
from fleet_server.api.schemas import OwnSettings, PasswordChange, Token, UserCreate, UserUpdate
from fleet_server.api.security import check_login, hash_password, issue_token
from fleet_server.logs import event
from fleet_server.storage import audit as audit_repo
from fleet_server.storage import users as user_repo

log = logging.getLogger("siaga.api.auth")
router = APIRouter(tags=["auth"])


@router.post("/auth/token", response_model=Token, responses=responses(401, 429),
             openapi_extra={"x-required-role": "public"})
def token(request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()], db: DbDep) -> Token:
    st = request.app.state
    address = request.client.host if request.client else "?"
    refused = st.login_guard.refused_for(form.username, address)
    if refused:
        reason, retry_s = refused
        st.metrics.inc("siaga_login_refused_total", reason=reason)
        event(log, logging.WARNING, "login refused", reason=reason, username=form.username[:64], client=address)
        raise HttpRefused(status.HTTP_429_TOO_MANY_REQUESTS, "too_many_attempts",
                          "too many failed logins: wait and try again",
                          headers={"Retry-After": str(max(1, math.ceil(retry_s)))})
    with db.read() as s:
        u = user_repo.by_name(s, form.username)
        # Unknown, disabled or real: the same scrypt work and the same answer (security.check_login).
        ok = check_login(form.password, u.password_hash if u is not None else None) and u.active
        who = (u.username, u.role, u.id, u.token_generation) if ok else None
    if who is None:
        st.login_guard.failed(form.username, address)
        st.metrics.inc("siaga_login_refused_total", reason="wrong_credentials")
        event(log, logging.WARNING, "login refused", reason="wrong_credentials", username=form.username[:64],
              client=address)
        raise HttpRefused(status.HTTP_401_UNAUTHORIZED, "wrong_credentials", "wrong username or password",
                          headers={"WWW-Authenticate": "Bearer"})
    st.login_guard.succeeded(form.username)
    username, role, user_id, generation = who
    return Token(access_token=issue_token(st.jwt_secret, username, role, st.settings.auth.token_ttl_s,
                                          user_id=user_id, generation=generation), role=role)


@router.get("/auth/me", **needs("viewer"))
def me(request: Request, db: DbDep, user: CurrentUser) -> dict:
    """Who is signed in, and the console's language for them: their own choice (`language_chosen`)
    or else the center's (settings.console.language)."""
    with db.read() as s:
        u = user_repo.by_name(s, user.username)
        chosen = u.language if u is not None else None
    return {"username": user.username, "role": user.role, "station_id": user.station_id,
            "language": chosen or _center_language(request), "language_chosen": chosen}


@router.patch("/auth/me", responses=responses(422), **needs("viewer"))
def update_me(body: OwnSettings, request: Request, db: DbDep, user: CurrentUser) -> dict:
    """The signed-in user's own console language ("" goes back to the center's)."""
    with db.session() as s:
        u = _user(s, user.username)
        _set_language(s, u, body.language or None, user.username)
    return me(request, db, user)


def _center_language(request: Request) -> str:
    settings = getattr(request.app.state, "settings", None)
    return getattr(getattr(settings, "console", None), "language", None) or "en"


def _set_language(s, u, language: str | None, actor: str) -> None:
    if language != u.language:
        audit_repo.append(s, time.time(), actor, "user_language", "user", u.username, u.language, language)
        u.language = language


@router.post("/auth/password", status_code=204, responses=responses(403), **needs("viewer"))
def change_password(body: PasswordChange, db: DbDep, user: CurrentUser) -> Response:
    """The signed-in user's own password; every token they hold (this one too) stops working."""
    at = time.time()
    with db.session() as s:
        u = user_repo.by_name(s, user.username)
        if not check_login(body.current_password, u.password_hash if u else None):
            raise HttpRefused(status.HTTP_403_FORBIDDEN, "wrong_password", "the current password is wrong")
        user_repo.set_password(u, hash_password(body.new_password))
        audit_repo.append(s, at, user.username, "password_changed", "user", u.username)
    event(log, logging.INFO, "password changed", username=user.username)
    return Response(status_code=204)


@router.get("/users", **needs("admin"))
def list_users(db: DbDep) -> list[dict]:
    with db.read() as s:
        return [{"username": u.username, "role": u.role, "active": u.active, "station_id": u.station_id,
                 "language": u.language}
                for u in user_repo.listing(s)]


@router.post("/users", status_code=201, responses=responses(409), **needs("admin"))
def create_user(body: UserCreate, db: DbDep, user: CurrentUser, service: ServiceDep) -> dict:
    _check_station(service, body.station_id)
    return create_user_record(db, body.username, body.password, body.role, user.username, body.station_id,
                              body.language)


def _check_station(service, station_id: str | None) -> None:
    """A station the station areas know (when the server has them)."""
    j = service.jurisdiction
    if station_id and j is not None and j.area(station_id) is None:
        raise HttpRefused(status.HTTP_422_UNPROCESSABLE_ENTITY, "unknown_station",
                          f"no station area {station_id!r} in the station areas this server routes by")


def create_user_record(db, username: str, password: str, role: str, actor: str, station_id: str | None = None,
                       language: str | None = None) -> dict:
    """Used by the API and by `siaga admin create-user`. A user of role station works at a station."""
    at = time.time()
    if role == "station" and not station_id:
        raise HttpRefused(status.HTTP_422_UNPROCESSABLE_ENTITY, "station_needed",
                          "a user of role station needs station_id (the station area they work at)")
    try:
        with db.session() as s:
            if user_repo.by_name(s, username) is not None:
                raise HttpRefused(status.HTTP_409_CONFLICT, "exists", f"user {username} exists")
            u = user_repo.create(s, username, hash_password(password), role, at, station_id, language=language)
            audit_repo.append(s, at, actor, "user_created", "user", username, None, role,
                              f"station {station_id}" if station_id else None)
            user_id = u.id
    except IntegrityError:
        raise HttpRefused(status.HTTP_409_CONFLICT, "exists", f"user {username} exists") from None
    return {"id": user_id, "username": username, "role": role, "active": True, "station_id": station_id,
            "language": language}


@router.patch("/users/{username}", responses=responses(404, 409), **needs("admin"))
def update_user(username: str, body: UserUpdate, db: DbDep, user: CurrentUser, service: ServiceDep) -> dict:
    at = time.time()
    change = body.model_dump(exclude_unset=True, exclude_none=True)
    _check_station(service, change.get("station_id"))
    if username == user.username and (change.get("active") is False or change.get("role", "admin") != "admin"):
        raise HttpRefused(status.HTTP_409_CONFLICT, "own_account",
                          "an admin cannot disable or demote their own account: ask another admin")
    with db.session() as s:
        u = _user(s, username)
        if "active" in change and change["active"] != u.active:
            audit_repo.append(s, at, user.username, "user_enabled" if change["active"] else "user_disabled",
                              "user", username, u.active, change["active"])
            user_repo.set_active(u, change["active"])
        if "role" in change and change["role"] != u.role:
            audit_repo.append(s, at, user.username, "user_role", "user", username, u.role, change["role"])
            u.role = change["role"]
        if "password" in change:
            audit_repo.append(s, at, user.username, "password_reset", "user", username)
            user_repo.set_password(u, hash_password(change["password"]))
        if "station_id" in change and change["station_id"] != u.station_id:
            audit_repo.append(s, at, user.username, "user_station", "user", username, u.station_id, change["station_id"])
            u.station_id = change["station_id"]
        if "language" in change:
            _set_language(s, u, change["language"] or None, user.username)
        out = {"username": u.username, "role": u.role, "active": u.active, "station_id": u.station_id,
               "language": u.language}
    event(log, logging.INFO, "user changed", username=username, by=user.username, fields=sorted(change))
    return out


@router.delete("/users/{username}", status_code=204, responses=responses(404, 409), **needs("admin"))
def delete_user(username: str, db: DbDep, user: CurrentUser) -> Response:
    """The account goes (its audit trail stays); its tokens stop working, even if the name is
    given to someone else later."""
    if username == user.username:
        raise HttpRefused(status.HTTP_409_CONFLICT, "own_account", "an admin cannot delete their own account")
    with db.session() as s:
        u = _user(s, username)
        audit_repo.append(s, time.time(), user.username, "user_deleted", "user", username, u.role, None)
        user_repo.delete(s, u)
    event(log, logging.INFO, "user deleted", username=username, by=user.username)
    return Response(status_code=204)


def _user(s, username: str):
    u = user_repo.by_name(s, username)
    if u is None:
        raise HttpRefused(status.HTTP_404_NOT_FOUND, "not_found", f"no user {username}")
    return u
