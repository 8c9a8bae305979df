"""Audit trail and statistics."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from fleet_server.api.deps import DbDep, needs
from fleet_server.api.routes.incidents import audit_row
from fleet_server.domain.stats import per_agency_day
from fleet_server.storage import audit as audit_repo
from fleet_server.storage import incidents as incident_repo

router = APIRouter(tags=["records"])


@router.get("/audit", **needs("dispatcher"))
def audit(db: DbDep, entity: str | None = None, entity_id: str | None = None, actor: str | None = None,
          since: float | None = None, limit: Annotated[int, Query(ge=1, le=5000)] = 200,
          offset: Annotated[int, Query(ge=0)] = 0) -> list[dict]:
    with db.read() as s:
        return [audit_row(a) for a in audit_repo.listing(s, entity=entity, entity_id=entity_id, actor=actor,
                                                        since=since, limit=limit, offset=offset)]


@router.get("/stats", **needs("viewer"))
def stats(request: Request, db: DbDep, since: float | None = None, until: float | None = None) -> list[dict]:
    st = request.app.state
    with db.read() as s:
        rows = incident_repo.stats_rows(s, since, until)
    return per_agency_day(rows, st.settings.incidents.stats_utc_offset_h, st.settings.incidents.response_promise_s)
