"""POST /api/v1/trackers: a technician registers a tracker or phone app the city already has by
what is written on it (protocol and identifier), and binds it to its unit, in one call; the same
thing `siaga device register-tracker` does. The device id is derived as binding.device_id says.

    {"protocol": "gt06", "identifier": "864717003283581", "unit": "AMB-01", "kind": "tracker"}

201 when the device is new, 200 when it was registered already (the unit is bound either way);
422 with the reason when the identifier does not make a device id or the kind is not `tracker`;
404 when the unit does not exist."""
from __future__ import annotations

import dataclasses
import time

from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel, Field

from protocols.rejection import Rejection
from fleet_server.api.deps import CurrentUser, DbDep, ServiceDep, needs
from fleet_server.api.refusals import HttpRefused, responses
from fleet_server.adapters.binding import PROTOCOLS, device_id
from fleet_server.domain.service import device_view
from fleet_server.storage import devices as device_repo

router = APIRouter(tags=["devices"])


class TrackerRegistration(BaseModel):
    protocol: str = Field(json_schema_extra={"enum": list(PROTOCOLS)})
    identifier: str = Field(min_length=1, max_length=64,
                            description="GT06 IMEI, OsmAnd id, OwnTracks user/device, Traccar uniqueId")
    unit: str | None = Field(None, min_length=1, max_length=32, description="the unit this device tracks")
    kind: str = Field("tracker", description="always tracker: these devices report positions")


@router.post("/trackers", status_code=status.HTTP_201_CREATED, responses=responses(404, 422),
             **needs("technician"))
def register_tracker(body: TrackerRegistration, request: Request, response: Response, service: ServiceDep,
                     db: DbDep, user: CurrentUser) -> dict:
    if body.kind != "tracker":
        raise HttpRefused(422, "bad_value", f"a {body.protocol} device is a tracker, not a {body.kind}")
    dev = device_id(body.protocol, body.identifier)
    if isinstance(dev, Rejection):
        raise HttpRefused(422, dev.code, dev.reason)
    fleet = getattr(request.app.state, "fleet", None)
    unit = None
    if body.unit is not None:
        if fleet is None:
            raise HttpRefused(503, "units_not_running", "unit tracking is not running")
        unit = fleet.tracking.get(body.unit)
        if unit is None:
            raise HttpRefused(404, "not_found", f"unit {body.unit} is not registered")
    with db.read() as s:
        existing = device_repo.get(s, dev)
    if existing is None:
        device = service.register_device(dev, "tracker", user.username)
    else:
        if existing.kind != "tracker":
            raise HttpRefused(409, "exists", f"{dev} is registered as a {existing.kind}, not a tracker")
        response.status_code = status.HTTP_200_OK
        device = device_view(existing)
    bound = None
    if unit is not None:
        u = dataclasses.replace(unit, device_id=dev)
        fleet.register(u)
        bound = u.public(time.time(), fleet.config.tracking.stale_after_s)
    return {"device": device, "protocol": body.protocol, "identifier": body.identifier, "unit": bound,
            "created": existing is None}
