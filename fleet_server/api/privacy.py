"""Callers' phone numbers. Stored in full (an operator must be able to call back, and a prank
number must be traceable); shown masked (fleet_server.logs.mask_phone) to every role except those
that call back, and in lists and on the live feed to everyone. The first time someone is shown an
incident's full number, the audit trail says who and when."""
from __future__ import annotations

import time

from fleet_server.logs import mask_phone
from fleet_server.storage import audit as audit_repo

# Who calls back: the operator taking the call, the dispatcher coordinating it, the admin. A
# viewer (a wall screen, a guest) and a technician (devices) do not.
CALLBACK_ROLES = frozenset({"operator", "dispatcher", "admin"})
REVEALED = "caller_revealed"


NUMBER_FIELDS = ("reporter", "caller")   # who reported (as given) and the caller's number (normalized)


def masked(view: dict) -> dict:
    """The incident view with its numbers masked (lists, the feed)."""
    for f in NUMBER_FIELDS:
        if view.get(f):
            view[f] = mask_phone(view[f])
    return view


def masked_event(ev: dict) -> dict:
    """A feed event as it may travel to any console: incident views masked, the rest unchanged."""
    inc = ev.get("incident")
    if isinstance(inc, dict) and any(inc.get(f) for f in NUMBER_FIELDS):
        ev = {**ev, "incident": masked(dict(inc))}
    return ev


def shown(view: dict, role: str, username: str, db) -> dict:
    """An incident's detail for this user: the full number for roles that call back (and the
    reveal audited), masked for the others."""
    numbers = [view[f] for f in NUMBER_FIELDS if view.get(f)]
    if all(mask_phone(n) == n for n in numbers):
        return view             # no number, or nothing a mask would hide
    if role not in CALLBACK_ROLES:
        return masked(view)
    with db.session() as s:
        # Who has seen this number: one row per user and incident (the console fetches an incident
        # again on every dispatch event; a row for each fetch would bury the trail).
        seen = audit_repo.listing(s, entity="incident", entity_id=str(view["id"]), actor=username, limit=10_000)
        if not any(a.action == REVEALED for a in seen):
            audit_repo.append(s, time.time(), username, REVEALED, "incident", view["id"],
                              detail="caller number shown in full")
    return view
