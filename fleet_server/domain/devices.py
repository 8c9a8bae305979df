"""The device registry's rules over a device record (fleet_server.domain.repositories.DeviceRecord):
what a new device starts as, which fields a technician may edit, what a health report sets, and
how a status change is recorded. Plain attribute work: whichever repository loaded the record
persists it."""
from __future__ import annotations

EDITABLE = ("site", "lat_udeg", "lon_udeg", "category", "agency", "board", "active", "broker_password_hash",
            "sms_key")
HEALTH = ("battery_mv", "battery_pct", "rssi_dbm", "temp_dc", "tamper", "stuck", "firmware", "uptime_s", "outbox",
          "link_security")
_GIVEN = ("active", "site", "category", "agency")


def initial_fields(fields: dict) -> dict:
    """The columns of a newly registered device besides id, kind and created_at: the registry's
    defaults, then the editable fields given (anything else given is ignored)."""
    out = {"status": "unknown", "prank_count": 0, "prank_flagged": False, "tamper": False, "stuck": False,
           "active": fields.get("active", True), "site": fields.get("site", "") or "",
           "category": fields.get("category", "unknown"), "agency": fields.get("agency", "triage")}
    out.update({k: v for k, v in fields.items() if k in EDITABLE and k not in _GIVEN})
    return out


def set_status(d, status: str, at: float) -> str | None:
    """Record a status report on the device; returns the previous status when it changed, else None.
    Only "online" moves last_seen (never backwards)."""
    before = d.status
    d.last_seen = max(d.last_seen or 0.0, at) if status == "online" else d.last_seen
    if before != status:
        d.status = status
        d.status_changed_at = at
        return before
    return None


def record_health(d, values: dict, at: float) -> None:
    """A health report's values (keys of HEALTH; others ignored) and the time it was heard."""
    for k, v in values.items():
        if k in HEALTH:
            setattr(d, k, v)
    d.last_seen = max(d.last_seen or 0.0, at)
