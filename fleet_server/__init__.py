"""Siaga 112 fleet server: alarms become incidents, units are tracked and dispatched."""
