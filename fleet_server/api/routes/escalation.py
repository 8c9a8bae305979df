"""The escalation ladder and the response promise: how they are set, and which open emergencies
have no unit on scene past the promise right now (docs/center.md)."""
from __future__ import annotations

from fastapi import APIRouter

from fleet_server.api.deps import ServiceDep, needs

router = APIRouter(tags=["center"])


@router.get("/center/promise", **needs("viewer"))
def promise(service: ServiceDep) -> dict:
    """The ladder's rungs (to whom, after how long), the promise, and the emergencies breaching it."""
    return service.promise_board()
