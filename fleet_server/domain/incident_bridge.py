"""The seam between the core's incidents (fleet_server.domain.service.IncidentService) and unit
dispatch, both ways, through events only:

- service -> dispatch: an emergency incident with a location is created or folded: dispatch opens
  it (recommendation; an auto-dispatch policy orders at once); a closed incident cancels its
  open orders.
- dispatch -> service: "incident.progress" events (order sent, accepted, arrival) walk the
  incident's lifecycle forward to dispatched, enroute, onscene, audited with actor "dispatch".

Wiring (app lifespan): bridge = IncidentBridge(fleet, service);
service.listeners.append(bridge.on_service_event); Fleet(..., on_event=bridge.on_dispatch_event)."""
from __future__ import annotations

import logging
from typing import Callable

from fleet_server.domain.recommend import IncidentSite
from fleet_server.domain.service import Refused
from fleet_server.logs import event

log = logging.getLogger("siaga.dispatch.bridge")

# The forward steps to reach each state (the lifecycle refuses those already passed, which is
# what makes this idempotent). A unit may arrive without "en route": dispatched -> onscene.
_PATH = {"dispatched": ("acknowledged", "dispatched"),
         "enroute": ("acknowledged", "dispatched", "enroute"),
         "onscene": ("acknowledged", "dispatched", "onscene")}
_OPENABLE = ("new", "acknowledged")
_CLOSED = ("resolved", "false_alarm", "prank", "duplicate", "cancelled")


class IncidentBridge:
    def __init__(self, fleet, service, actor: str = "dispatch", forward: Callable[[dict], None] | None = None):
        """forward: where dispatch events go besides the service (e.g. the live feed's publish)."""
        self.fleet = fleet
        self.service = service
        self.actor = actor
        self.forward = forward

    def on_service_event(self, ev: dict) -> None:
        if ev.get("type") != "incident" or "incident" not in ev:
            return
        inc = ev["incident"]
        try:
            if ev.get("event") in ("created", "folded") and inc.get("type") == "emergency" and inc.get("state") in _OPENABLE:
                loc = inc.get("location") or {}
                if loc.get("lat_udeg") is None:
                    return  # no location yet: the operator locates it, then a later event opens it
                buttons = (inc["origin_device_id"],) if inc.get("origin_device_id") else ()
                self.fleet.dispatch.open_incident(IncidentSite(inc["id"], loc["lat_udeg"], loc["lon_udeg"], inc["category"],
                                                               self._prefer(inc)), buttons)
            elif ev.get("event") == "reclassified" and inc.get("state") in _OPENABLE:
                # Triage named the agency: dispatch recommends that agency's units from now on.
                loc = inc.get("location") or {}
                if loc.get("lat_udeg") is not None:
                    self.fleet.dispatch.open_incident(IncidentSite(inc["id"], loc["lat_udeg"], loc["lon_udeg"],
                                                                   inc["agency"], self._prefer(inc)))
            elif ev.get("event") == "transition" and inc.get("state") in _CLOSED:
                self.fleet.dispatch.close_incident(inc["id"], by=self.actor)
        except Exception:  # the incident is committed already; dispatch trouble must not undo it
            log.exception("dispatch could not take incident %s", inc.get("id"))

    def _prefer(self, inc: dict) -> tuple[str, ...]:
        """The unit types the incident's run card proposes (none without a card)."""
        cards = getattr(self.service, "run_cards", None)
        card = cards.card_for(inc.get("agency"), inc.get("category")) if cards is not None else None
        return tuple(card.unit_types) if card else ()

    def on_dispatch_event(self, ev: dict) -> None:
        if self.forward is not None:
            self.forward(ev)
        if ev.get("type") != "incident.progress":
            return
        for step in _PATH.get(ev["state"], ()):
            try:
                self.service.transition(ev["incident"], step, actor=f"{self.actor}:{ev.get('unit', '')}",
                                        at=ev.get("at"))
            except Refused as e:
                # Already past this step (or closed meanwhile): fine, the lifecycle is forward-only.
                event(log, logging.DEBUG, "incident step skipped", incident=ev["incident"], step=step, reason=str(e))
