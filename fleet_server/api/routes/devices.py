"""Device registry (technicians manage; everyone on shift may look)."""
from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Query, Request, status

from fleet_server.api.deps import CurrentUser, DbDep, ServiceDep, needs
from fleet_server.api.refusals import HttpRefused, responses
from fleet_server.api.routes.incidents import audit_row
from fleet_server.api.schemas import DeviceCreate, DeviceUpdate
from fleet_server.domain import supervision
from fleet_server.domain.service import NotFound, device_view
from fleet_server.storage import audit as audit_repo
from fleet_server.storage import devices as device_repo
from fleet_server.storage import incidents as incident_repo

router = APIRouter(tags=["devices"])


def _shown(request: Request, d) -> dict:
    """The stored status, corrected for what the server can know right now: silent past N
    heartbeats is offline, and nothing is known while our own broker link is down."""
    st = request.app.state
    r = st.service.rules
    view = device_view(d)
    hb = supervision.heartbeat_s(d.kind, r.button_heartbeat_s, r.tracker_heartbeat_s)
    view["status"] = supervision.effective_status(d.status, d.last_seen, time.time(), hb,
                                                  r.heartbeat_misses_offline, st.link_up())
    return view


@router.get("/devices", **needs("viewer"))
def list_devices(request: Request, db: DbDep, kind: str | None = None, status_: Annotated[str | None, Query(alias="status")] = None,
                 site: str | None = None, flagged: bool | None = None,
                 limit: Annotated[int, Query(ge=1, le=5000)] = 500, offset: Annotated[int, Query(ge=0)] = 0) -> list[dict]:
    with db.read() as s:
        rows = [_shown(request, d) for d in device_repo.listing(s, kind=kind, site=site, flagged=flagged,
                                                                limit=limit, offset=offset)]
    return [r for r in rows if status_ is None or r["status"] == status_]


@router.get("/devices/{device_id}", **needs("viewer"))
def get_device(device_id: str, request: Request, db: DbDep) -> dict:
    with db.read() as s:
        d = device_repo.get(s, device_id)
        if d is None:
            raise NotFound(f"device {device_id}")
        out = _shown(request, d)
        out["audit"] = [audit_row(a) for a in audit_repo.listing(s, entity="device", entity_id=device_id)]
    return out


# Broker accounts that are not devices (the generated ACL's `user` blocks: the server, observers)
# and names a city's broker commonly keeps for itself. A device's broker username is its id, so a
# device by one of these names would log in as that service.
SERVICE_NAMES = frozenset({"observer", "fleet-server", "server", "admin", "root", "mosquitto", "siaga"})


def service_accounts(settings) -> set[str]:
    """Names no device may take: the server's session accounts and client ids (each of
    fleet_server.broker.SERVER_SESSIONS) and SERVICE_NAMES, compared without case."""
    from fleet_server.broker.mosquitto import SERVER_SESSIONS, session_user
    b = settings.broker
    sessions = {session_user(base, s) for base in (b.username, b.client_id) for s in SERVER_SESSIONS}
    return {n.lower() for n in SERVICE_NAMES | sessions}


@router.post("/devices", status_code=201, responses=responses(409), **needs("technician"))
def register_device(body: DeviceCreate, service: ServiceDep, user: CurrentUser, request: Request) -> dict:
    if body.id.lower() in service_accounts(request.app.state.settings):
        raise HttpRefused(status.HTTP_409_CONFLICT, "reserved_id",
                          f"device id {body.id} is a broker service account's name: choose another")
    fields = body.model_dump(exclude={"id", "kind"})
    return service.register_device(body.id, body.kind, user.username, **fields)


@router.patch("/devices/{device_id}", responses=responses(409), **needs("technician"))
def update_device(device_id: str, body: DeviceUpdate, service: ServiceDep, user: CurrentUser) -> dict:
    return service.update_device(device_id, body.model_dump(exclude_unset=True), user.username)


@router.get("/pranks", **needs("technician"))
def prank_ledger(db: DbDep) -> dict:
    with db.read() as s:
        counts = incident_repo.prank_counts(s)
        flagged = [d.id for d in device_repo.listing(s, flagged=True, limit=5000)]
    return {**counts, "flagged": flagged}
