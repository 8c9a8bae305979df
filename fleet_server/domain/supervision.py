"""Device supervision: a device is online after its birth (or any message), offline after its will
or after missing N heartbeats, and "unknown" to everyone while the server's own broker link is
down (we cannot tell then)."""
from __future__ import annotations

STATUSES = ("online", "offline", "unknown")


def heartbeat_s(kind: str, button_s: float, tracker_s: float) -> float:
    return tracker_s if kind == "tracker" else button_s


def silent_too_long(last_seen: float | None, now: float, heartbeat: float, misses: int) -> bool:
    return last_seen is not None and now - last_seen > heartbeat * misses


def effective_status(stored: str, last_seen: float | None, now: float, heartbeat: float, misses: int,
                     link_up: bool) -> str:
    if not link_up:
        return "unknown"
    if stored == "online" and silent_too_long(last_seen, now, heartbeat, misses):
        return "offline"
    return stored
