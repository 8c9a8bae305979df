"""HTTP API for units and dispatch: an APIRouter the app includes under /api/v1; it reads the
Fleet (fleet_server.domain.fleet) from app.state.fleet.
Roles follow the core's rule (`needs(role)` from fleet_server.api.deps): everyone on shift may
look, dispatchers order, technicians register units."""
from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, status
from pydantic import BaseModel, Field

from protocols.messages import LAT, LON
from protocols.rejection import Rejection
from fleet_server.api.deps import CurrentUser, needs
from fleet_server.api.refusals import HttpRefused, responses
from fleet_server.domain.fleet import Fleet
from fleet_server.domain.recommend import IncidentSite
from fleet_server.domain.units import AGENCIES, UNIT_TYPES, Unit

router = APIRouter(tags=["units"], responses=responses(503))  # every route needs unit tracking running


def get_fleet(request: Request) -> Fleet:
    fleet = getattr(request.app.state, "fleet", None)
    if fleet is None:
        raise HttpRefused(status.HTTP_503_SERVICE_UNAVAILABLE, "units_not_running", "unit tracking is not running")
    return fleet


FleetDep = Annotated[Fleet, Depends(get_fleet)]


class UnitCreate(BaseModel):
    id: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")
    callsign: str = Field(min_length=1, max_length=32)
    agency: str = Field(json_schema_extra={"enum": list(AGENCIES)})
    type: str = Field(json_schema_extra={"enum": list(UNIT_TYPES)})
    home_station: str = Field("", max_length=120)
    home_lat: int | None = Field(None, ge=-LAT, le=LAT)
    home_lon: int | None = Field(None, ge=-LON, le=LON)
    capabilities: list[str] = Field(default_factory=list, max_length=20)
    device_id: str | None = Field(None, min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")


class IncidentOpen(BaseModel):
    id: int = Field(ge=1, le=2 ** 53)
    lat: int = Field(ge=-LAT, le=LAT)
    lon: int = Field(ge=-LON, le=LON)
    category: str = Field(min_length=1, max_length=16)
    buttons: list[str] = Field(default_factory=list, max_length=50)


class AssignmentCreate(BaseModel):
    incident: int = Field(ge=1, le=2 ** 53)
    unit: str = Field(min_length=1, max_length=32)
    note: str = Field("", max_length=120)


def _refused(r: Rejection, code: int = status.HTTP_409_CONFLICT):
    raise HttpRefused(code, r.code, r.reason)


def _unit(fleet: Fleet, unit_id: str) -> Unit:
    u = fleet.tracking.get(unit_id)
    if u is None:
        raise HttpRefused(status.HTTP_404_NOT_FOUND, "not_found", f"unit {unit_id} is not known")
    return u


@router.get("/units", **needs("viewer"))
def list_units(fleet: FleetDep, agency: str | None = None,
               status_: Annotated[str | None, Query(alias="status")] = None, stale: bool | None = None) -> list[dict]:
    now = time.time()
    limit = fleet.config.tracking.stale_after_s
    out = [u.public(now, limit) for u in fleet.tracking.units(agency=agency, status=status_)]
    return [u for u in out if stale is None or u["stale"] == stale]


@router.post("/units", status_code=status.HTTP_201_CREATED, **needs("technician"))
def register_unit(fleet: FleetDep, body: UnitCreate) -> dict:
    try:
        u = Unit(id=body.id, callsign=body.callsign, agency=body.agency, type=body.type,
                 home_station=body.home_station, home_lat=body.home_lat, home_lon=body.home_lon,
                 capabilities=tuple(body.capabilities), device_id=body.device_id)
        old = fleet.tracking.get(body.id)
        if old is not None:  # re-registration keeps what the unit is doing and where it is
            u.status, u.status_at, u.position = old.status, old.status_at, old.position
        fleet.register(u)
    except ValueError as e:
        raise HttpRefused(status.HTTP_422_UNPROCESSABLE_CONTENT, "invalid_unit", str(e)) from None
    return u.public(time.time(), fleet.config.tracking.stale_after_s)


@router.get("/units/{unit_id}", **needs("viewer"))
def get_unit(fleet: FleetDep, unit_id: str) -> dict:
    return _unit(fleet, unit_id).public(time.time(), fleet.config.tracking.stale_after_s)


@router.get("/units/{unit_id}/history", **needs("viewer"))
def unit_history(fleet: FleetDep, unit_id: str, since: float | None = None, until: float | None = None,
                 limit: Annotated[int, Query(ge=2, le=50_000)] = 5000) -> dict:
    """A GeoJSON Feature: the track as a LineString ([lon, lat] in degrees, RFC 7946), fix times
    alongside in properties.times."""
    u = _unit(fleet, unit_id)
    track = fleet.history(unit_id, since, until, limit)
    if track is None:
        raise HttpRefused(status.HTTP_503_SERVICE_UNAVAILABLE, "no_position_store", "no position store configured")
    coords = [[p.lon / 1e6, p.lat / 1e6] for p in track]
    # A LineString needs two positions; one fix is still a track of one point, repeated.
    if len(coords) == 1:
        coords = coords * 2
    return {"type": "Feature",
            "geometry": {"type": "LineString", "coordinates": coords} if coords else None,
            "properties": {"unit": u.id, "callsign": u.callsign, "times": [p.ts for p in track],
                           "count": len(track)}}


@router.post("/dispatch/incidents", status_code=status.HTTP_201_CREATED, **needs("operator"))
def open_incident(fleet: FleetDep, body: IncidentOpen) -> dict:
    """Make an incident known to dispatch (the core does this itself when wired in)."""
    rec = fleet.dispatch.open_incident(IncidentSite(body.id, body.lat, body.lon, body.category), tuple(body.buttons))
    return rec.public()


@router.get("/dispatch/incidents/{incident}/recommendations", **needs("viewer"))
def recommendations(fleet: FleetDep, incident: int) -> dict:
    rec = fleet.dispatch.recommend(incident)
    if isinstance(rec, Rejection):
        _refused(rec, status.HTTP_404_NOT_FOUND)
    return rec.public()


@router.get("/dispatch/assignments", **needs("viewer"))
def list_assignments(fleet: FleetDep, incident: int | None = None, open_only: bool = False) -> list[dict]:
    return [a.public() for a in fleet.dispatch.assignments(incident, open_only)]


@router.post("/dispatch/assignments", status_code=status.HTTP_201_CREATED, responses=responses(409),
             **needs("dispatcher"))
def create_assignment(fleet: FleetDep, body: AssignmentCreate, user: CurrentUser) -> dict:
    a = fleet.dispatch.assign(body.incident, body.unit, by=user.username, note=body.note)
    if isinstance(a, Rejection):
        _refused(a)
    return a.public()


@router.post("/dispatch/assignments/{order_id}/cancel", responses=responses(409), **needs("dispatcher"))
def cancel_assignment(fleet: FleetDep, order_id: str, user: CurrentUser) -> dict:
    a = fleet.dispatch.cancel(order_id, by=user.username)
    if isinstance(a, Rejection):
        _refused(a)
    return a.public()


@router.get("/units-stats", **needs("viewer"))
def fleet_stats(fleet: FleetDep) -> dict:
    """Filter rejections by reason, history and telemetry counters (drops included)."""
    return fleet.stats()

