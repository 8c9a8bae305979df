"""Dependencies shared by the routers, as Annotated aliases (FastAPI template habit), and the one
way a route declares its role: `**needs("operator")` in the route decorator. The declared role is
also written into the OpenAPI operation (x-required-role) so the role-matrix test reads it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, status
from fastapi.security import OAuth2PasswordBearer

from fleet_server.api.refusals import HttpRefused
from fleet_server.api.security import ROLES, read_token, role_at_least
from fleet_server.domain.service import IncidentService
from fleet_server.storage import users as user_repo
from fleet_server.storage.db import Database

oauth2 = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


@dataclass(frozen=True)
class Principal:
    username: str
    role: str
    station_id: str | None = None   # the station a user of role "station" works at


def get_service(request: Request) -> IncidentService:
    return request.app.state.service


def get_db(request: Request) -> Database:
    return request.app.state.db


ServiceDep = Annotated[IncidentService, Depends(get_service)]
DbDep = Annotated[Database, Depends(get_db)]


def principal_from_token(request_app, token: str | None) -> Principal | None:
    if not token:
        return None
    claims = read_token(request_app.state.jwt_secret, token)
    if claims is None:
        return None
    with request_app.state.db.read() as s:
        u = user_repo.by_name(s, claims["sub"])
        # A disabled user, a changed password (generation moved on) or a user deleted and made
        # again under the same name (another row): the token is no longer theirs.
        if u is None or not u.active or claims.get("uid") != u.id or claims.get("gen") != u.token_generation:
            return None
        return Principal(u.username, u.role, u.station_id)  # the role now, not the one at login


def current_user(request: Request, token: Annotated[str | None, Depends(oauth2)]) -> Principal:
    p = principal_from_token(request.app, token)
    if p is None:
        raise HttpRefused(status.HTTP_401_UNAUTHORIZED, "not_authenticated", "not authenticated: send a bearer token",
                          headers={"WWW-Authenticate": "Bearer"})
    return p


CurrentUser = Annotated[Principal, Depends(current_user)]


def _require(role: str):
    def check(user: CurrentUser) -> Principal:
        if not role_at_least(user.role, role):
            raise HttpRefused(status.HTTP_403_FORBIDDEN, "insufficient_role", f"needs role {role} or above; you are {user.role}")
        return user
    return check


def needs(role: str) -> dict:
    assert role in ROLES, role
    return {"dependencies": [Depends(_require(role))], "openapi_extra": {"x-required-role": role}}
