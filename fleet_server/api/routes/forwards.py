"""Forwarding to stations (fleet_server/domain/forwarding.py, docs/center.md): the center forwards
an incident to its station chain; a station's users accept it, hand it down, return it or close
it (the center may record a step for a station that answered by phone or radio); the
accountability report per station and per person, as JSON or CSV."""
from __future__ import annotations

import csv
import io
import time
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from fleet_server.api.deps import CurrentUser, ServiceDep, needs
from fleet_server.api.refusals import HttpRefused, responses
from fleet_server.api.security import role_at_least
from fleet_server.domain import forwarding as fw

router = APIRouter(tags=["center"])


class ForwardIn(BaseModel):
    station_id: str | None = Field(None, max_length=64, description="a station of the incident's agency; "
                                                                   "default: the first of its chain (Polri: the Polres)")


class HandDownIn(BaseModel):
    station_id: str | None = Field(None, max_length=64, description="a child station; default: the next of the chain")


class ReturnIn(BaseModel):
    reason: str = Field(min_length=1, max_length=500)


class CloseIn(BaseModel):
    action_taken: bool = Field(description="false: closed without action (counted in the accountability report)")
    note: str | None = Field(None, max_length=500)


def _forwarding(service):
    if service.forwarding is None:
        raise HttpRefused(501, "not_installed", "forwarding is not set up on this server")
    return service.forwarding


def _center(user) -> bool:
    return role_at_least(user.role, "operator")


@router.post("/incidents/{incident_id}/forward", status_code=201, responses=responses(404, 409), **needs("operator"))
def forward(incident_id: int, body: ForwardIn, service: ServiceDep, user: CurrentUser) -> dict:
    """Forward the incident to its station (audited; the station's roster is who holds it)."""
    return _forwarding(service).forward(incident_id, user.username, body.station_id)


@router.get("/incidents/{incident_id}/forwards", responses=responses(404), **needs("viewer"))
def incident_forwards(incident_id: int, service: ServiceDep) -> dict:
    """The incident's station chain and every forward of it, oldest first."""
    return _forwarding(service).of_incident(incident_id)


@router.get("/forwards", **needs("station"))
def station_forwards(service: ServiceDep, user: CurrentUser, station_id: str | None = None,
                     state: Annotated[list[str] | None, Query()] = None) -> list[dict]:
    """Forwards at a station (a station user: their own; the center: any, or all when none is
    named), open ones unless states are given."""
    states = tuple(state) if state else fw.OPEN
    bad = [s for s in states if s not in fw.STATES]
    if bad:
        raise HttpRefused(422, "bad_state", f"{', '.join(bad)}: not a forward state ({', '.join(fw.STATES)})")
    if not _center(user):
        if station_id not in (None, user.station_id):
            raise HttpRefused(403, "not_your_station", f"you are at {user.station_id}, not {station_id}")
        station_id = user.station_id
        if station_id is None:
            return []
    return _forwarding(service).at_station(station_id, states)


@router.get("/forwards/current", **needs("viewer"))
def current_forwards(service: ServiceDep) -> list[dict]:
    """The latest forward of every open incident (the queue shows where each one stands)."""
    return _forwarding(service).current()


@router.post("/forwards/{forward_id}/accept", responses=responses(404, 409), **needs("station"))
def accept(forward_id: int, service: ServiceDep, user: CurrentUser) -> dict:
    return _forwarding(service).accept(forward_id, user.username, user.station_id, _center(user))


@router.post("/forwards/{forward_id}/hand-down", status_code=201, responses=responses(404, 409), **needs("station"))
def hand_down(forward_id: int, body: HandDownIn, service: ServiceDep, user: CurrentUser) -> dict:
    """Give an accepted report to a child station (the Polres to its Polsek); returns the new forward."""
    return _forwarding(service).hand_down(forward_id, user.username, user.station_id, _center(user), body.station_id)


@router.post("/forwards/{forward_id}/return", responses=responses(404, 409), **needs("station"))
def return_forward(forward_id: int, body: ReturnIn, service: ServiceDep, user: CurrentUser) -> dict:
    return _forwarding(service).return_(forward_id, user.username, user.station_id, _center(user), body.reason)


@router.post("/forwards/{forward_id}/close", responses=responses(404, 409), **needs("station"))
def close(forward_id: int, body: CloseIn, service: ServiceDep, user: CurrentUser) -> dict:
    return _forwarding(service).close(forward_id, user.username, user.station_id, _center(user), body.action_taken,
                                      body.note)


@router.get("/center/accountability", response_model=None, **needs("dispatcher"))
def accountability(service: ServiceDep, since: float | None = None, until: float | None = None,
                   station_id: str | None = None,
                   format: Literal["json", "csv"] = "json") -> Response | dict:
    """Per station and per person over the forwards sent in [since, until) (default: the last 24 h):
    received, accepted, time to accept (p50, max), left unaccepted, closed without action, and who
    held each report for how long. `format=csv`: one row per hold."""
    now = time.time()
    until = until if until is not None else now + 1
    since = since if since is not None else until - 86400
    if since >= until:
        raise HttpRefused(422, "bad_window", "since must be before until")
    report = _forwarding(service).report(since, until, station_id, now)
    if format == "json":
        return report
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(fw.CSV_COLUMNS)
    for h in report["holds"]:
        w.writerow([" ".join(h[c]) if c == "holders" else ("" if h[c] is None else h[c]) for c in fw.CSV_COLUMNS])
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="siaga112-accountability.csv"'})
