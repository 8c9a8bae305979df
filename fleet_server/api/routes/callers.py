"""Call-taking (docs/console.md, "Taking a call"): a call recorded while on the phone (an
emergency into the queue, a non-emergency to the desk), the caller's history by number, and the
city's known sites the call-taker places an incident at.

A caller's number travels in request bodies, never in a URL: URLs end up in access logs (the
server's, nginx's) where numbers must not be in full."""
from __future__ import annotations

import json
import logging
import time
from functools import lru_cache
from pathlib import Path
from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from fleet_server.api import privacy
from fleet_server.api.deps import CurrentUser, DbDep, ServiceDep, needs
from fleet_server.api.refusals import HttpRefused, responses
from fleet_server.domain import calltaking, center
from fleet_server.domain.classification import AGENCIES
from fleet_server.domain.service import Refused, incident_view
from fleet_server.logs import event, mask_phone
from fleet_server.storage import audit as audit_repo
from fleet_server.storage import devices as device_repo
from fleet_server.storage import incidents as incident_repo

log = logging.getLogger("siaga.calls")
router = APIRouter(tags=["calls"])

# The domain's categories, traffic included (the wire's list, protocols.messages, has no traffic).
CallCategory = Literal[tuple(AGENCIES)]  # type: ignore[valid-type]
SITES_FILE = "sites.json"   # beside the station areas: the city's known places (docs/city.md)


class CallIn(BaseModel):
    kind: Literal[calltaking.KINDS] = "emergency"  # type: ignore[valid-type]
    category: CallCategory
    text: str = Field(min_length=1, max_length=2000, description="what the caller said")
    caller_number: str | None = Field(None, max_length=24, description="in full; shown masked")
    caller_name: str | None = Field(None, max_length=120)
    located_by: Literal[calltaking.LOCATED_BY] = "none"  # type: ignore[valid-type]
    lat_udeg: int | None = Field(None, ge=-90_000_000, le=90_000_000)
    lon_udeg: int | None = Field(None, ge=-180_000_000, le=180_000_000)
    site: str | None = Field(None, max_length=120, description="the known site's name (located_by site)")


class CallerIn(BaseModel):
    number: str = Field(min_length=1, max_length=24, description="any form: +62..., 62..., 0...")


@router.post("/calls", status_code=201, responses=responses(409), **needs("operator"))
def take_call(body: CallIn, service: ServiceDep, db: DbDep, user: CurrentUser) -> dict:
    """A call taken by the user: an emergency becomes an incident in the emergency queue, routed
    by its location to agency and station; a non-emergency goes to the desk as a report."""
    if body.kind == "emergency":
        inc_id = service.phone_report(body.category, body.text, user.username, caller_number=body.caller_number,
                                      caller_name=body.caller_name, located_by=body.located_by,
                                      lat_udeg=body.lat_udeg, lon_udeg=body.lon_udeg, site=body.site)
    else:
        try:
            text = calltaking.check_call(body.kind, body.category, body.text, body.located_by, body.lat_udeg,
                                         body.lon_udeg, body.site)
        except center.RuleError as e:
            raise Refused(e.code, e.reason) from None
        if body.site and body.located_by in ("site", "none"):
            text = f"{text} ({body.site.strip()})"   # the desk's report has no site of its own
        lat, lon = body.lat_udeg, body.lon_udeg
        if body.located_by == "aml":
            fix = service.caller_history(body.caller_number)["last_fix"]
            if fix is None:
                raise HttpRefused(409, "no_aml_fix", "no AML location has come from this number")
            lat, lon = fix["lat_udeg"], fix["lon_udeg"]
        elif body.located_by == "none":
            lat = lon = None
        inc_id = service.report(body.category, text, user.username, reporter=body.caller_name,
                                lat_udeg=lat, lon_udeg=lon, caller_number=body.caller_number, channel="phone")
    with db.read() as s:
        view = incident_view(incident_repo.get(s, inc_id))
    event(log, logging.INFO, "call taken", incident=inc_id, kind=body.kind, by=user.username,
          station=view["station"]["id"])
    return {"id": inc_id, "type": view["type"], "category": view["category"], "agency": view["agency"],
            "priority": view["priority"], "station": view["station"], "prank_suspect": view["prank_suspect"]}


@router.post("/callers/history", responses=responses(409), **needs("operator"))
def caller_history(body: CallerIn, service: ServiceDep, db: DbDep, user: CurrentUser) -> dict:
    """The caller's earlier reports (phone, SMS and AML from one number) with their outcomes, why
    the number is flagged, and the last AML fix. Numbers in full for the roles that call back
    (each incident's reveal audited once per user, as on the incident view), masked otherwise."""
    h = service.caller_history(body.number)
    if user.role not in privacy.CALLBACK_ROLES:
        h["number"] = mask_phone(h["number"]) if h["number"] else None
        for r in h["reports"]:
            for f in privacy.NUMBER_FIELDS:
                if r.get(f):
                    r[f] = mask_phone(r[f])
        return h
    shown = [r["id"] for r in h["reports"] if any(r.get(f) and mask_phone(r[f]) != r[f] for f in privacy.NUMBER_FIELDS)]
    if shown:
        audit_reveals(db, shown, user.username)
    return h


def audit_reveals(db, incident_ids: list[int], username: str) -> None:
    """One caller_revealed row per user and incident (privacy.shown's rule), for many incidents."""
    with db.session() as s:
        now = time.time()
        for inc_id in incident_ids:
            if not any(a["actor"] == username for a in audit_repo.actions(s, "incident", inc_id, privacy.REVEALED)):
                audit_repo.append(s, now, username, privacy.REVEALED, "incident", inc_id,
                                  detail="caller number shown in full (caller history)")


@router.get("/sites", **needs("viewer"))
def sites(request: Request, service: ServiceDep, db: DbDep) -> list[dict]:
    """The city's known sites for placing a call: every station (the areas' station points), the
    city's landmarks (sites.json beside the station areas) and every registered device's site.
    Each: name, kind, lat_udeg, lon_udeg, source."""
    out: list[dict] = []
    j = service.jurisdiction
    if j is not None:
        for f in j.areas():
            p = f["properties"]
            out.append({"name": p["name"], "kind": "station", "agency": p["agency"],
                        "lat_udeg": p["station"]["lat"], "lon_udeg": p["station"]["lon"], "source": "station areas"})
    path = request.app.state.settings.incidents.jurisdiction_file
    for s in landmarks(str(path) if path else ""):
        out.append(s)
    with db.read() as s:
        for d in device_repo.listing(s, kind="button", limit=10_000):
            if d.site and d.lat_udeg is not None and d.lon_udeg is not None:
                out.append({"name": d.site, "kind": "device", "agency": None, "lat_udeg": d.lat_udeg,
                            "lon_udeg": d.lon_udeg, "source": "device registry"})
    seen, unique = set(), []
    for s in out:
        key = s["name"].casefold()
        if key not in seen:
            seen.add(key)
            unique.append(s)
    return sorted(unique, key=lambda s: s["name"].casefold())


@lru_cache(maxsize=4)
def _read_landmarks(path: str) -> tuple:
    p = Path(path)
    f = (p if p.is_dir() else p.parent) / SITES_FILE
    if not path or not f.is_file():
        return ()
    try:
        doc = json.loads(f.read_text(encoding="utf-8"))
        return tuple({"name": str(x["name"]), "kind": str(x.get("kind", "landmark")), "agency": None,
                      "lat_udeg": int(round(float(x["lat"]) * 1_000_000)),
                      "lon_udeg": int(round(float(x["lon"]) * 1_000_000)), "source": SITES_FILE}
                     for x in doc["sites"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        # A broken sites file costs the landmarks, never the call-taking form.
        event(log, logging.ERROR, "known sites not loaded", file=str(f), error=repr(e))
        return ()


def landmarks(path: str) -> list[dict]:
    return [dict(s) for s in _read_landmarks(path)]
