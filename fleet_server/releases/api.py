"""HTTP API for firmware releases, under /api/v1/releases: technicians (and admins) list, inspect
and withdraw. Building a release needs the private key and stays on the command line
(`siaga firmware release`, docs/ota.md)."""
from __future__ import annotations

import logging
import time
from typing import Annotated

from fastapi import APIRouter, Depends, Request, status
from pydantic import BaseModel, Field

from fleet_server.api.deps import CurrentUser, DbDep, needs
from fleet_server.api.refusals import HttpRefused
from fleet_server.logs import event
from fleet_server.releases import keys
from fleet_server.releases.manifest import ReleaseError
from fleet_server.releases.store import DiskReleaseStore, NotFound, ReleaseStore, releases_dir
from fleet_server.storage import audit as audit_repo

router = APIRouter(tags=["releases"])
log = logging.getLogger("siaga.releases")


def get_store(request: Request) -> ReleaseStore:
    return DiskReleaseStore(releases_dir(request.app.state.settings.data_dir))


StoreDep = Annotated[ReleaseStore, Depends(get_store)]


class WithdrawIn(BaseModel):
    reason: str = Field(min_length=3, max_length=500)


def _public_key(request: Request) -> bytes | None:
    try:
        return keys.load_public(keys.default_dir(request.app.state.settings.data_dir))
    except ReleaseError:
        return None


def _not_found(e: NotFound) -> HttpRefused:
    return HttpRefused(status.HTTP_404_NOT_FOUND, "not_found", str(e))


@router.get("/releases", **needs("technician"))
def list_releases(store: StoreDep) -> list[dict]:
    return store.listing()


@router.get("/releases/{version}", **needs("technician"))
def get_release(version: str, store: StoreDep, request: Request) -> dict:
    try:
        return store.detail(version, _public_key(request))
    except NotFound as e:
        raise _not_found(e) from None


@router.post("/releases/{version}/withdraw", **needs("technician"))
def withdraw_release(version: str, body: WithdrawIn, store: StoreDep, db: DbDep, user: CurrentUser) -> dict:
    try:
        record, new = store.withdraw(version, user.username, body.reason, time.time())
    except NotFound as e:
        raise _not_found(e) from None
    if new:
        with db.session() as s:
            audit_repo.append(s, record["at"], user.username, "withdraw", "release", version, detail=body.reason)
        event(log, logging.WARNING, "firmware release withdrawn", version=version, by=user.username,
              reason=body.reason)
    return {"version": version, "withdrawn": record}


# ---- campaigns: rollouts in waves behind a health gate (campaigns.py) ----------------------------
class CampaignIn(BaseModel):
    version: str = Field(min_length=5, max_length=20)
    site: str | None = Field(None, max_length=120)
    agency: str | None = Field(None, max_length=16)
    board: str | None = Field(None, pattern=r"^[a-z0-9_]{1,24}$")
    devices: list[str] | None = Field(None, max_length=10000)
    steps: list[int] = Field(default_factory=lambda: [5, 25, 100], min_length=1, max_length=10)
    trial_s: int = Field(300, ge=10, le=86400)
    gate_s: int = Field(900, ge=10, le=7 * 86400)


class HaltIn(BaseModel):
    reason: str = Field(min_length=3, max_length=200)


def _engine(request: Request):
    engine = getattr(request.app.state, "campaigns", None)
    if engine is None:
        raise HttpRefused(status.HTTP_503_SERVICE_UNAVAILABLE, "no_broker_link",
                          "this server process has no broker link: campaigns run where the ingest runs")
    return engine


@router.post("/campaigns", status_code=status.HTTP_201_CREATED, **needs("technician"))
def create_campaign(body: CampaignIn, request: Request, user: CurrentUser) -> dict:
    from fleet_server.releases.campaigns import CampaignError
    try:
        return _engine(request).create(user.username, body.version, body.site, body.agency, body.devices,
                                       body.steps, body.trial_s, body.gate_s, body.board)
    except NotFound as e:
        raise _not_found(e) from None
    except CampaignError as e:
        raise HttpRefused(status.HTTP_422_UNPROCESSABLE_ENTITY, "campaign_refused", str(e)) from None


@router.get("/campaigns", **needs("technician"))
def list_campaigns(request: Request) -> list[dict]:
    return _engine(request).store.listing()


@router.get("/campaigns/{cid}", **needs("technician"))
def get_campaign(cid: int, request: Request) -> dict:
    c = _engine(request).store.get(cid)
    if c is None:
        raise HttpRefused(status.HTTP_404_NOT_FOUND, "not_found", f"campaign {cid} not found")
    return c


@router.post("/campaigns/{cid}/halt", **needs("technician"))
def halt_campaign(cid: int, body: HaltIn, request: Request, user: CurrentUser) -> dict:
    from fleet_server.releases.campaigns import CampaignError
    try:
        return _engine(request).halt(cid, user.username, body.reason)
    except CampaignError as e:
        raise HttpRefused(status.HTTP_404_NOT_FOUND, "not_found", str(e)) from None
