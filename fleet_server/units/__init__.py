"""Units (ambulances, fire trucks, police cars, SAR boats) bound to trackers: who they are, where
they are, what they are doing. `Tracking` is the one object the ingest and the API call."""
from fleet_server.units.model import AGENCIES, UNIT_TYPES, CREW_STATUSES, Unit, Position
from fleet_server.units.position_filter import PositionFilter, FilterConfig
from fleet_server.units.tracking import Tracking, TrackingConfig

__all__ = ["AGENCIES", "UNIT_TYPES", "CREW_STATUSES", "Unit", "Position", "PositionFilter",
           "FilterConfig", "Tracking", "TrackingConfig"]
