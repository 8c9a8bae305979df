"""Run cards (SOPs): the cards loaded at start, and an incident's card as a checklist whose every
tick is timed and audited (docs/center.md)."""
from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from fleet_server.api.deps import CurrentUser, ServiceDep, needs
from fleet_server.api.refusals import responses

router = APIRouter(tags=["center"])


class TickIn(BaseModel):
    step: str = Field(min_length=1, max_length=32, description="the step id on the incident's run card")


@router.get("/center/run-cards", **needs("viewer"))
def run_cards(service: ServiceDep) -> list[dict]:
    """Every run card: agency, category, steps, who to notify, the unit types proposed."""
    return [c.public() for c in service.run_cards.cards.values()]


@router.get("/incidents/{incident_id}/sop", **needs("viewer"))
def checklist(incident_id: int, service: ServiceDep) -> dict:
    """The incident's run card as a checklist (`card` null when no card covers it)."""
    return service.sop_checklist(incident_id)


@router.post("/incidents/{incident_id}/sop/ticks", responses=responses(409), **needs("operator"))
def tick(incident_id: int, body: TickIn, service: ServiceDep, user: CurrentUser) -> dict:
    """One step done: who and when are audited; returns the checklist."""
    return service.tick_sop_step(incident_id, body.step, user.username)
