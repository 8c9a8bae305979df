"""The 112 center's own work on incidents: triage reclassification, hand-off of non-emergency
reports to another channel, why a caller's number is flagged, and the monthly report for the
national 112 program (docs/center.md)."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from fleet_server.api.deps import CurrentUser, DbDep, ServiceDep, needs
from fleet_server.api.refusals import responses
from fleet_server.domain import center
from fleet_server.domain.classification import AGENCIES, AGENCY_CODES
from fleet_server.domain.monthly import Row, month_bounds, monthly_report, to_csv
from fleet_server.storage import incidents as incident_repo

router = APIRouter(tags=["center"])


class ReclassifyIn(BaseModel):
    category: str = Field(description=f"one of {', '.join(AGENCIES)}", max_length=16)
    agency: str | None = Field(None, description=f"one of {', '.join(AGENCY_CODES)}; default: the category's",
                               max_length=16)
    priority: int = Field(ge=center.MIN_PRIORITY, le=center.MAX_PRIORITY)
    reason: str = Field(min_length=1, max_length=500)


class HandOffIn(BaseModel):
    channel: str = Field(max_length=24)
    reference: str | None = Field(None, max_length=40, description="the receiving channel's number; default: ours")


@router.post("/incidents/{incident_id}/reclassify", responses=responses(409), **needs("operator"))
def reclassify(incident_id: int, body: ReclassifyIn, service: ServiceDep, user: CurrentUser) -> dict:
    return service.reclassify(incident_id, body.category, body.priority, body.reason, user.username,
                              agency=body.agency)


@router.post("/incidents/{incident_id}/hand-off", responses=responses(409), **needs("operator"))
def hand_off(incident_id: int, body: HandOffIn, service: ServiceDep, user: CurrentUser) -> dict:
    return service.hand_off(incident_id, body.channel, user.username, reference=body.reference)


@router.get("/center/handoff-channels", **needs("viewer"))
def handoff_channels(service: ServiceDep) -> list[dict]:
    return [{"code": c, "name": n} for c, n in service.handoff_channels().items()]


@router.get("/incidents/{incident_id}/caller", **needs("operator"))
def caller(incident_id: int, service: ServiceDep) -> dict:
    """The caller's number (masked) and why it is flagged: pranks counted, the last one."""
    return service.caller_flag(incident_id)


@router.get("/reports/monthly", responses=responses(422), **needs("viewer"))
def monthly(request: Request, db: DbDep, service: ServiceDep,
            month: Annotated[str, Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="local month, YYYY-MM")],
            format: Annotated[str, Query(pattern="^(json|csv)$")] = "json"):
    """The monthly report for the national 112 program, as JSON or CSV."""
    settings = request.app.state.settings.incidents
    since, until = month_bounds(month, settings.stats_utc_offset_h)
    with db.read() as s:
        rows = [Row(*r) for r in incident_repo.monthly_rows(s, since, until)]
    j = service.jurisdiction
    report = monthly_report(rows, month, j.regency if j is not None else None, settings.response_promise_s,
                            settings.stats_utc_offset_h)
    if format == "csv":
        return Response(to_csv(report), media_type="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="siaga112-{month}.csv"'})
    return report
