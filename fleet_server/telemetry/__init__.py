"""Telemetry to InfluxDB (or anything speaking its v2 write API): unit positions as points,
written from a background thread so the ingest never waits for the database."""
from fleet_server.telemetry.influx import TelemetryConfig, TelemetryWriter

__all__ = ["TelemetryConfig", "TelemetryWriter"]
