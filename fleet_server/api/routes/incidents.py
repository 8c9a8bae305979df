"""Incidents: list with filters, detail (alarms, notes, audit, clocks), transition, notes,
non-emergency reports, CAP 1.2 export."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from fleet_server.api import privacy
from fleet_server.api.deps import CurrentUser, DbDep, ServiceDep, needs
from fleet_server.api.refusals import HttpRefused, responses
from fleet_server.api.schemas import NoteIn, ReportIn, TransitionIn
from fleet_server.api.security import role_at_least
from fleet_server.domain import lifecycle
from fleet_server.domain.cap import CapError, incident_to_cap
from fleet_server.domain.service import NotFound, incident_view
from fleet_server.storage import audit as audit_repo
from fleet_server.storage import incidents as incident_repo

router = APIRouter(prefix="/incidents", tags=["incidents"])

# The operator takes the call (acknowledge) and may close it; moving units is the dispatcher's.
DISPATCHER_STATES = ("dispatched", "enroute", "onscene", "resolved")


@router.get("", **needs("viewer"))
def list_incidents(db: DbDep, request: Request,
                   type: Annotated[str | None, Query(pattern="^(emergency|report)$")] = None,
                   state: Annotated[list[str] | None, Query()] = None,
                   open: bool | None = None,
                   agency: str | None = None, station_id: str | None = None, category: str | None = None,
                   device_id: str | None = None, since: float | None = None, until: float | None = None,
                   limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                   offset: Annotated[int, Query(ge=0)] = 0) -> list[dict]:
    states = state or (list(lifecycle.OPEN) if open else list(lifecycle.CLOSED) if open is False else None)
    promise = request.app.state.settings.incidents.response_promise_s
    with db.read() as s:
        rows = incident_repo.listing(s, type=type, state=states, agency=agency, station_id=station_id,
                                     category=category, since=since, until=until, device_id=device_id,
                                     limit=limit, offset=offset)
        return [privacy.masked(_with_promise(incident_view(i), promise)) for i in rows]


def _with_promise(view: dict, promise_s: float) -> dict:
    view["durations"] = lifecycle.durations(view["clocks"], promise_s)
    return view


def incident_detail(db, incident_id: int, promise_s: float) -> dict:
    with db.read() as s:
        inc = incident_repo.get(s, incident_id)
        if inc is None:
            raise NotFound(f"incident {incident_id}")
        out = _with_promise(incident_view(inc), promise_s)
        out["alarms"] = [{"device_id": a.device_id, "boot": a.boot, "seq": a.seq, "via": a.via,
                          "pressed_at": a.pressed_at, "received_at": a.received_at, "category": a.category,
                          "trigger": a.trigger, "presses": a.presses, "prank_flagged": a.prank_flagged,
                          "location": {"lat_udeg": a.lat_udeg, "lon_udeg": a.lon_udeg, "source": a.loc_source,
                                       "acc_m": a.loc_acc_m, "age_s": a.loc_age_s}}
                         for a in incident_repo.alarms_of(s, incident_id)]
        out["notes"] = [{"id": n.id, "author": n.author, "text": n.text, "created_at": n.created_at}
                        for n in incident_repo.notes_of(s, incident_id)]
        out["audit"] = [audit_row(a) for a in audit_repo.listing(s, entity="incident", entity_id=str(incident_id))]
    return out


def audit_row(a) -> dict:
    return {"id": a.id, "at": a.at, "actor": a.actor, "action": a.action, "entity": a.entity,
            "entity_id": a.entity_id, "from": a.from_value, "to": a.to_value, "detail": a.detail}


@router.get("/{incident_id}", **needs("viewer"))
def get_incident(incident_id: int, db: DbDep, request: Request, user: CurrentUser) -> dict:
    """The caller's number in full for roles that call back (audited), masked for the others."""
    detail = incident_detail(db, incident_id, request.app.state.settings.incidents.response_promise_s)
    return privacy.shown(detail, user.role, user.username, db)


@router.post("/{incident_id}/transition", responses=responses(409), **needs("operator"))
def transition(incident_id: int, body: TransitionIn, service: ServiceDep, user: CurrentUser) -> dict:
    if body.to_state in DISPATCHER_STATES and not role_at_least(user.role, "dispatcher"):
        raise HttpRefused(status.HTTP_403_FORBIDDEN, "insufficient_role",
                          f"moving to {body.to_state} needs role dispatcher or above")
    r = service.transition(incident_id, body.to_state, user.username, body.reason)
    return {"incident_id": r.incident_id, "from": r.from_state, "to": r.to_state, "feedback": r.feedback,
            "devices": r.devices}


@router.post("/{incident_id}/notes", status_code=201, responses=responses(409), **needs("operator"))
def add_note(incident_id: int, body: NoteIn, service: ServiceDep, user: CurrentUser) -> dict:
    return service.add_note(incident_id, user.username, body.text)


@router.post("/reports", status_code=201, responses=responses(409), **needs("operator"))
def create_report(body: ReportIn, service: ServiceDep, user: CurrentUser) -> dict:
    inc_id = service.report(body.category, body.summary, user.username, reporter=body.reporter,
                            lat_udeg=body.lat_udeg, lon_udeg=body.lon_udeg, device_id=body.device_id,
                            caller_number=body.caller_number)
    return {"id": inc_id, "type": "report"}


@router.get("/{incident_id}/cap", response_class=Response, **needs("viewer"))
def cap(incident_id: int, db: DbDep, request: Request) -> Response:
    """CAP 1.2 XML of the incident (fleet_server.domain.cap.incident_to_cap)."""
    detail = incident_detail(db, incident_id, request.app.state.settings.incidents.response_promise_s)
    try:
        xml = incident_to_cap(cap_input(detail))
    except CapError as e:
        raise HttpRefused(status.HTTP_422_UNPROCESSABLE_CONTENT, "not_expressible_as_cap",
                          f"incident cannot be expressed as CAP: {e}") from None
    return Response(xml, media_type="application/cap+xml")


# Our state names -> the CAP module's (it spells the two travel states with underscores).
_CAP_STATE = {"enroute": "en_route", "onscene": "on_scene"}


def cap_input(detail: dict) -> dict:
    """The CAP module's incident dict from our incident detail (see fleet_server/domain/cap.py)."""
    clocks = detail["clocks"]
    changed = [t for t in (clocks["acknowledged_at"], clocks["dispatched_at"], clocks["enroute_at"],
                           clocks["onscene_at"], clocks["closed_at"]) if t is not None]
    loc = detail["location"]
    return {
        "id": detail["id"], "category": detail["category"],
        "agency": None,  # the CAP module derives it from the category (its names differ from ours)
        "priority": detail["priority"], "state": _CAP_STATE.get(detail["state"], detail["state"]),
        "received": int(clocks["received_at"]),
        "pressed": int(clocks["pressed_at"]) if clocks["pressed_at"] else None,
        "updated": int(max(changed)) if changed else None,
        "lat": loc["lat_udeg"], "lon": loc["lon_udeg"], "accuracy_m": loc["acc_m"], "site": detail["site"],
        "station": detail["station"]["name"], "press_count": detail["press_count"] or None,
        "description": detail["summary"],
    }
