"""Nearest-available-unit dispatch: recommendations ranked by ETA (recommend.py, over a grid
index, index.py, behind an EtaModel, eta.py) and the assignment state machine that sends the order
to the unit's tracker and follows it to the scene (assignments.py)."""
from fleet_server.dispatch.eta import EtaModel, GreatCircleEta
from fleet_server.dispatch.recommend import IncidentSite, Recommender, RecommenderConfig
from fleet_server.dispatch.assignments import Assignment, AssignmentConfig, Dispatch

__all__ = ["EtaModel", "GreatCircleEta", "IncidentSite", "Recommender", "RecommenderConfig",
           "Assignment", "AssignmentConfig", "Dispatch"]
